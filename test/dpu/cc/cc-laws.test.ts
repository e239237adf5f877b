import { afterEach, describe, expect, it } from 'vitest';
import { CcFlowTable, type CcEvent } from '../../../src/dpu/cc/cc-kernel.js';
import '../../../src/index.js';
import { Prng } from '../../../src/common/prng.js';

const US = 1e6; // ps
const line = 100e9;
const T = 13 * US;
const tables: CcFlowTable[] = [];
function table(o: ConstructorParameters<typeof CcFlowTable>[0]): CcFlowTable {
  const t = new CcFlowTable(o);
  tables.push(t);
  return t;
}
afterEach(() => {
  while (tables.length) tables.pop()!.dispose();
});

const LDCP = { P_LDCP_ALPHA: 1, P_LDCP_BETA: 0.5, P_LDCP_GAMMA: 0.25, P_LDCP_ETA_DEC: 0.5 };

describe('LDCP-style law', () => {
  it('starts at line rate with a BDP window', () => {
    const t = table({ law: 'ldcp', flows: 1, lineBps: line, baseRttPs: T, params: LDCP });
    expect(t.field(0, 'S_LDCP_CW')).toBeCloseTo(162.5, 6); // 100 Gb/s x 13 µs / 1000 B
    expect(t.windowBytes(0)).toBeCloseTo(162_500, 3);
    expect(t.rateBps(0)).toBe(line);
  });

  it('per ACK: cw += alpha(a - m)/cw, cw -= beta*m', () => {
    const t = table({ law: 'ldcp', flows: 1, lineBps: line, baseRttPs: T, params: LDCP });
    t.process([{ flow: 0, kind: 'ack', nowPs: 1, acked: 1, ece: true }]);
    expect(t.field(0, 'S_LDCP_CW')).toBeCloseTo(162.5 - 0.5, 9);
    t.process([{ flow: 0, kind: 'ack', nowPs: 2, acked: 2 }]);
    expect(t.field(0, 'S_LDCP_CW')).toBeCloseTo(162 + 2 / 162, 9);
    t.process([{ flow: 0, kind: 'ack', nowPs: 3, acked: 100 }]);
    expect(t.field(0, 'S_LDCP_CW')).toBe(162.5); // capped at BDP/MTU
  });

  it('compact ACKs (cc_acks) run the same law as full events, with mark counts above one', () => {
    const rng = new Prng(11);
    const full = table({ law: 'ldcp', flows: 64, lineBps: line, baseRttPs: T, params: LDCP });
    const compact = table({ law: 'ldcp', flows: 64, lineBps: line, baseRttPs: T, params: LDCP });
    const n = 2000;
    const batch = compact.ackBatch(n);
    const events: CcEvent[] = [];
    for (let i = 0; i < n; i++) {
      const flow = rng.int(64);
      const acked = 1 + rng.int(4);
      const marked = rng.next() < 0.2 ? 1 : 0; // full events carry one ECN flag: at most one mark
      events.push({ flow, kind: 'ack', nowPs: i, acked, ece: marked === 1 });
      batch.flows[i] = flow;
      batch.acked[i] = acked;
      batch.marked[i] = marked;
    }
    full.process(events);
    expect(compact.processAcks(n)).toBe(n);
    for (let f = 0; f < 64; f++) {
      expect(compact.field(f, 'S_LDCP_CW')).toBe(full.field(f, 'S_LDCP_CW'));
      expect(compact.windowBytes(f)).toBe(full.windowBytes(f));
      expect(compact.rateBps(f)).toBe(full.rateBps(f));
    }
    // Several marks in one ACK: cw -= beta*m (capped at the packets acked); a bad flow is skipped.
    batch.flows.set([3, 64]);
    batch.acked.set([4, 1]);
    batch.marked.set([9, 0]);
    const cw = compact.field(3, 'S_LDCP_CW');
    const rejected = compact.rejected;
    expect(compact.processAcks(2)).toBe(1);
    expect(compact.rejected).toBe(rejected + 1);
    expect(compact.field(3, 'S_LDCP_CW')).toBeCloseTo(cw - 0.5 * 4, 9);
  });

  it('compact ACKs are refused for other laws and outside the batch', () => {
    const t = table({ law: 'ldcp', flows: 4, lineBps: line, baseRttPs: T, params: LDCP });
    expect(() => t.processAcks(1)).toThrow(/^cc: processAcks: no ack batch yet/);
    t.ackBatch(8);
    expect(() => t.processAcks(9)).toThrow(/^cc: processAcks count: expected an integer in \[0, 8\], got 9$/);
    expect(() => t.ackBatch(0)).toThrow(/^cc: ackBatch cap: expected an integer in \[1, 16777216\], got 0$/);
    const d = table({ law: 'dcqcn', flows: 4, lineBps: line, baseRttPs: T });
    d.ackBatch(1);
    expect(() => d.processAcks(1)).toThrow(/the compact ACK form is for the LDCP-style law only/);
  });

  it('settles where the marking fraction is F* = alpha/(alpha + beta*W)', () => {
    // Mark each ACK with probability F; the window must settle at W* = alpha(1-F)/(beta F).
    for (const F of [0.01, 0.02, 0.05]) {
      const t = table({ law: 'ldcp', flows: 1, lineBps: line, baseRttPs: 3 * T, params: LDCP }); // starts at the cap, 487.5 MTU
      const rng = new Prng(7);
      let sum = 0;
      let n = 0;
      for (let round = 0; round < 1200; round++) {
        const batch: CcEvent[] = [];
        for (let i = 0; i < 500; i++) batch.push({ flow: 0, kind: 'ack', nowPs: round, acked: 1, ece: rng.next() < F });
        t.process(batch);
        if (round >= 600) {
          sum += 1 / t.field(0, 'S_LDCP_CW'); // stationarity gives E[1/cw] = 1/W*: the harmonic mean
          n++;
        }
      }
      const wStar = (1 * (1 - F)) / (0.5 * F);
      const w = n / sum;
      expect(Math.abs(w - wStar) / wStar).toBeLessThan(0.05);
      // and the equilibrium of docs/congestion-control.md ("The laws", LDCP-style): F* = alpha/(alpha + beta W)
      expect(Math.abs(1 / (1 + 0.5 * w) - F) / F).toBeLessThan(0.05);
    }
  });

  it('below one MTU: marks halve the window down to gamma, clean ACKs add gamma*a, one packet per T/cw', () => {
    const t = table({ law: 'ldcp', flows: 1, lineBps: line, baseRttPs: T, wireBytes: 1048, params: LDCP });
    const marks: CcEvent[] = [];
    for (let i = 0; i < 400; i++) marks.push({ flow: 0, kind: 'ack', nowPs: i, acked: 1, ece: true });
    t.process(marks);
    expect(t.field(0, 'S_LDCP_CW')).toBe(0.25);
    expect(t.windowBytes(0)).toBe(1000);
    expect(t.rateBps(0)).toBeCloseTo((1048 * 8 * 0.25) / 13e-6, 0);
    t.process([{ flow: 0, kind: 'ack', nowPs: 500, acked: 1, ece: true }]);
    expect(t.field(0, 'S_LDCP_CW')).toBe(0.25); // max(cw * 0.5, gamma)
    t.process([{ flow: 0, kind: 'ack', nowPs: 501, acked: 2 }]);
    expect(t.field(0, 'S_LDCP_CW')).toBeCloseTo(0.75, 12);
  });
});

