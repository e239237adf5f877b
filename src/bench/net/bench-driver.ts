import type { WirePort } from './bench-port.js';

/** What the harness sends: UDP/IPv4 frames between two fixed endpoints. */
export interface Frames {
  srcMac: number[];
  dstMac: number[];
  srcIp: number[];
  dstIp: number[];
  frameBytes: number;
}

export interface DriverSetup {
  tx: WirePort;
  rx: WirePort;
  frames: Frames;
  flows: number;
  kick: { doorbell: number; sleeping: number };
  /** The receive queue's interrupt word (host address): the switch bumps and notifies it after delivering. */
  rxIrq: number;
}

/**
 * Minimal poll-mode drivers for the bench guests (DPDK virtio PMD style): the sender's TX ring
 * and the receiver's RX ring, descriptor i fixed to buffer i, so refilling is re-publishing ring
 * entries; a kick rings the serving side's doorbell. Completions come back in ring order (both
 * switches push in pop order), which is what lets slot = index mod size.
 */
export class BenchDriver {
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly dv: DataView;
  private readonly i32: Int32Array;
  txAvail = 0;
  txUsed = 0;
  rxAvail = 0;
  rxUsed = 0;

  constructor(
    buffer: ArrayBufferLike,
    readonly S: DriverSetup,
  ) {
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.dv = new DataView(buffer);
    this.i32 = new Int32Array(buffer);
    this.reframe();
    const rx = S.rx;
    const m = rx.rx.size;
    for (let i = 0; i < m; i++) {
      const d = rx.rx.desc + 16 * i;
      this.dv.setBigUint64(d, BigInt(rx.rxBufGpa) + BigInt(i * rx.stride), true);
      this.dv.setUint32(d + 8, rx.stride, true);
      this.dv.setUint32(d + 12, 2, true); // WRITE
      this.dv.setUint16(rx.rx.avail + 4 + 2 * i, i, true);
    }
    this.rxAvail = m;
    Atomics.store(this.u16, (rx.rx.avail + 2) >> 1, this.rxAvail & 0xffff);
  }

  /** Sleeps until the receive interrupt word moves from `seen` (or `timeoutMs`). */
  waitRx(seen: number, timeoutMs: number): void {
    Atomics.wait(this.i32, this.S.rxIrq >> 2, seen, timeoutMs);
  }

  rxIrqCount(): number {
    return Atomics.load(this.i32, this.S.rxIrq >> 2);
  }

  kick(): void {
    const k = this.S.kick;
    Atomics.add(this.i32, k.doorbell >> 2, 1);
    if (Atomics.load(this.i32, k.sleeping >> 2) !== 0) Atomics.notify(this.i32, k.doorbell >> 2, 1);
  }

