import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { NetDevice } from '../../dpu/net/net-device.js';
import { NET_F_CTRL_RX, NET_F_CTRL_VQ, NET_F_MAC } from '../../dpu/net/net-layout.js';
import * as G from '../../generated/guest.js';
import { DESC_BYTES, FEAT_VERSION_1 } from '../../generated/virtio.js';
import { splitAvailBytes, splitUsedBytes } from '../../common/virtio/ring-layout.js';
import type { GuestRam } from '../../hypervisor/guest/virtio/driver-api.js';
import { createDriver } from '../../hypervisor/guest/virtio/index.js';
import type { VmRam } from '../vms/vm-ram.js';
import { TrunkMailbox } from './trunk-mailbox.js';

/** Bytes of a container host's RAM kept for its network (rings, buffers, the containers' stacks). */
export const CONTAINER_NET_BYTES = 2 << 20;
/** UDP port on which every container's stack echoes datagrams back (RFC 862). */
export const CONTAINER_ECHO_PORT = 7;

const QUEUE = 64;
/** The ICMP identifier of the containers' pings. */
const PING_IDENT = 0x5143;
const BUF_BYTES = 2048;
const SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const bit = (n: number): bigint => 1n << BigInt(n);

/** A container's network counters, as its stack in the container host keeps them. */
export interface ContainerNetCounters {
  /** Frames the split handed to the container's stack. */
  rxFrames: number;
  /** Frames its stack sent (tagged with its VLAN). */
  txFrames: number;
  /** ARP requests for its address it answered. */
  arpRequests: number;
  /** ICMP echo requests it answered. */
  echoRequests: number;
  /** UDP datagrams it echoed back. */
  udpEchoed: number;
  /** Frames not for it or not understood. */
  rxIgnored: number;
}

/** A container's sub-port as its stack sees it: its MAC, address, and route out of its subnet. */
export interface ContainerNetSpec {
  mac: string;
  ip: string;
  /** Its subnet's prefix length and gateway (the VPC router's address in it). */
  prefixLength: number;
  gateway: string;
}

