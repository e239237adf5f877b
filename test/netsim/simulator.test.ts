import { describe, expect, it } from 'vitest';
import '../../src/index.js';
import { ccSetup, type CcName } from '../../src/netsim/cc-config.js';
import { binRange } from '../../src/netsim/histogram.js';
import { compileNetwork } from '../../src/netsim/network.js';
import { Prng } from '../../src/common/prng.js';
import { readFlows, readPorts } from '../../src/netsim/results.js';
import { Simulation, type SimConfig } from '../../src/netsim/simulation.js';
import { fatTree, incastStar } from '../../src/netsim/topology.js';
import { incastFlows, poissonFlows, type SizeCdf } from '../../src/netsim/workload.js';
import { defaultRuntime } from '../../src/dpu/kernels/kernel-runtime.js';
import {
  C_OFF_EVQ,
  C_OFF_FLOWS,
  C_OFF_PORTS,
  C_PKT_CAP,
  EVQ_HEAP,
  EVQ_WHEEL,
  F_DST,
  HIST_BINS,
  PT_PEER,
  ST_BAD_STATE,
} from '../../src/generated/netsim.js';

const CDF: SizeCdf = { name: 'test', sizes: [0, 1000, 10_000, 100_000, 1_000_000], cum: [0, 30, 60, 90, 100] };

/** A small fat tree (16 hosts) with Poisson traffic: finishes in well under a second. */
function smallFatTree(cc: CcName, o: Partial<SimConfig> = {}, seed = 3, load = 0.5): Simulation {
  const net = compileNetwork(fatTree(4));
  const flows = poissonFlows({
    hosts: net.hosts,
    hostRateBps: 100e9,
    cdf: CDF,
    load,
    untilPs: 200e6,
    rng: new Prng(seed),
  });
  return Simulation.create({ network: net, flows, cc: ccSetup(cc), seed, ...o });
}

function drain(sim: Simulation): void {
  sim.runUntil(50e9); // 50 ms: far past the last flow's end
}

describe('simulator invariants', () => {
  for (const cc of ['ldcp', 'dcqcn', 'hpcc', 'dctcp', 'swift'] as const) {
    it(`${cc}: every byte sent is delivered once, every flow finishes, nothing leaks`, () => {
      const sim = smallFatTree(cc);
      try {
        drain(sim);
        const total = sim.config.flows.reduce((s, f) => s + f.sizeBytes, 0);
        expect(sim.counter('C_FINISHED', 'u32')).toBe(sim.config.flows.length);
        expect(sim.counter('C_INJECTED_BYTES')).toBe(total);
        expect(sim.counter('C_DELIVERED_BYTES')).toBe(total);
        expect(sim.counter('C_PKT_USED', 'u32')).toBe(0);
        expect(sim.counter('C_QUEUED_BYTES')).toBe(0);
        for (const f of readFlows(sim)) {
          expect(f.ackedBytes).toBe(f.sizeBytes);
          expect(f.slowdown).toBeGreaterThanOrEqual(1);
        }
      } finally {
        sim.dispose();
      }
    });
  }

  it('with PFC on there is no loss even when the buffer is tiny: pauses instead, and queues stay FIFO (no reordering)', () => {
    const net = compileNetwork(incastStar(16));
    const flows = incastFlows(net.hosts.slice(0, 16), net.hosts[16]!, 2_000_000);
    const sim = Simulation.create({
      network: net,
      flows,
      cc: ccSetup('dcqcn-nowin'),
      pfc: true,
      seed: 1,
      bufferBytes: 1_000_000,
    });
    try {
      drain(sim);
      expect(sim.counter('C_PAUSES')).toBeGreaterThan(0);
      expect(sim.counter('C_DROPS')).toBe(0);
      expect(sim.counter('C_RTX')).toBe(0);
      expect(sim.counter('C_OOO_ARRIVALS')).toBe(0);
      expect(sim.counter('C_DELIVERED_BYTES')).toBe(16 * 2_000_000);
    } finally {
      sim.dispose();
    }
  });

  it('without PFC a tiny buffer drops, and selective retransmission still delivers every byte', () => {
    const net = compileNetwork(incastStar(16));
    const flows = incastFlows(net.hosts.slice(0, 16), net.hosts[16]!, 500_000);
    const sim = Simulation.create({
      network: net,
      flows,
      cc: ccSetup('dcqcn-nowin'),
      pfc: false,
      seed: 1,
      bufferBytes: 300_000,
    });
    try {
      drain(sim);
      expect(sim.counter('C_DROPS')).toBeGreaterThan(0);
      expect(sim.counter('C_RTX')).toBeGreaterThanOrEqual(sim.counter('C_DROPS'));
      expect(sim.counter('C_PAUSES')).toBe(0);
      expect(sim.counter('C_DELIVERED_BYTES')).toBe(16 * 500_000);
      expect(sim.counter('C_FINISHED', 'u32')).toBe(16);
    } finally {
      sim.dispose();
    }
  });

  it('no link carries more than its rate in any 20 µs slice', () => {
    const sim = smallFatTree('dcqcn-nowin', {}, 5, 0.8);
    try {
      const net = sim.config.network;
      let prev = readPorts(sim).map((p) => p.txBytes);
      const slice = 20e6;
      for (let t = slice; t <= 300e6; t += slice) {
        sim.runUntil(t);
        const now = readPorts(sim).map((p) => p.txBytes);
        for (let p = 0; p < now.length; p++) {
          // One packet may straddle the slice edge.
          expect(now[p]! - prev[p]!).toBeLessThanOrEqual((net.portRate[p]! * slice * 1e-12) / 8 + 1200);
        }
        prev = now;
      }
      expect(Math.max(...prev)).toBeGreaterThan(0);
    } finally {
      sim.dispose();
    }
  });

  it('the same seed gives identical output; another seed does not', () => {
    const run = (seed: number) => {
      const sim = smallFatTree('ldcp', {}, seed);
      try {
        sim.runUntil(1e9);
        return {
          flows: readFlows(sim).map((f) => [f.finishPs, f.retransmits, f.ackedBytes]),
          events: sim.counter('C_EVENTS'),
          marks: sim.counter('C_ECN_MARKS'),
        };
      } finally {
        sim.dispose();
      }
    };
    const a = run(3);
    expect(run(3)).toEqual(a);
    expect(run(4)).not.toEqual(a);
  });

  it('the heap event queue gives the same network behaviour as the timing wheel', () => {
    const totals = (['wheel', 'heap'] as const).map((q) => {
      const sim = smallFatTree('hpcc', { eventQueue: q });
      try {
        drain(sim);
        return { delivered: sim.counter('C_DELIVERED_BYTES'), finished: sim.counter('C_FINISHED', 'u32') };
      } finally {
        sim.dispose();
      }
    });
    expect(totals[1]).toEqual(totals[0]);
  });
});

