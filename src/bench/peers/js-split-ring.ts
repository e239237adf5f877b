/**
 * Peer for the virtqueue kernel: a split-ring device side written for speed in plain JS, with
 * the checks the kernel makes (avail index ahead by at most N, head in range and not already in
 * flight, every descriptor read once, chain length bounded by N, next in range, each buffer
 * inside guest RAM, indirect refused without the feature, every token checked before a push).
 * Typed-array views over host memory made once, 32-bit reads of the 64-bit address (no BigInt,
 * no DataView per field), the popped chains kept in preallocated typed arrays.
 *
 * Unlike the reference device (src/dpu/virtio/reference-device.ts, written to read like the
 * spec), this is what a careful JS implementation of the same work looks like. Bench use only.
 */
import {
  AVAIL_F_NO_INTERRUPT,
  AVAIL_IDX,
  AVAIL_RING,
  DESC_ADDR,
  DESC_BYTES,
  DESC_FLAGS,
  DESC_LEN,
  F_INDIRECT,
  F_NEXT,
  F_WRITE,
  USED_IDX,
  USED_RING,
} from '../../generated/virtio.js';

// Word offsets inside a descriptor (the flags and next fields share its last word).
const D_ADDR = DESC_ADDR >> 2;
const D_LEN = DESC_LEN >> 2;
const D_FLAGS_NEXT = DESC_FLAGS >> 2;
const D_WORDS = DESC_BYTES >> 2;

/** Why a queue broke, as the kernel's bad-input ids name it. */
export type Broken = 'B1' | 'B2' | 'B3' | 'C1' | 'C2';

export class JsSplitRing {
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly inflight: Uint8Array;
  private nextAvail = 0;
  private nextUsed = 0;
  /** Chains popped by the last pop: head id, segment count, status (0 or the rejection). */
  readonly heads: Uint16Array;
  readonly status: Uint8Array;
  /** Segments of the last pop: host address, length, device-writable (1) or not (0). */
  readonly segAddr: Uint32Array;
  readonly segLen: Uint32Array;
  readonly segWrite: Uint8Array;
  segCount = 0;
  broken: Broken | null = null;
  /** Interrupts the device would raise (the driver did not suppress them). */
  irqs = 0;

  constructor(
    buffer: ArrayBufferLike,
    private readonly size: number,
    /** Host addresses of the descriptor table, the avail ring and the used ring. */
    private readonly desc: number,
    private readonly avail: number,
    private readonly used: number,
    /** Guest RAM: its host address and length (guest physical 0 maps to ramHost). */
    private readonly ramHost: number,
    private readonly ramBytes: number,
    maxChains: number,
  ) {
    if ((desc & 15) !== 0 || (avail & 1) !== 0 || (used & 3) !== 0) throw new Error('JsSplitRing: misaligned ring');
    this.u16 = new Uint16Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.inflight = new Uint8Array((size + 7) >> 3);
    this.heads = new Uint16Array(maxChains);
    this.status = new Uint8Array(maxChains);
    const segCap = maxChains + size;
    this.segAddr = new Uint32Array(segCap);
    this.segLen = new Uint32Array(segCap);
    this.segWrite = new Uint8Array(segCap);
  }

  /** Pops up to `max` chains; the count (rejected chains included), or -1 once broken. */
  pop(max: number): number {
    if (this.broken) return -1;
    const n = this.size;
    const u16 = this.u16;
    const u32 = this.u32;
    const ringAt = (this.avail + AVAIL_RING) >> 1;
    const idx = Atomics.load(u16, (this.avail + AVAIL_IDX) >> 1);
    const pending = (idx - this.nextAvail) & 0xffff;
    if (pending > n) return this.break('B1');
    const count = pending < max ? pending : max;
    const mask = n - 1;
    let next = this.nextAvail;
    let segs = 0;
    for (let got = 0; got < count; got++) {
      const head = u16[ringAt + (next & mask)]!;
      if (head >= n) return this.break('B2');
      const bit = 1 << (head & 7);
      if ((this.inflight[head >> 3]! & bit) !== 0) return this.break('B3');
      this.heads[got] = head;
      let st = 0;
      let i = head;
      for (let hops = 0; ;) {
        if (hops === n) return this.break('C2');
        hops++;
        const d = (this.desc >> 2) + i * D_WORDS;
        const lo = u32[d + D_ADDR]!;
        const hi = u32[d + D_ADDR + 1]!;
        const len = u32[d + D_LEN]!;
        const fn = u32[d + D_FLAGS_NEXT]!;
        const f = fn & 0xffff;
        const nx = fn >>> 16;
        if ((f & F_INDIRECT) !== 0) {
          st = 1; // no VIRTIO_F_INDIRECT_DESC here: refused (D1)
          break;
        }
        if (hi !== 0 || lo + len > this.ramBytes) {
          st = 2; // a buffer outside guest RAM
          break;
        }
        this.segAddr[segs] = this.ramHost + lo;
        this.segLen[segs] = len;
        this.segWrite[segs] = (f & F_WRITE) !== 0 ? 1 : 0;
        segs++;
        if ((f & F_NEXT) === 0) break;
        if (nx >= n) return this.break('C1');
        i = nx;
      }
      this.status[got] = st;
      this.inflight[head >> 3] = this.inflight[head >> 3]! | bit;
      next = (next + 1) & 0xffff;
    }
    this.nextAvail = next;
    this.segCount = segs;
    return count;
  }

  /** Returns `count` chains (heads[0..count)) with these used lengths; -1 if one is not in flight. */
  push(count: number, usedLen: number): number {
    const n = this.size;
    for (let k = 0; k < count; k++) {
      const h = this.heads[k]!;
      if (h >= n || (this.inflight[h >> 3]! & (1 << (h & 7))) === 0) return -1;
    }
    const u32 = this.u32;
    const ring = (this.used + USED_RING) >> 2;
    const mask = n - 1;
    let u = this.nextUsed;
    for (let k = 0; k < count; k++) {
      const h = this.heads[k]!;
      const e = ring + ((u & mask) << 1);
      u32[e] = h;
      u32[e + 1] = usedLen;
      this.inflight[h >> 3] = this.inflight[h >> 3]! & ~(1 << (h & 7));
      u = (u + 1) & 0xffff;
    }
    if (count === 0) return 0;
    Atomics.store(this.u16, (this.used + USED_IDX) >> 1, u); // release: elements before the index
    this.nextUsed = u;
    if ((Atomics.load(this.u16, this.avail >> 1) & AVAIL_F_NO_INTERRUPT) === 0) this.irqs++;
    return count;
  }

  private break(why: Broken): number {
    this.broken = why;
    return -1;
  }
}
