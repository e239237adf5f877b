import { setTimeout as sleep } from 'node:timers/promises';
import type { HostMemoryApi } from '../../../src/common/host-memory-api.js';
import { FEAT_VERSION_1 } from '../../../src/generated/virtio.js';
import type { AttachedPort } from '../../../src/dpu/net/host-network.js';
import { NET_F_CTRL_RX, NET_F_CTRL_VQ, NET_F_MAC } from '../../../src/dpu/net/net-layout.js';
import type { Guest } from '../../../src/hypervisor/guest/guest.js';
import { createDriver, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';

const HDR = 12;
const SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const bit = (n: number): bigint => 1n << BigInt(n);

/**
 * A guest's virtio-net driver for tests of `host.network` with the switch on a DPU core: the TS
 * split driver on the test's thread, kicking the core's doorbell. Setup as a VMM and the guest's
 * probe would do it: features, queues, RX buffers.
 */
export class GuestNic {
  readonly rx: VirtqueueDriver;
  readonly tx: VirtqueueDriver;
  readonly ctrl: VirtqueueDriver;
  private readonly rxBufs = new Map<number, bigint>();

  constructor(
    readonly guest: Guest,
    readonly port: AttachedPort,
    private readonly memory: HostMemoryApi,
    queueSize = 256,
  ) {
    const dev = port.device;
    dev.negotiate(bit(FEAT_VERSION_1) | bit(NET_F_MAC) | bit(NET_F_CTRL_VQ) | bit(NET_F_CTRL_RX));
    const kick = (): void => {
      const i32 = this.memory.i32;
      Atomics.add(i32, port.notify.doorbell >> 2, 1);
      if (Atomics.load(i32, port.notify.sleeping >> 2) !== 0) Atomics.notify(i32, port.notify.doorbell >> 2);
    };
    const q = (size: number): VirtqueueDriver => createDriver(guest, { size, features: SPLIT, notify: kick });
    this.rx = q(queueSize);
    this.tx = q(queueSize);
    this.ctrl = q(16);
    const set = (i: number, d: VirtqueueDriver): void =>
      dev.setQueue(i, { size: d.size, descGpa: d.descGpa, driverGpa: d.driverGpa, deviceGpa: d.deviceGpa });
    set(0, this.rx);
    set(1, this.tx);
    set(dev.ctrlIndex, this.ctrl);
  }

  postRx(n: number, bytes = 2048): void {
    for (let i = 0; i < n; i++) {
      const gpa = this.guest.allocGpa(bytes, 64);
      const t = this.rx.add([], [{ gpa, len: bytes }]);
      if (t === null) throw new Error('rx ring full');
      this.rxBufs.set(t, gpa);
    }
    this.rx.kick();
  }

  send(frame: Uint8Array): void {
    this.tx.reap();
    const gpa = this.guest.allocGpa(HDR + frame.length, 16);
    const b = new Uint8Array(HDR + frame.length);
    b.set(frame, HDR);
    this.guest.write(gpa, b);
    if (this.tx.add([{ gpa, len: b.length }], []) === null) throw new Error('tx ring full');
    this.tx.kick();
  }

  /** Frames received so far (each buffer reposted). */
  recv(): Uint8Array[] {
    const out: Uint8Array[] = [];
    const done = this.rx.reap();
    // Read every completion before reposting: a new buffer may take a descriptor id (token) that
    // a later completion of this batch still names.
    for (const c of done) {
      const gpa = this.rxBufs.get(c.token)!;
      this.rxBufs.delete(c.token);
      if (c.len > HDR) out.push(this.guest.read(gpa + BigInt(HDR), c.len - HDR));
    }
    if (done.length > 0) this.postRx(done.length);
    return out;
  }

  /** Waits until `n` frames arrived (or `ms` passed); returns them. */
  async waitRecv(n: number, ms = 5000): Promise<Uint8Array[]> {
    const got: Uint8Array[] = [];
    const end = Date.now() + ms;
    while (got.length < n && Date.now() < end) {
      got.push(...this.recv());
      if (got.length < n) await sleep(1);
    }
    return got;
  }

  /** VIRTIO_NET_CTRL_RX_PROMISC (§5.1.6.5.1): takes frames for any MAC (a trunk's sub-ports). */
  async promiscuous(on: boolean): Promise<number> {
    const cmd = this.guest.allocGpa(3, 16);
    this.guest.write(cmd, Uint8Array.of(0, 0, on ? 1 : 0));
    const ack = this.guest.allocGpa(1, 16);
    this.guest.write(ack, Uint8Array.of(0xee));
    this.ctrl.add([{ gpa: cmd, len: 3 }], [{ gpa: ack, len: 1 }]);
    this.ctrl.kick();
    const end = Date.now() + 5000;
    while (this.ctrl.reap().length === 0) {
      if (Date.now() > end) throw new Error('control command not completed');
      await sleep(1);
    }
    return this.guest.read(ack, 1)[0]!;
  }
}