const DCQCN = {
  P_DCQCN_G: 1 / 256,
  P_DCQCN_T_ALPHA_PS: 1 * US,
  P_DCQCN_T_DEC_PS: 4 * US,
  P_DCQCN_T_INC_PS: 300 * US,
  P_DCQCN_RAI: 20e6,
  P_DCQCN_RHAI: 200e6,
  P_DCQCN_RATE_FIRST_CNP: 1,
  P_DCQCN_F: 1,
  P_DCQCN_WINDOW: 1,
  P_DCQCN_CLAMP: 0,
};

describe('DCQCN law (Mellanox variant)', () => {
  it('first CNP: alpha = 1 and a halving at the next decrease tick, then recovery stages every 300 µs', () => {
    const t = table({ law: 'dcqcn', flows: 1, lineBps: line, baseRttPs: T, params: DCQCN });
    t.process([{ flow: 0, kind: 'ack', nowPs: 10 * US, ece: true }]);
    expect(t.rateBps(0)).toBe(line); // the decrease waits for the 4 µs tick
    t.process([{ flow: 0, kind: 'ack', nowPs: 14.002 * US }]);
    const alpha = 1 * (1 - 1 / 256) ** 4; // four alpha ticks without a CNP before the decrease tick
    const rc = line * (1 - alpha / 2);
    expect(t.field(0, 'S_DCQCN_RC')).toBeCloseTo(rc, -3);
    expect(t.field(0, 'S_DCQCN_RT')).toBe(line); // no clamp in stage 0
    expect(t.windowBytes(0)).toBeCloseTo((162_500 * rc) / line, 0); // DCQCN+window: BDP * rate / line
    // 300 µs later: stage 0 < F -> fast recovery RC = (RC + RT)/2
    t.process([{ flow: 0, kind: 'ack', nowPs: 314.002 * US }]);
    const rc1 = (rc + line) / 2;
    expect(t.field(0, 'S_DCQCN_RC')).toBeCloseTo(rc1, -3);
    expect(t.field(0, 'S_DCQCN_STAGE')).toBe(1);
    // stage 1 == F: additive increase, RT is already at line rate (capped)
    t.process([{ flow: 0, kind: 'ack', nowPs: 614.002 * US }]);
    expect(t.field(0, 'S_DCQCN_RC')).toBeCloseTo((rc1 + line) / 2, -3);
    expect(t.field(0, 'S_DCQCN_STAGE')).toBe(2);
  });

  it('alpha decays by (1-g) per microsecond without CNPs and rises by g with one', () => {
    const t = table({ law: 'dcqcn', flows: 1, lineBps: line, baseRttPs: T, params: DCQCN });
    t.process([{ flow: 0, kind: 'ack', nowPs: 0, ece: true }]);
    t.process([{ flow: 0, kind: 'ack', nowPs: 100.5 * US }]);
    expect(t.field(0, 'S_DCQCN_ALPHA')).toBeCloseTo((1 - 1 / 256) ** 100, 9);
    t.process([
      { flow: 0, kind: 'ack', nowPs: 100.6 * US, ece: true },
      { flow: 0, kind: 'ack', nowPs: 101.5 * US },
    ]);
    expect(t.field(0, 'S_DCQCN_ALPHA')).toBeCloseTo((1 - 1 / 256) * (1 - 1 / 256) ** 100 + 1 / 256, 9);
  });

  it('a decrease after a recovery stage clamps the target; then fast recovery, additive, hyper increase', () => {
    const t = table({ law: 'dcqcn', flows: 1, lineBps: line, baseRttPs: T, params: DCQCN });
    t.process([
      { flow: 0, kind: 'ack', nowPs: 0, ece: true },
      { flow: 0, kind: 'ack', nowPs: 5 * US },
    ]); // decrease at 4 µs + 1 ns
    t.process([{ flow: 0, kind: 'ack', nowPs: 700 * US }]); // increase ticks at 304, 604 µs: stage 2
    expect(t.field(0, 'S_DCQCN_STAGE')).toBe(2);
    t.process([
      { flow: 0, kind: 'ack', nowPs: 700 * US, ece: true },
      { flow: 0, kind: 'ack', nowPs: 701 * US },
    ]);
    t.process([{ flow: 0, kind: 'ack', nowPs: 705 * US }]); // the decrease tick after the CNP
    const rc = t.field(0, 'S_DCQCN_RC');
    const rt = t.field(0, 'S_DCQCN_RT');
    expect(t.field(0, 'S_DCQCN_STAGE')).toBe(0);
    expect(rt).toBeGreaterThan(rc); // clamped to the rate before this decrease
    expect(rt).toBeLessThan(line);
    t.process([{ flow: 0, kind: 'ack', nowPs: 1006 * US }]); // stage 0 -> fast recovery
    expect(t.field(0, 'S_DCQCN_RC')).toBeCloseTo((rc + rt) / 2, -2);
    expect(t.field(0, 'S_DCQCN_RT')).toBe(rt);
    t.process([{ flow: 0, kind: 'ack', nowPs: 1306 * US }]); // stage 1 == F -> additive: RT += 20 Mb/s
    expect(t.field(0, 'S_DCQCN_RT')).toBeCloseTo(rt + 20e6, -2);
    t.process([{ flow: 0, kind: 'ack', nowPs: 1606 * US }]); // stage 2 > F -> hyper: RT += 200 Mb/s
    expect(t.field(0, 'S_DCQCN_RT')).toBeCloseTo(rt + 220e6, -2);
  });
});

