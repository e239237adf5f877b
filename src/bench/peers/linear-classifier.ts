import type { NormalRule } from '../../dpu/flow/classifier-rule.js';

/**
 * Peer: the plain-JS classifier everyone writes first. Rules in priority order in flat typed
 * arrays; a header is checked against each rule until the first match.
 */
export class LinearClassifier {
  private readonly n: number;
  private readonly f: Uint32Array;

  constructor(rules: readonly NormalRule[]) {
    const sorted = [...rules].sort((a, b) => a.priority - b.priority);
    this.n = sorted.length;
    this.f = new Uint32Array(this.n * 9);
    sorted.forEach((r, i) => {
      const m = (l: number): number => (l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0);
      this.f.set(
        [
          r.srcAddr,
          m(r.srcLen),
          r.dstAddr,
          m(r.dstLen),
          r.spLo,
          r.spHi,
          r.dpLo,
          r.dpHi,
          (r.protoValue << 8) | r.protoMask,
        ],
        i * 9,
      );
    });
  }

  /**
   * One rule update pair as an array-based classifier does it: remove rule i (shift the rest
   * down), then insert it back at its priority position (shift up again).
   */
  reinsert(i: number): void {
    const f = this.f;
    const saved = f.slice(i * 9, i * 9 + 9);
    f.copyWithin(i * 9, (i + 1) * 9);
    f.copyWithin((i + 1) * 9, i * 9, (this.n - 1) * 9);
    f.set(saved, i * 9);
  }

  /** Index (priority order) of the first matching rule per header, or -1. */
  classify(headers: Uint32Array, out: Int32Array): void {
    const f = this.f;
    for (let h = 0, j = 0; h < headers.length; h += 5, j++) {
      const s = headers[h]!,
        d = headers[h + 1]!,
        sp = headers[h + 2]!,
        dp = headers[h + 3]!,
        pr = headers[h + 4]!;
      let hit = -1;
      for (let i = 0, o = 0; i < this.n; i++, o += 9) {
        if (
          (s & f[o + 1]!) >>> 0 === f[o] &&
          (d & f[o + 3]!) >>> 0 === f[o + 2] &&
          sp >= f[o + 4]! &&
          sp <= f[o + 5]! &&
          dp >= f[o + 6]! &&
          dp <= f[o + 7]! &&
          (pr & f[o + 8]!) === f[o + 8]! >>> 8
        ) {
          hit = i;
          break;
        }
      }
      out[j] = hit;
    }
  }
}