describe('state validation', () => {
  it('sim_init refuses a region whose indices or sizes are out of range', () => {
    const sim = smallFatTree('ldcp');
    try {
      const init = sim.kernel.fn<(st: number) => number>('sim_init');
      const v = sim.runtime.memory.view;
      const b = sim.region.base;
      const portOff = v.getUint32(b + C_OFF_PORTS, true);
      const flowOff = v.getUint32(b + C_OFF_FLOWS, true);
      const corrupt: [string, number, number][] = [
        ['a port whose peer is out of range', portOff + PT_PEER, 1 << 30],
        ['a flow to a switch', flowOff + F_DST, sim.config.network.topology.kinds.indexOf('switch')],
        ['an area past the end of the region', C_OFF_EVQ, sim.region.sizeBytes - 64],
        ['more packets than the pool holds', C_PKT_CAP, 1 << 30],
      ];
      for (const [what, off, value] of corrupt) {
        const old = v.getUint32(b + off, true);
        v.setUint32(b + off, value, true);
        expect(init(b), what).toBe(ST_BAD_STATE);
        v.setUint32(b + off, old, true);
      }
    } finally {
      sim.dispose();
    }
  });
});

describe('event queue', () => {
  it('wheel and heap pop the same times in the same order as a reference (hold model checksum)', () => {
    const rt = defaultRuntime();
    const k = rt.kernel('netsim');
    const bytes = k.fn<(cap: number) => number>('sim_evq_bytes')(1 << 14);
    const region = rt.memory.alloc({ name: 'evq-test', owner: 'test', kind: 'job-state', sizeBytes: bytes });
    try {
      const init = k.fn<(b: number, kind: number, cap: number, n: number, seed: bigint) => void>('evq_hold_init');
      const hold = k.fn<(b: number, ops: number, seed: bigint) => bigint>('evq_hold');
      const sums = [EVQ_WHEEL, EVQ_HEAP].map((kind) => {
        init(region.base, kind, 1 << 14, 5000, 11n);
        return hold(region.base, 200_000, 13n);
      });
      expect(sums[0]).toBe(sums[1]);
      expect(sums[0]).toBeGreaterThan(0n);
    } finally {
      rt.memory.free(region, 'test');
    }
  });

  it('each queue length falls in the range binRange gives the bin the kernel chose', () => {
    const k = defaultRuntime().kernel('netsim');
    const bin = k.fn<(b: number) => number>('sim_hist_bin');
    const rng = new Prng(1);
    for (let i = 0; i < 5000; i++) {
      const b = i < 100 ? i * 997 : Math.floor(rng.next() * 2 ** (5 + (i % 27)));
      const n = bin(b);
      const [lo, hi] = binRange(n);
      expect(n, `bin of ${b}`).toBeLessThan(HIST_BINS);
      expect(b, `bin ${n}`).toBeGreaterThanOrEqual(lo);
      if (n < HIST_BINS - 1) expect(b, `bin ${n}`).toBeLessThan(hi);
    }
    for (let n = 0; n + 1 < HIST_BINS; n++) expect(binRange(n)[1]).toBe(binRange(n + 1)[0]);
  });
});
