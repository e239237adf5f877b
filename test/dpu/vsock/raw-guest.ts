import { featureWord } from '../../../src/common/virtio/features.js';
import { ringDoorbell } from '../../../src/dpu/core/core-layout.js';
import type { DpuCore } from '../../../src/dpu/core/dpu-core.js';
import { VsockDevice, type VsockDeviceOptions } from '../../../src/dpu/vsock/vsock-device.js';
import * as V from '../../../src/generated/vsock.js';
import { createDriver, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { until } from '../../helpers/kernels.js';
import { GuardedGuest } from '../virtio/helpers.js';
import type { VsockRig } from './helpers.js';

export interface Header {
  srcCid: bigint;
  dstCid: bigint;
  srcPort: number;
  dstPort: number;
  len: number;
  type: number;
  op: number;
  flags: number;
  bufAlloc: number;
  fwdCnt: number;
}

export interface Packet {
  hdr: Header;
  payload: Uint8Array;
  /** Where the rx buffer that carried it starts in guest RAM. */
  gpa: bigint;
}

export function encodeHeader(h: Header): Uint8Array {
  const b = new Uint8Array(V.VSOCK_HDR_BYTES);
  const v = new DataView(b.buffer);
  v.setBigUint64(V.VSOCK_HDR_SRC_CID, h.srcCid, true);
  v.setBigUint64(V.VSOCK_HDR_DST_CID, h.dstCid, true);
  v.setUint32(V.VSOCK_HDR_SRC_PORT, h.srcPort, true);
  v.setUint32(V.VSOCK_HDR_DST_PORT, h.dstPort, true);
  v.setUint32(V.VSOCK_HDR_LEN, h.len, true);
  v.setUint16(V.VSOCK_HDR_TYPE, h.type, true);
  v.setUint16(V.VSOCK_HDR_OP, h.op, true);
  v.setUint32(V.VSOCK_HDR_FLAGS, h.flags, true);
  v.setUint32(V.VSOCK_HDR_BUF_ALLOC, h.bufAlloc, true);
  v.setUint32(V.VSOCK_HDR_FWD_CNT, h.fwdCnt, true);
  return b;
}

export function decodeHeader(b: Uint8Array): Header {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    srcCid: v.getBigUint64(V.VSOCK_HDR_SRC_CID, true),
    dstCid: v.getBigUint64(V.VSOCK_HDR_DST_CID, true),
    srcPort: v.getUint32(V.VSOCK_HDR_SRC_PORT, true),
    dstPort: v.getUint32(V.VSOCK_HDR_DST_PORT, true),
    len: v.getUint32(V.VSOCK_HDR_LEN, true),
    type: v.getUint16(V.VSOCK_HDR_TYPE, true),
    op: v.getUint16(V.VSOCK_HDR_OP, true),
    flags: v.getUint32(V.VSOCK_HDR_FLAGS, true),
    bufAlloc: v.getUint32(V.VSOCK_HDR_BUF_ALLOC, true),
    fwdCnt: v.getUint32(V.VSOCK_HDR_FWD_CNT, true),
  };
}

const RX_BUF = 4096;

/**
 * A hostile guest for bad-input tests: it drives the vsock device's three queues with the TS
 * virtqueue drivers and writes whatever packets a test asks for, byte by byte, into guard-railed
 * RAM (writes outside it would show in `gg.guardsIntact()`).
 */
export class RawVsockGuest {
  readonly gg: GuardedGuest;
  readonly dev: VsockDevice;
  readonly rx: VirtqueueDriver;
  readonly tx: VirtqueueDriver;
  readonly ev: VirtqueueDriver;
  readonly cid: bigint;
  private readonly rxBufs = new Map<number, bigint>();
  private readonly evBufs = new Map<number, bigint>();
  readonly received: Packet[] = [];
  readonly events: number[] = [];

  constructor(
    private readonly rig: VsockRig,
    name: string,
    private readonly core: DpuCore,
    opts: Partial<VsockDeviceOptions> = {},
  ) {
    this.gg = new GuardedGuest(rig.memory, name, 4 << 20);
    const guest = this.gg.guest;
    this.dev = new VsockDevice(rig.rt, guest, `${name}:vsock`, { guestCid: 3, maxQueueSize: 256, ...opts });
    this.cid = BigInt(this.dev.guestCid);
    const features = { packed: false, eventIdx: true, indirect: false, inOrder: false };
    const notify = (): void => void ringDoorbell(rig.memory.i32, core.controlBase);
    this.rx = createDriver(guest, { size: 64, features, notify });
    this.tx = createDriver(guest, { size: 64, features, notify });
    this.ev = createDriver(guest, { size: 4, features, notify });
    this.dev.negotiate(featureWord(features) | (1n << BigInt(V.VSOCK_F_STREAM)));
    [this.rx, this.tx, this.ev].forEach((d, i) =>
      this.dev.setQueue(i, { size: d.size, descGpa: d.descGpa, driverGpa: d.driverGpa, deviceGpa: d.deviceGpa }),
    );
  }

  async start(rxBuffers = 32): Promise<void> {
    await this.dev.start(this.core);
    for (let i = 0; i < 4; i++) this.postEvent();
    this.ev.kick();
    this.postRx(rxBuffers);
  }

