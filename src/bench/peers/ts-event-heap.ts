import { Prng } from '../../common/prng.js';

/**
 * Peer for the event-core bench: a plain binary heap in TypeScript (times and payloads in
 * parallel typed arrays, ties broken by insertion sequence), run through the same hold model
 * as the Wasm queues (`evq_hold` in assembly/netsim/index.ts).
 */
export class TsEventHeap {
  private time: Float64Array;
  private seq: Float64Array;
  private payload: Uint32Array;
  private len = 0;
  private nextSeq = 0;

  constructor(cap: number) {
    this.time = new Float64Array(cap);
    this.seq = new Float64Array(cap);
    this.payload = new Uint32Array(cap);
  }

  push(t: number, p: number): void {
    let i = this.len++;
    const s = this.nextSeq++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = this.time[parent]!;
      if (pt < t || (pt === t && this.seq[parent]! < s)) break;
      this.time[i] = pt;
      this.seq[i] = this.seq[parent]!;
      this.payload[i] = this.payload[parent]!;
      i = parent;
    }
    this.time[i] = t;
    this.seq[i] = s;
    this.payload[i] = p;
  }

  /** Pops the earliest; its time is `lastTime`. */
  lastTime = 0;
  pop(): number {
    const top = this.payload[0]!;
    this.lastTime = this.time[0]!;
    const len = --this.len;
    if (len === 0) return top;
    const lt = this.time[len]!;
    const ls = this.seq[len]!;
    const lp = this.payload[len]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= len) break;
      if (
        c + 1 < len &&
        (this.time[c + 1]! < this.time[c]! || (this.time[c + 1] === this.time[c] && this.seq[c + 1]! < this.seq[c]!))
      )
        c++;
      const ct = this.time[c]!;
      if (lt < ct || (lt === ct && ls < this.seq[c]!)) break;
      this.time[i] = ct;
      this.seq[i] = this.seq[c]!;
      this.payload[i] = this.payload[c]!;
      i = c;
    }
    this.time[i] = lt;
    this.seq[i] = ls;
    this.payload[i] = lp;
    return top;
  }
}

/** The hold model: `ops` pops, each pushed back later by a packet-like increment. Returns a checksum. */
export function tsHold(n: number, ops: number, seed: number): number {
  const h = new TsEventHeap(n + 1);
  const rng = new Prng(seed);
  for (let i = 0; i < n; i++) h.push(rng.u32() >>> 12, i);
  let sum = 0;
  for (let i = 0; i < ops; i++) {
    const p = h.pop();
    const t = h.lastTime;
    sum += t;
    const r = rng.u32() >>> 22; // 0..1023
    let dt = 84_000 + (r & 63) * 1000;
    if (r < 512) dt += 1_000_000;
    if (r === 1023) dt += 300_000_000;
    h.push(t + dt, p);
  }
  return sum;
}
