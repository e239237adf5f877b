import type { ModelOp } from './vpc-model-ops.js';

/**
 * What the control plane tells a slow path that runs on a DPU core (slow-path-on-core.ts), in
 * order: a change of the VPC model (replayed on the core's replica), a switch port whose upcall
 * ring it starts draining, one it stops draining.
 */
export type SlowPathChange =
  { model: ModelOp } | { addPort: { port: number; base: number; capacity: number } } | { removePort: number };

/**
 * The changes' log: a byte ring in host memory, one producer (the main thread) and one consumer
 * (the core), records of a u32 length and that many bytes of JSON, 4-byte aligned. A record that
 * would cross the end is preceded by a wrap mark and starts again at 0. Words (i32): the bytes
 * ever written and ever read (positions, modulo 2^32), records written and records applied.
 */
export const LOG_WRITE = 0;
export const LOG_READ = 1;
export const LOG_WRITTEN = 2;
export const LOG_APPLIED = 3;
export const LOG_HEADER_BYTES = 64;
const WRAP = 0xffffffff;

const pad4 = (n: number): number => (n + 3) & ~3;

/** What both ends see of the log: views of the memory, its header's word index, its size. */
class ChangeLogEnd {
  protected readonly i32: Int32Array;
  protected readonly u8: Uint8Array;
  protected readonly view: DataView;
  protected readonly w: number;

  constructor(
    buffer: ArrayBufferLike,
    protected readonly base: number,
    protected readonly capacity: number,
  ) {
    this.i32 = new Int32Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.view = new DataView(buffer);
    this.w = base >> 2;
  }
}

/**
 * The producer's end; `capacity` (bytes after the header) a power of two. A record takes at most
 * half of it: a larger one, after the wrap mark it may need, could outgrow even an empty ring.
 */
export class ChangeLogWriter extends ChangeLogEnd {
  /** Records written so far. */
  get written(): number {
    return Atomics.load(this.i32, this.w + LOG_WRITTEN);
  }

  /** Records the consumer has applied. */
  get applied(): number {
    return Atomics.load(this.i32, this.w + LOG_APPLIED);
  }

  /** Address of the applied count (to wait on). */
  get appliedIndex(): number {
    return this.w + LOG_APPLIED;
  }

  /** Whether the ring has room for `c` (or its encode()) now (the consumer only ever makes more). */
  hasRoom(c: SlowPathChange | Uint8Array): boolean {
    return this.room(this.bytesOf(c).length) !== null;
  }

  /** Appends a change (or its encode()); false when the ring has no room for it now (nothing written). */
  tryAppend(c: SlowPathChange | Uint8Array): boolean {
    const bytes = this.bytesOf(c);
    const r = this.room(bytes.length);
    if (r === null) return false;
    const { need, skip } = r;
    const i32 = this.i32;
    let wpos = Atomics.load(i32, this.w + LOG_WRITE);
    const off = wpos & (this.capacity - 1);
    const data = this.base + LOG_HEADER_BYTES;
    if (skip > 0) {
      if (skip >= 4) this.view.setUint32(data + off, WRAP, true);
      wpos = (wpos + skip) | 0;
    }
    const at = data + (wpos & (this.capacity - 1));
    this.view.setUint32(at, bytes.length, true);
    this.u8.set(bytes, at + 4);
    Atomics.store(i32, this.w + LOG_WRITE, (wpos + need) | 0);
    Atomics.add(i32, this.w + LOG_WRITTEN, 1);
    return true;
  }

  /** A change as the record's bytes (JSON); RangeError if larger than half the log. */
  encode(c: SlowPathChange): Uint8Array {
    const bytes = new TextEncoder().encode(JSON.stringify(c));
    if (4 + pad4(bytes.length) > this.capacity / 2)
      throw new RangeError(
        `slow-path change of ${bytes.length} bytes: larger than half the log (${this.capacity / 2 - 4} bytes at most)`,
      );
    return bytes;
  }

  private bytesOf(c: SlowPathChange | Uint8Array): Uint8Array {
    return c instanceof Uint8Array ? c : this.encode(c);
  }

  /** What a record of `length` takes at the write position, and the wrap before it; null if they do not fit. */
  private room(length: number): { need: number; skip: number } | null {
    const need = 4 + pad4(length);
    const wpos = Atomics.load(this.i32, this.w + LOG_WRITE);
    const rpos = Atomics.load(this.i32, this.w + LOG_READ);
    const off = wpos & (this.capacity - 1);
    const skip = off + need > this.capacity ? this.capacity - off : 0;
    return this.capacity - ((wpos - rpos) | 0) < skip + need ? null : { need, skip };
  }
}

/** The consumer's end. */
export class ChangeLogReader extends ChangeLogEnd {
  private readonly decoder = new TextDecoder();

  /** Whether a change waits (one load and a compare: called every pass of the core). */
  pending(): boolean {
    return Atomics.load(this.i32, this.w + LOG_WRITE) !== Atomics.load(this.i32, this.w + LOG_READ);
  }

  /**
   * Applies every waiting change, in order, each counted as applied once `apply` returns (or
   * throws: a change that cannot be applied is not retried). Returns how many.
   */
  drain(apply: (c: SlowPathChange) => void): number {
    const i32 = this.i32;
    const data = this.base + LOG_HEADER_BYTES;
    let rpos = Atomics.load(i32, this.w + LOG_READ);
    const wpos = Atomics.load(i32, this.w + LOG_WRITE);
    let n = 0;
    while (rpos !== wpos) {
      const off = rpos & (this.capacity - 1);
      if (this.capacity - off < 4 || this.view.getUint32(data + off, true) === WRAP) {
        rpos = (rpos + (this.capacity - off)) | 0;
        continue;
      }
      const len = this.view.getUint32(data + off, true);
      const text = this.decoder.decode(this.u8.slice(data + off + 4, data + off + 4 + len));
      rpos = (rpos + 4 + pad4(len)) | 0;
      Atomics.store(i32, this.w + LOG_READ, rpos);
      try {
        apply(JSON.parse(text) as SlowPathChange);
      } finally {
        n++;
        Atomics.add(i32, this.w + LOG_APPLIED, 1);
        Atomics.notify(i32, this.w + LOG_APPLIED);
      }
    }
    return n;
  }
}
