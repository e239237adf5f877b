import { ErrorCode, QingtianError } from '../../common/errors.js';
import { featureWord } from '../../common/virtio/features.js';
import { splitAvailBytes, splitUsedBytes } from '../../common/virtio/ring-layout.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { NET_F_MAC } from '../../dpu/net/net-layout.js';
import * as G from '../../generated/guest.js';
import { DESC_BYTES } from '../../generated/virtio.js';
import type { VmBlkHandle, VmNetHandle } from './vm-device.js';
import type { VmMemoryMap } from './vm-memory-map.js';

/** Ring size of the NIC's two queues, and bytes of each of their buffers (header included). */
const NET_QUEUE = 128;
const NET_BUF = 2048;
/** Ring size of the disk's queue (the block job's deepest queue). */
const BLK_QUEUE = 64;
/** 4 KiB blocks the block job's version table covers: the most one check may write. */
export const GUEST_BLK_BLOCKS = 4096;
/** Bytes of guest RAM the program area takes, at most. */
const AREA_BYTES = 1 << 20;
const SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };

/** Where the program area lies in guest RAM. */
export interface GuestProgramLayout {
  /** GPA of the program block ('GPRG'). */
  gpa: number;
  /** First GPA after the area (left to the guest). */
  endGpa: number;
}

/** The program area right after the firmware's vsock layout, on a 64 KiB boundary. */
export function guestProgramLayout(afterGpa: number): GuestProgramLayout {
  const gpa = Math.ceil(afterGpa / 65536) * 65536;
  return { gpa, endGpa: gpa + AREA_BYTES };
}