function ipWord(ip: string): number {
  const p = ip.split('.').map(Number);
  return (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
}

/** The netmask of a prefix of `length` bits, as ipWord gives an address (network order in memory). */
function maskWord(length: number): number {
  const m = length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
  return ((m >>> 24) | (((m >>> 16) & 255) << 8) | (((m >>> 8) & 255) << 16) | ((m & 255) << 24)) >>> 0;
}

function macWords(mac: string): [number, number] {
  const m = mac.split(':').map((h) => parseInt(h, 16));
  return [(m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0, m[4]! | (m[5]! << 8)];
}

/**
 * The network of a container host, laid out in the area of its RAM the host agent keeps for it
 * (`containers.netBytes`) when the host boots with a NIC on its trunk port: the NIC's driver and
 * stack (the host's own address, untagged frames), the VLAN split's table, and one stack per
 * container with a sub-port (its MAC, address and VLAN; it answers ARP and ping and echoes UDP
 * on port 7). The layout is what the container host's kernel does at probe, done here as the
 * firmware does for a VM's vsock driver; from the moment the NIC's stack is complete, the
 * container host's vCPU 0 runs the split each step (assembly/guest/container-runtime.ts): the
 * containers' traffic costs the container host's own vCPU time.
 */
export class ContainerTrunk {
  private readonly free: number[] = [];
  private readonly byVlan = new Map<number, number>();
  private readonly mailbox: TrunkMailbox;
  private pingSeq = 0;

  private constructor(
    private readonly rt: KernelRuntime,
    private readonly ram: VmRam,
    /** GPA of the NIC's stack (the area's start) and of the VLAN table. */
    private readonly stackGpa: number,
    private readonly tableGpa: number,
    slots: number[],
    private readonly stackBytes: number,
  ) {
    this.free = slots.reverse();
    this.mailbox = new TrunkMailbox(ram, tableGpa - G.TRUNK_MAILBOX_BYTES);
  }

  /**
   * Lays the network out in [netGpa, netGpa + netBytes) of the container host's RAM: probes the
   * NIC `dev` (features, queues, receive filter: promiscuous, since the switch sends this port
   * only its own and its sub-ports' frames), sets up its stack with the port's `ip`, and makes
   * the slots for containers' stacks. Resolves once the NIC's stack is live.
   */
  static async lay(
    rt: KernelRuntime,
    ram: VmRam,
    dev: NetDevice,
    notify: { doorbell: number; sleeping: number },
    area: { netGpa: number; netBytes: number; ip: string },
  ): Promise<ContainerTrunk> {
    const k = rt.kernel('guest');
    const call = (name: string, ...args: (number | bigint)[]): number =>
      Number(k.fn<(...a: (number | bigint)[]) => number | bigint>(name)(...args));
    const stackBytes = Math.ceil(call('gnet_state_bytes') / 64) * 64;
    if (stackBytes > G.CT_NET_VLANS - G.TRUNK_MAILBOX_BYTES)
      throw new QingtianError(
        ErrorCode.CapacityExceeded,
        `container network: a stack of ${stackBytes} bytes does not fit`,
      );
    let next = area.netGpa + G.CT_NET_MIN_BYTES;
    const end = area.netGpa + area.netBytes;
    const alloc = (bytes: number, align = 64): number => {
      const at = Math.ceil(next / align) * align;
      if (at + bytes > end)
        throw new QingtianError(
          ErrorCode.CapacityExceeded,
          `container network: ${bytes} bytes do not fit in its ${area.netBytes}-byte area`,
        );
      next = at + bytes;
      return at;
    };
    const space: GuestRam = {
      ram: ram.ram,
      sharedBuffer: ram.sharedBuffer,
      host: (gpa, len) => ram.host(gpa, len),
      allocGpa: (bytes, align) => BigInt(alloc(bytes, align)),
    };
    // All of it: a boot after the first finds the last boot's rings and stacks there.
    ram.bytes.fill(0, area.netGpa, end);

    const features = bit(FEAT_VERSION_1) | bit(NET_F_MAC) | bit(NET_F_CTRL_VQ) | bit(NET_F_CTRL_RX);
    dev.negotiate(features & dev.features());
    const drvBytes = call('gdrv_bytes', QUEUE);
    const drivers: number[] = [];
    for (let q = 0; q < 2; q++) {
      const desc = alloc(DESC_BYTES * QUEUE, 16);
      const avail = alloc(splitAvailBytes(QUEUE, true), 4);
      const used = alloc(splitUsedBytes(QUEUE, true), 4);
      const drv = alloc(drvBytes);
      dev.setQueue(q, { size: QUEUE, descGpa: BigInt(desc), driverGpa: BigInt(avail), deviceGpa: BigInt(used) });
      const rc = call(
        'gdrv_init',
        ram.host(BigInt(drv)),
        0,
        QUEUE,
        ram.ramBase,
        ram.ramBytes,
        BigInt(desc),
        BigInt(avail),
        BigInt(used),
        notify.doorbell,
        notify.sleeping,
        dev.queueIrq(q),
        0n,
      );
      if (rc !== 0) throw new QingtianError(ErrorCode.DeviceState, `container network: driver init refused (${rc})`);
      drivers.push(drv);
    }
    // The receive filter: every MAC (the sub-ports' too), over the control queue.
    const i32 = new Int32Array(ram.sharedBuffer);
    const kick = (): void => {
      Atomics.add(i32, notify.doorbell >> 2, 1);
      if (Atomics.load(i32, notify.sleeping >> 2) !== 0) Atomics.notify(i32, notify.doorbell >> 2);
    };
    const ctrl = createDriver(space, { size: 4, features: SPLIT, notify: kick });
    dev.setQueue(dev.ctrlIndex, {
      size: ctrl.size,
      descGpa: ctrl.descGpa,
      driverGpa: ctrl.driverGpa,
      deviceGpa: ctrl.deviceGpa,
    });
    const cmd = alloc(4);
    const ack = alloc(4);
    ram.write(BigInt(cmd), Uint8Array.of(0, 0, 1)); // VIRTIO_NET_CTRL_RX, RX_PROMISC, on
    ram.write(BigInt(ack), Uint8Array.of(0xee));
    ctrl.add([{ gpa: BigInt(cmd), len: 3 }], [{ gpa: BigInt(ack), len: 1 }]);
    ctrl.kick();
    const deadline = Date.now() + 5_000;
    while (ctrl.reap().length === 0) {
      if (Date.now() > deadline)
        throw new QingtianError(ErrorCode.Timeout, 'container network: the NIC did not answer RX_PROMISC within 5 s');
      await sleep(1);
    }
    const status = ram.read(BigInt(ack), 1)[0];
    if (status !== 0)
      throw new QingtianError(ErrorCode.DeviceState, `container network: RX_PROMISC answered ${String(status)}`);

    const rxBuf = alloc(QUEUE * BUF_BYTES);
    const txBuf = alloc(QUEUE * BUF_BYTES);
    const [macLo, macHi] = macWords(dev.mac);
    // Its magic is written last: vCPU 0 takes the stack up from then on.
    const rc = call(
      'gnet_init',
      ram.host(BigInt(area.netGpa)),
      ram.host(BigInt(drivers[0]!)),
      ram.host(BigInt(drivers[1]!)),
      ram.ramBase,
      BigInt(rxBuf),
      BigInt(txBuf),
      BUF_BYTES,
      QUEUE,
      macLo,
      macHi,
      ipWord(area.ip),
      0,
    );
    if (rc !== 0) throw new QingtianError(ErrorCode.DeviceState, `container network: stack init refused (${rc})`);
    const slots: number[] = [];
    for (;;) {
      try {
        slots.push(alloc(stackBytes));
      } catch {
        break;
      }
    }
    return new ContainerTrunk(rt, ram, area.netGpa, area.netGpa + G.CT_NET_VLANS, slots, stackBytes);
  }

  /** Containers' stacks laid in the area (up or down). */
  get stacks(): number {
    return this.byVlan.size;
  }

  /** Containers' stacks the area has room for now. */
  get room(): number {
    return this.free.length;
  }

  /**
   * Gives VLAN `vlan` a stack for a container's sub-port (its MAC, address and route), down:
   * the split hands it nothing until `up(vlan)`. QT_CAPACITY_EXCEEDED when the area has no room left.
   */
  attach(vlan: number, net: ContainerNetSpec): void {
    const { mac, ip } = net;
    const gpa = this.free.pop();
    if (gpa === undefined)
      throw new QingtianError(
        ErrorCode.CapacityExceeded,
        `container network: no room for another container's stack (${this.byVlan.size} in the area)`,
      );
    const [macLo, macHi] = macWords(mac);
    const st = this.ram.host(BigInt(gpa), this.stackBytes);
    const k = this.rt.kernel('guest');
    const rc = k.fn<(...a: number[]) => number>('gnet_init_shared')(
      st,
      this.ram.host(BigInt(this.stackGpa)),
      macLo,
      macHi,
      ipWord(ip),
      vlan,
    );
    if (rc !== 0) {
      this.free.push(gpa);
      throw new QingtianError(ErrorCode.InvalidArgument, `container network: stack for VLAN ${vlan} refused (${rc})`);
    }
    k.fn<(st: number, echo: number, sink: number) => void>('gnet_set_ports')(st, CONTAINER_ECHO_PORT, 0);
    k.fn<(st: number, mask: number, gw: number) => void>('gnet_set_route')(
      st,
      maskWord(net.prefixLength),
      ipWord(net.gateway),
    );
    this.byVlan.set(vlan, gpa);
  }

  /**
   * Puts VLAN `vlan`'s stack in the split (its container runs): from the next frame on, the
   * split hands it the frames tagged `vlan` and serves its sends.
   */
  up(vlan: number): void {
    const gpa = this.byVlan.get(vlan);
    if (gpa !== undefined) Atomics.store(this.table(), vlan, this.ram.host(BigInt(gpa), this.stackBytes));
  }

  /**
   * Takes VLAN `vlan`'s stack out of the split (its container stopped or paused): from the next
   * frame on, its frames are dropped (counted as ignored by the NIC's own stack), nothing is answered.
   */
  down(vlan: number): void {
    if (this.byVlan.has(vlan)) Atomics.store(this.table(), vlan, 0);
  }

  /** Whether VLAN `vlan`'s stack is in the split. */
  isUp(vlan: number): boolean {
    return this.byVlan.has(vlan) && Atomics.load(this.table(), vlan) !== 0;
  }

  /** Takes VLAN `vlan`'s stack out of the split and frees its room in the area. */
  detach(vlan: number): void {
    const gpa = this.byVlan.get(vlan);
    if (gpa === undefined) return;
    Atomics.store(this.table(), vlan, 0);
    this.byVlan.delete(vlan);
    this.free.push(gpa);
  }

  /**
   * `count` ICMP echo requests from VLAN `vlan`'s stack to `dst`, one at a time, each sent by the
   * container host's vCPU 0 (asked through the split's mailbox; its next hop is resolved by ARP
   * first when needed) and waited for up to `timeoutMs`. Returns the round trips in
   * microseconds, NaN for a ping that went unanswered (or could not be sent: the stack is down).
   */
  async ping(vlan: number, dst: string, count: number, timeoutMs: number): Promise<number[]> {
    const gpa = this.byVlan.get(vlan);
    if (gpa === undefined)
      throw new QingtianError(ErrorCode.NotFound, `container network: no stack on VLAN ${vlan}`, { vlan });
    return this.mailbox.exclusive(async () => {
      const out: number[] = [];
      const replies = this.ram.host(BigInt(gpa + G.GN_PING_REPLIES), 4) >> 2;
      const i32 = new Int32Array(this.ram.sharedBuffer);
      for (let i = 0; i < count; i++) {
        const seq = (this.pingSeq = (this.pingSeq + 1) & 0xffff);
        const before = Atomics.load(i32, replies);
        const t0 = process.hrtime.bigint();
        const deadline = Date.now() + timeoutMs;
        let sent = false;
        while (!sent && Date.now() < deadline) {
          const r = { op: G.TM_OP_PING, vlan, dst: ipWord(dst), ident: PING_IDENT, seq, len: 56 };
          const rc = await this.mailbox.ask(r, deadline);
          if (rc === 1) sent = true;
          else if (rc === 0) await sleep(5);
          else break;
        }
        let got = false;
        while (sent && !(got = Atomics.load(i32, replies) !== before) && Date.now() < deadline) await sleep(1);
        out.push(got ? Number(process.hrtime.bigint() - t0) / 1000 : NaN);
      }
      return out;
    });
  }

  /** VLAN `vlan`'s stack's counters, or null when it has none. */
  counters(vlan: number): ContainerNetCounters | null {
    const gpa = this.byVlan.get(vlan);
    if (gpa === undefined) return null;
    const at = gpa + G.GN_COUNTERS;
    const n = (i: number): number => Number(this.ram.ram.getBigUint64(at + 8 * i, true));
    return {
      rxFrames: n(G.GNC_RX_FRAMES),
      txFrames: n(G.GNC_TX_FRAMES),
      arpRequests: n(G.GNC_ARP_REQUESTS),
      echoRequests: n(G.GNC_ECHO_REQUESTS),
      udpEchoed: n(G.GNC_UDP_ECHOED),
      rxIgnored: n(G.GNC_RX_IGNORED),
    };
  }

  private table(): Int32Array {
    return new Int32Array(
      this.ram.sharedBuffer,
      this.ram.host(BigInt(this.tableGpa), 4 * G.TRUNK_VLANS),
      G.TRUNK_VLANS,
    );
  }
}
