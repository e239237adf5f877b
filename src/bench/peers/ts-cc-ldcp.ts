/**
 * Peer for the `cc` kernel bench: the LDCP-style law written in plain TypeScript over a
 * Float64Array of windows (the same arithmetic as assembly/cc/ldcp.ts), fed the same events.
 */
export class TsLdcp {
  readonly cw: Float64Array;
  readonly window: Float64Array;
  readonly rate: Float64Array;

  constructor(
    flows: number,
    private readonly p: {
      alpha: number;
      beta: number;
      gamma: number;
      etaDec: number;
      mtu: number;
      bdp: number;
      line: number;
      wire: number;
      rttPs: number;
    },
  ) {
    this.cw = new Float64Array(flows).fill(p.bdp / p.mtu);
    this.window = new Float64Array(flows).fill(p.bdp);
    this.rate = new Float64Array(flows).fill(p.line);
  }

  /** events: parallel arrays of flow index, packets acked, packets marked. */
  process(flow: Uint32Array, acked: Uint32Array, marked: Uint32Array, count: number): number {
    const { alpha, beta, gamma, etaDec, mtu, bdp, line, wire, rttPs } = this.p;
    const hi = bdp / mtu;
    for (let i = 0; i < count; i++) {
      const f = flow[i]!;
      const a = acked[i]!;
      const m = Math.min(marked[i]!, a);
      let cw = this.cw[f]!;
      if (cw >= 1) {
        cw += (alpha * (a - m)) / cw;
        cw -= beta * m;
      } else if (m > 0) cw = Math.max(cw * etaDec, gamma);
      else cw += gamma * a;
      cw = cw < gamma ? gamma : cw > hi ? hi : cw;
      this.cw[f] = cw;
      if (cw >= 1) {
        this.window[f] = cw * mtu;
        this.rate[f] = line;
      } else {
        this.window[f] = mtu;
        this.rate[f] = (wire * 8 * cw) / (rttPs * 1e-12);
      }
    }
    return count;
  }
}