function ipWord(ip: string): number {
  const p = ip.split('.').map(Number);
  return (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
}

/**
 * The firmware part of a VM whose guest drives its own devices (spec `guest.program:
 * 'drivers'`): at each boot it lays the guest's drivers out in the program area of its RAM, as
 * a guest kernel does at probe — the NIC's rings, buffers, drivers and stack (the port's MAC and
 * address; ARP, ping and UDP echo), the disk's ring, request slots and checked job — and routes
 * every queue's interrupt (and the vsock device's) to one word, vCPU 0's interrupt word, on
 * which that vCPU sleeps (assembly/guest/guest-program.ts). The program block's magic is
 * written last: vCPU 0 takes the drivers up from then on.
 */
export class VmGuestProgram {
  constructor(
    private readonly rt: KernelRuntime,
    private readonly map: VmMemoryMap,
    readonly layout: GuestProgramLayout,
    /** Host address of vCPU 0's interrupt word (the host agent's, named in the VM's info). */
    readonly irq: number,
    /** UDP port the guest's stack echoes on (0: none). */
    private readonly echoPort: number,
  ) {}

  /**
   * Lays the drivers out for the devices the guest drives this boot (the first NIC and the
   * first disk, each or none) and starts the disk. Resolves once the program block is live.
   */
  async lay(net: { handle: VmNetHandle; ip: string } | null, blk: VmBlkHandle | null): Promise<void> {
    const k = this.rt.kernel('guest');
    const call = (name: string, ...args: (number | bigint)[]): number =>
      Number(k.fn<(...a: (number | bigint)[]) => number | bigint>(name)(...args));
    const m = this.map;
    const u8 = this.rt.memory.u8;
    const view = this.rt.memory.view;
    const host = (gpa: number): number => m.ramBase + gpa;
    const { gpa, endGpa } = this.layout;
    u8.fill(0, host(gpa), host(endGpa));
    let next = gpa + G.GP_BYTES;
    const alloc = (bytes: number, align = 64): number => {
      const at = Math.ceil(next / align) * align;
      if (at + bytes > endGpa)
        throw new QingtianError(ErrorCode.CapacityExceeded, `vm ${m.name}: the guest's drivers do not fit their area`);
      next = at + bytes;
      return at;
    };
    const ring = (n: number): { desc: number; avail: number; used: number; drv: number } => ({
      desc: alloc(DESC_BYTES * n, 16),
      avail: alloc(splitAvailBytes(n, true), 4),
      used: alloc(splitUsedBytes(n, true), 4),
      drv: alloc(call('gdrv_bytes', n)),
    });
    const driver = (r: ReturnType<typeof ring>, n: number, notify: { doorbell: number; sleeping: number }): void => {
      const rc = call(
        'gdrv_init',
        host(r.drv),
        0,
        n,
        m.ramBase,
        m.ramBytes,
        BigInt(r.desc),
        BigInt(r.avail),
        BigInt(r.used),
        notify.doorbell,
        notify.sleeping,
        this.irq,
        0n,
      );
      if (rc !== 0) throw new QingtianError(ErrorCode.DeviceState, `vm ${m.name}: guest driver init refused (${rc})`);
    };
    let stack = 0;
    if (net) {
      const dev = net.handle.device;
      dev.negotiate((featureWord(SPLIT) | (1n << BigInt(NET_F_MAC))) & dev.features());
      const st = alloc(call('gnet_state_bytes'));
      const rings = [ring(NET_QUEUE), ring(NET_QUEUE)];
      [dev.rx[0]!, dev.tx[0]!].forEach((q, i) => {
        q.route(this.irq);
        const r = rings[i]!;
        dev.setQueue(i, {
          size: NET_QUEUE,
          descGpa: BigInt(r.desc),
          driverGpa: BigInt(r.avail),
          deviceGpa: BigInt(r.used),
        });
        driver(r, NET_QUEUE, net.handle.notify);
      });
      const rxBuf = alloc(NET_QUEUE * NET_BUF);
      const txBuf = alloc(NET_QUEUE * NET_BUF);
      const mac = dev.mac.split(':').map((h) => parseInt(h, 16));
      const rc = call(
        'gnet_init',
        host(st),
        host(rings[0]!.drv),
        host(rings[1]!.drv),
        m.ramBase,
        BigInt(rxBuf),
        BigInt(txBuf),
        NET_BUF,
        NET_QUEUE,
        (mac[0]! | (mac[1]! << 8) | (mac[2]! << 16) | (mac[3]! << 24)) >>> 0,
        mac[4]! | (mac[5]! << 8),
        ipWord(net.ip),
        0,
      );
      if (rc !== 0)
        throw new QingtianError(ErrorCode.DeviceState, `vm ${m.name}: guest net stack init refused (${rc})`);
      k.fn<(st: number, echo: number, sink: number) => void>('gnet_set_ports')(host(st), this.echoPort, 0);
      stack = host(st);
    }
    let job = 0;
    if (blk) {
      const dev = blk.device;
      dev.negotiate(featureWord(SPLIT) & dev.features());
      const r = ring(BLK_QUEUE);
      dev.queues[0]!.route(this.irq);
      dev.setQueue(0, {
        size: BLK_QUEUE,
        descGpa: BigInt(r.desc),
        driverGpa: BigInt(r.avail),
        deviceGpa: BigInt(r.used),
      });
      await blk.driverOk();
      driver(r, BLK_QUEUE, dev.notifyWords(0));
      const slots = alloc(G.BLKW_SLOT_BYTES * BLK_QUEUE);
      const vers = alloc(4 * GUEST_BLK_BLOCKS);
      const scratch = alloc(8 * BLK_QUEUE);
      const at = alloc(G.BJ_BYTES);
      const j = host(at);
      view.setUint32(j + G.BJ_DRV, host(r.drv), true);
      view.setBigUint64(j + G.BJ_SLOTS, BigInt(slots), true);
      view.setBigUint64(j + G.BJ_VERS, BigInt(vers), true);
      view.setUint32(j + G.BJ_SCRATCH, host(scratch), true);
      view.setUint32(j + G.BJ_CAPACITY, GUEST_BLK_BLOCKS, true);
      view.setUint32(j, G.BJ_MAGIC, true);
      job = j;
    }
    const p = host(gpa);
    view.setUint32(p + G.GP_NET, stack, true);
    view.setUint32(p + G.GP_BLK, job, true);
    view.setUint32(p + G.GP_IRQ, this.irq, true);
    Atomics.store(this.rt.memory.i32, p >> 2, G.GP_MAGIC | 0);
  }
}