  /** A UDP/IPv4 frame behind a zero virtio-net header at host address `at`; returns its chain length. */
  writeFrame(at: number, sport: number, dport = 9): number {
    const { u8, dv } = this;
    const f = this.S.frames;
    const len = f.frameBytes;
    u8.fill(0, at, at + 12 + len);
    const p = at + 12;
    u8.set(f.dstMac, p);
    u8.set(f.srcMac, p + 6);
    dv.setUint16(p + 12, 0x0800);
    const ip = p + 14;
    dv.setUint8(ip, 0x45);
    dv.setUint16(ip + 2, len - 14);
    dv.setUint8(ip + 8, 64);
    dv.setUint8(ip + 9, 17);
    u8.set(f.srcIp, ip + 12);
    u8.set(f.dstIp, ip + 16);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += dv.getUint16(ip + i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    dv.setUint16(ip + 10, ~s & 0xffff);
    const udp = ip + 20;
    dv.setUint16(udp, sport & 0xffff);
    dv.setUint16(udp + 2, dport & 0xffff);
    dv.setUint16(udp + 4, len - 34);
    return 12 + len;
  }

  /** TX descriptor i → TX buffer i, readable, holding a frame of flow i % flows. */
  reframe(): void {
    const tx = this.S.tx;
    for (let i = 0; i < tx.tx.size; i++) {
      const d = tx.tx.desc + 16 * i;
      const gpa = BigInt(tx.txBufGpa) + BigInt(i * tx.stride);
      this.dv.setBigUint64(d, gpa, true);
      this.dv.setUint32(d + 8, this.writeFrame(tx.ramBase + Number(gpa), 1000 + (i % this.S.flows)), true);
      this.dv.setUint32(d + 12, 0, true);
    }
  }

  /** Rewrites the frame of the next TX slot (a new flow), before it is published. */
  nextFrame(sport: number, dport: number): void {
    const tx = this.S.tx;
    const slot = this.txAvail % tx.tx.size;
    const at = tx.ramBase + Number(BigInt(tx.txBufGpa) + BigInt(slot * tx.stride));
    this.dv.setUint32(tx.tx.desc + 16 * slot + 8, this.writeFrame(at, sport, dport), true);
  }

  usedIdx(r: { used: number }): number {
    return Atomics.load(this.u16, (r.used + 2) >> 1);
  }

  /**
   * Like reapRx, and reports whether one of the frames had UDP source port `sport` (the frame
   * a latency sample waits for; stragglers of earlier traffic do not count).
   */
  reapRxFor(sport: number): boolean {
    const r = this.S.rx.rx;
    const now = this.usedIdx(r);
    const got = (now - this.rxUsed) & 0xffff;
    let found = false;
    for (let k = 0; k < got; k++) {
      const id = this.dv.getUint32(r.used + 4 + 8 * ((this.rxUsed + k) % r.size), true);
      const buf = this.S.rx.ramBase + Number(BigInt(this.S.rx.rxBufGpa) + BigInt(id * this.S.rx.stride));
      if (this.dv.getUint16(buf + 12 + 34) === (sport & 0xffff)) found = true;
      this.u16[(r.avail + 4 + 2 * (this.rxAvail % r.size)) >> 1] = id;
      this.rxAvail++;
    }
    if (got) {
      this.rxUsed = (this.rxUsed + got) & 0xffff;
      Atomics.store(this.u16, (r.avail + 2) >> 1, this.rxAvail & 0xffff);
    }
    return found;
  }

  /** Re-publishes completed receive buffers; returns frames delivered since the last call. */
  reapRx(): number {
    const r = this.S.rx.rx;
    const now = this.usedIdx(r);
    const got = (now - this.rxUsed) & 0xffff;
    if (got === 0) return 0;
    for (let k = 0; k < got; k++) {
      const id = this.dv.getUint32(r.used + 4 + 8 * ((this.rxUsed + k) % r.size), true);
      this.u16[(r.avail + 4 + 2 * (this.rxAvail % r.size)) >> 1] = id;
      this.rxAvail++;
    }
    this.rxUsed = (this.rxUsed + got) & 0xffff;
    Atomics.store(this.u16, (r.avail + 2) >> 1, this.rxAvail & 0xffff);
    return got;
  }

  /** TX slots free now (their completions came back). */
  txRoom(): number {
    const r = this.S.tx.tx;
    this.txUsed += (this.usedIdx(r) - (this.txUsed & 0xffff)) & 0xffff;
    return r.size - (this.txAvail - this.txUsed);
  }

  /** Publishes up to `max` TX chains; returns how many. */
  fillTx(max: number): number {
    const r = this.S.tx.tx;
    const k = Math.min(this.txRoom(), max);
    for (let j = 0; j < k; j++) {
      this.u16[(r.avail + 4 + 2 * (this.txAvail % r.size)) >> 1] = this.txAvail % r.size;
      this.txAvail++;
    }
    if (k) Atomics.store(this.u16, (r.avail + 2) >> 1, this.txAvail & 0xffff);
    return k;
  }
}
