import { describe, expect, it } from 'vitest';
import '../../src/index.js';
import { runFairness } from '../../src/netsim/fairness.js';
import { percentile } from '../../src/netsim/metrics.js';
import { runScenario } from '../../src/netsim/scenario.js';
import { fatTree, incastStar } from '../../src/netsim/topology.js';

describe('scenario: 16 -> 1 incast at 100 Gb/s', () => {
  it("LDCP without PFC: bottleneck queue p99 at most a quarter of DCQCN's, no pause, no drop", () => {
    const [ldcp, dcqcn] = runScenario({
      topology: incastStar(16),
      load: 0,
      cc: ['ldcp', 'dcqcn'],
      durationS: 0.02,
      seed: 1,
    });
    expect(ldcp!.pfc).toBe(false);
    expect(dcqcn!.pfc).toBe(true);
    expect(ldcp!.pfcPauses).toBe(0);
    expect(ldcp!.drops).toBe(0);
    expect(ldcp!.retransmits).toBe(0);
    const p99 = (r: typeof ldcp) =>
      percentile(
        r!.series.map((s) => s.bytes).sort((a, b) => a - b),
        99,
      );
    expect(ldcp!.series.length).toBeGreaterThan(19_000); // one sample per µs of the bottleneck port
    expect(p99(ldcp)).toBeLessThanOrEqual(p99(dcqcn) / 4);
    // Both keep the bottleneck busy (payload share of a 100 G link with 48 B headers: 95.4 G).
    for (const r of [ldcp!, dcqcn!]) {
      const gbps = (r.flows.reduce((s, f) => s + f.ackedBytes, 0) * 8) / 0.02 / 1e9;
      expect(gbps).toBeGreaterThan(90);
    }
  });
});

describe('scenario: four long flows joining and leaving one 100 Gb/s link', () => {
  it('LDCP: Jain index >= 0.98 within 1 ms of each change (1 ms windows)', () => {
    const r = runFairness({
      cc: 'ldcp',
      joinMs: [0, 3, 6, 9],
      leaveMs: [12, 15, 18, undefined],
      endMs: 21,
      windowUs: 1000,
    });
    expect(r.changes).toHaveLength(7);
    expect(r.changes.map((c) => c.active)).toEqual([1, 2, 3, 4, 3, 2, 1]);
    expect(r.worstConvergeMs).toBeLessThanOrEqual(1);
    for (const w of r.windows) expect(w.jain).toBeGreaterThanOrEqual(0.98);
  });
});

describe('scenario: WebSearch on a small fat tree', () => {
  it('produces per-size-bin slowdowns for each algorithm, lossless with PFC and loss-free for LDCP', () => {
    const cdf = {
      name: 'websearch',
      sizes: [0, 10000, 20000, 30000, 50000, 80000, 200000, 1000000, 2000000, 5000000, 10000000, 30000000],
      cum: [0, 15, 20, 30, 40, 53, 60, 70, 80, 90, 97, 100],
    };
    const results = runScenario({
      topology: fatTree(4),
      cdf,
      load: 0.5,
      cc: ['ldcp', 'hpcc', 'dcqcn'],
      durationS: 0.002,
      seed: 2,
    });
    for (const r of results) {
      expect(r.bins.length).toBe(20);
      expect(r.bins.every((b) => b.p50 >= 1 && b.p99 >= b.p95 && b.p95 >= b.p50)).toBe(true);
      expect(r.short.count).toBeGreaterThan(20);
      expect(r.drops).toBe(0);
      expect(r.events).toBeGreaterThan(0);
    }
  });
});