  /**
   * Posts `n` receive buffers of `bytes` each: device-writable, after a device-readable part of
   * `readablePrefix` bytes if given, in two descriptors cut at `splitAt` if given.
   */
  postRx(n: number, bytes = RX_BUF, opts: { readablePrefix?: number; splitAt?: number } = {}): void {
    const guest = this.gg.guest;
    for (let i = 0; i < n; i++) {
      const gpa = guest.allocGpa(bytes + (opts.readablePrefix ?? 0), 16);
      const out = opts.readablePrefix ? [{ gpa, len: opts.readablePrefix }] : [];
      const w = gpa + BigInt(opts.readablePrefix ?? 0);
      const cut = opts.splitAt;
      const inb =
        cut === undefined
          ? [{ gpa: w, len: bytes }]
          : [
              { gpa: w, len: cut },
              { gpa: w + BigInt(cut), len: bytes - cut },
            ];
      const t = this.rx.add(out, inb);
      if (t === null) throw new Error('rx ring full');
      this.rxBufs.set(t, gpa + BigInt(opts.readablePrefix ?? 0));
    }
    this.rx.kick();
  }

  private postEvent(bytes = 8, readable = false): void {
    const gpa = this.gg.guest.allocGpa(bytes, 16);
    const t = readable ? this.ev.add([{ gpa, len: bytes }], []) : this.ev.add([], [{ gpa, len: bytes }]);
    if (t === null) throw new Error('event ring full');
    this.evBufs.set(t, gpa);
  }

  /** A header from this guest to the host, with defaults for every field. */
  hdr(h: Partial<Header>): Header {
    return {
      srcCid: this.cid,
      dstCid: 2n,
      srcPort: 5000,
      dstPort: 1,
      len: 0,
      type: V.VSOCK_TYPE_STREAM,
      op: V.VSOCK_OP_REQUEST,
      flags: 0,
      bufAlloc: 65536,
      fwdCnt: 0,
      ...h,
    };
  }

  /**
   * Puts one packet on the tx queue: the header and payload as one buffer (or split at
   * `splitAt`), optionally with a device-writable buffer after it; then kicks.
   */
  send(
    h: Partial<Header>,
    payload: Uint8Array = new Uint8Array(0),
    opts: { splitAt?: number; writable?: boolean; raw?: Uint8Array } = {},
  ): void {
    const bytes = opts.raw ?? concat(encodeHeader(this.hdr({ len: payload.length, ...h })), payload);
    const guest = this.gg.guest;
    const gpa = guest.allocGpa(Math.max(bytes.length, 1), 16);
    guest.write(gpa, bytes);
    const out =
      opts.splitAt === undefined
        ? [{ gpa, len: bytes.length }]
        : [
            { gpa, len: opts.splitAt },
            { gpa: gpa + BigInt(opts.splitAt), len: bytes.length - opts.splitAt },
          ];
    const inb = opts.writable ? [{ gpa: guest.allocGpa(64, 16), len: 64 }] : [];
    if (this.tx.add(out, inb) === null) throw new Error('tx ring full');
    this.tx.kick();
  }

  /** Reaps the rx and event queues (rx buffers are not re-posted: tests post what they need). */
  collect(): void {
    for (const c of this.rx.reap()) {
      const gpa = this.rxBufs.get(c.token)!;
      this.rxBufs.delete(c.token);
      if (c.len < V.VSOCK_HDR_BYTES) {
        this.received.push({ hdr: decodeHeader(new Uint8Array(V.VSOCK_HDR_BYTES)), payload: new Uint8Array(0), gpa });
        continue;
      }
      const raw = this.gg.guest.read(gpa, c.len);
      const hdr = decodeHeader(raw.subarray(0, V.VSOCK_HDR_BYTES));
      this.received.push({ hdr, payload: raw.slice(V.VSOCK_HDR_BYTES, V.VSOCK_HDR_BYTES + hdr.len), gpa });
    }
    for (const c of this.ev.reap()) {
      const gpa = this.evBufs.get(c.token)!;
      this.events.push(c.len >= 4 ? new DataView(this.gg.guest.read(gpa, 4).buffer).getUint32(0, true) : -1);
    }
    this.tx.reap();
  }

  /** Waits until the device returned a packet matching `pred` (collecting as it goes) and returns it. */
  async expectPacket(pred: (p: Packet) => boolean, what: string): Promise<Packet> {
    let found: Packet | undefined;
    await until(() => {
      this.collect();
      found = this.received.find(pred);
      return found !== undefined;
    }, what);
    this.received.splice(this.received.indexOf(found!), 1);
    return found!;
  }

  /** Waits until the device consumed every tx chain this guest posted. */
  async txDone(): Promise<void> {
    await until(() => {
      this.tx.reap();
      return this.tx.outstanding === 0;
    }, 'tx chains consumed');
  }

  /** Opens a connection to the host port `port` from `srcPort` (REQUEST, then the RESPONSE). */
  async open(port: number, srcPort: number, bufAlloc = 65536): Promise<void> {
    this.send({ op: V.VSOCK_OP_REQUEST, dstPort: port, srcPort, bufAlloc });
    await this.expectPacket((p) => p.hdr.op === V.VSOCK_OP_RESPONSE && p.hdr.dstPort === srcPort, 'RESPONSE');
  }

  async stop(): Promise<void> {
    await this.dev.stop();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