const HPCC = { P_HPCC_ETA: 0.95, P_HPCC_MAX_STAGE: 0, P_HPCC_RAI: 50e6, P_HPCC_FAST_REACT: 1 };
function intHop(tsPs: number, txBytes: number, qlenBytes: number): CcEvent['hops'] {
  return [{ tsPs, txBytes, qlenBytes, rateBps: line }];
}

describe('HPCC law', () => {
  it('drives a bottleneck it owns to utilisation eta with no standing queue', () => {
    // A fluid bottleneck of rate B fed by the flow at its HPCC rate; every µs an ACK returns the
    // INT of that hop (tx bytes, queue). One RTT = 13 µs of ACKs between reference updates.
    const t = table({ law: 'hpcc', flows: 1, lineBps: line, baseRttPs: T, params: HPCC });
    const B = 40e9; // a 40 G bottleneck behind a 100 G NIC
    let q = 0;
    let tx = 0;
    let servedLate = 0;
    let qLate = 0;
    for (let i = 0; i <= 3000; i++) {
      const sent = (t.rateBps(0) * 1e-6) / 8;
      const served = Math.min((B * 1e-6) / 8, q + sent);
      q = q + sent - served;
      tx += served;
      if (i >= 2000) {
        servedLate += served;
        qLate = Math.max(qLate, q);
      }
      t.process([
        {
          flow: 0,
          kind: 'ack',
          nowPs: i * US,
          ackSeq: i + 1,
          sndNxt: i + 14,
          hops: [{ tsPs: i * US, txBytes: Math.round(tx) >>> 0, qlenBytes: Math.round(q), rateBps: B }],
        },
      ]);
    }
    const util = (servedLate * 8) / (B * 1000e-6);
    expect(util).toBeGreaterThan(0.93);
    expect(util).toBeLessThan(0.97);
    expect(qLate).toBeLessThan(2000); // bytes: no standing queue
    expect(t.field(0, 'S_HPCC_U')).toBeCloseTo(0.95, 1);
    expect(t.windowBytes(0)).toBeCloseTo((162_500 * t.rateBps(0)) / line, 0);
  });

  it('commits the reference rate once per RTT and only fast-reacts in between', () => {
    const t = table({ law: 'hpcc', flows: 1, lineBps: line, baseRttPs: T, params: HPCC });
    const full = line / 8 / 1e6;
    t.process([{ flow: 0, kind: 'ack', nowPs: 0, ackSeq: 1, sndNxt: 100, hops: intHop(0, 0, 0) }]); // first: remember INT
    t.process([
      {
        flow: 0,
        kind: 'ack',
        nowPs: 13 * US,
        ackSeq: 2,
        sndNxt: 101,
        hops: intHop(13 * US, Math.round(13 * full), 162_500),
      },
    ]);
    const fast = t.rateBps(0);
    expect(fast).toBeLessThan(line); // fast react changed the rate
    expect(t.field(0, 'S_HPCC_CUR_RATE')).toBe(line); // but not the committed one (ackSeq <= lastUpdateSeq)
    t.process([
      {
        flow: 0,
        kind: 'ack',
        nowPs: 26 * US,
        ackSeq: 101,
        sndNxt: 200,
        hops: intHop(26 * US, Math.round(26 * full), 162_500),
      },
    ]);
    expect(t.field(0, 'S_HPCC_CUR_RATE')).toBe(t.rateBps(0));
  });
});

describe('DCTCP law', () => {
  it('one decrease per window by alpha/2, alpha from the marked fraction per window', () => {
    const t = table({
      law: 'dctcp',
      flows: 1,
      lineBps: line,
      baseRttPs: T,
      params: { P_DCTCP_G: 1 / 16, P_DCTCP_RAI: 615e6 },
    });
    t.process([{ flow: 0, kind: 'ack', nowPs: 1, ackSeq: 1, sndNxt: 10, ece: true }]);
    expect(t.rateBps(0)).toBeCloseTo(line / 2, -3); // alpha starts at 1
    t.process([{ flow: 0, kind: 'ack', nowPs: 2, ackSeq: 2, sndNxt: 11, ece: true }]);
    expect(t.rateBps(0)).toBeCloseTo(line / 2, -3); // still in CWR until snd_nxt at the decrease is acked
    // a clean window: alpha = (1-g)*alpha + g*frac with frac = 1 (one mark / batch 1...), then increase
    const a0 = t.field(0, 'S_DCTCP_ALPHA');
    t.process([{ flow: 0, kind: 'ack', nowPs: 3, ackSeq: 11, sndNxt: 20 }]);
    expect(t.field(0, 'S_DCTCP_ALPHA')).toBeLessThanOrEqual(a0);
    expect(t.rateBps(0)).toBeCloseTo(line / 2 + 615e6, -3);
  });
});

describe('Swift law', () => {
  const SW = {
    P_SWIFT_AI: 1,
    P_SWIFT_BETA: 0.8,
    P_SWIFT_MAX_MDF: 0.5,
    P_SWIFT_BASE_TARGET_PS: 20 * US,
    P_SWIFT_HOP_PS: 3 * US,
    P_SWIFT_FS_RANGE_PS: 100 * US,
    P_SWIFT_FS_MIN_CWND: 0.1,
    P_SWIFT_FS_MAX_CWND: 100,
    P_SWIFT_MIN_CWND: 0.01,
    P_SWIFT_MAX_CWND: 162.5,
  };
  it('additive increase below the delay target, at most one bounded decrease per RTT above it', () => {
    const t = table({ law: 'swift', flows: 1, lineBps: line, baseRttPs: T, params: SW });
    const w0 = t.field(0, 'S_SWIFT_CWND');
    t.process([{ flow: 0, kind: 'ack', nowPs: 1 * US, acked: 1, rttPs: 15 * US }]);
    expect(t.field(0, 'S_SWIFT_CWND')).toBe(Math.min(162.5, w0 + 1 / w0));
    t.process([{ flow: 0, kind: 'ack', nowPs: 100 * US, acked: 1, rttPs: 200 * US }]);
    const w1 = t.field(0, 'S_SWIFT_CWND');
    expect(w1).toBeCloseTo(w0 * 0.5, 6); // 1 - 0.8 (200-target)/200 < 0.5: bounded by max_mdf
    t.process([{ flow: 0, kind: 'ack', nowPs: 110 * US, acked: 1, rttPs: 200 * US }]);
    expect(t.field(0, 'S_SWIFT_CWND')).toBe(w1); // within one RTT of the last decrease
  });
});

describe('burst API', () => {
  it('applies a batch over many flows in one call and skips events for unknown flows', () => {
    const t = table({ law: 'ldcp', flows: 1000, params: LDCP });
    const ev: CcEvent[] = [];
    for (let i = 0; i < 1000; i++) ev.push({ flow: i, kind: 'ack', nowPs: i, acked: 1, ece: i % 2 === 0 });
    ev.push({ flow: 5000, kind: 'ack', nowPs: 1, acked: 1 });
    expect(t.process(ev)).toBe(1000);
    expect(t.rejected).toBe(1);
    expect(t.field(0, 'S_LDCP_CW')).toBeCloseTo(162.5 - 0.5, 9);
    expect(t.field(1, 'S_LDCP_CW')).toBeCloseTo(162.5, 9);
  });

  it('rejects a bad table size with a stable code', () => {
    expect(() => new CcFlowTable({ law: 'ldcp', flows: 0 })).toThrow(
      expect.objectContaining({ code: 'QT_INVALID_ARGUMENT' }),
    );
  });
});
