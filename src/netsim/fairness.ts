import { ccSetup, type CcName } from './cc-config.js';
import { jainIndex } from './metrics.js';
import { compileNetwork } from './network.js';
import { Simulation } from './simulation.js';
import { dumbbell } from './topology.js';
import type { KernelRuntime } from '../dpu/kernels/kernel-runtime.js';

/** Options of {@link runFairness}. */
export interface FairnessOptions {
  /** The algorithm. */
  cc: CcName;
  /** Flow i starts at joinMs[i] and leaves at leaveMs[i] (undefined: stays to the end). */
  joinMs: number[];
  /** When each flow leaves, ms (undefined: it stays to the end). */
  leaveMs: (number | undefined)[];
  /** Simulated time the run ends at, ms. */
  endMs: number;
  /** Measurement window, µs. Default 100. */
  windowUs?: number;
  /** Jain's index that counts as converged, (0, 1]. Default 0.98. */
  threshold?: number;
  /** Seed, a u32. Default 1. */
  seed?: number;
  /** Where the simulation's state lives. Default: defaultRuntime(). */
  runtime?: KernelRuntime;
}

/** Per-window throughputs and fairness, and how fast each change converged. */
export interface FairnessResult {
  /** Per window: its start (ms), active flows, Jain's index over them, each one's Gb/s. */
  windows: { startMs: number; active: number; jain: number; gbps: number[] }[];
  /** Per change (a join or a leave): time until Jain stays >= threshold for the rest of the period. */
  changes: { atMs: number; active: number; convergeMs: number }[];
  /** The slowest change's convergence, ms (Infinity: one never converged). */
  worstConvergeMs: number;
}

/**
 * Staggered long flows over one bottleneck (dumbbell:N, 100 G): flows join and leave one by one;
 * throughput is measured per window from acknowledged bytes, Jain's index over the active flows.
 */
export function runFairness(o: FairnessOptions): FairnessResult {
  const n = o.joinMs.length;
  const net = compileNetwork(dumbbell(n));
  const huge = 0xffff_0000;
  const flows = o.joinMs
    .map((t, i) => ({ src: net.hosts[i]!, dst: net.hosts[n + i]!, sizeBytes: huge, startPs: Math.round(t * 1e9) }))
    .map((f, i) => ({ f, i }))
    .sort((a, b) => a.f.startPs - b.f.startPs || a.i - b.i);
  const order = flows.map((x) => x.i); // sim flow index -> option index
  const sim = Simulation.create({
    network: net,
    flows: flows.map((x) => x.f),
    cc: ccSetup(o.cc),
    seed: o.seed ?? 1,
    sampleNs: 0,
    ...(o.runtime ? { runtime: o.runtime } : {}),
  });
  const win = (o.windowUs ?? 100) * 1e6;
  const thr = o.threshold ?? 0.98;
  const windows: FairnessResult['windows'] = [];
  try {
    const last = new Array<number>(n).fill(0);
    const left = new Array<boolean>(n).fill(false);
    for (let t = win; t <= o.endMs * 1e9 + 1; t += win) {
      sim.runUntil(t);
      const gbps: number[] = [];
      const active: number[] = [];
      for (let k = 0; k < n; k++) {
        const i = order[k]!;
        const acked = sim.ackedBytes(k);
        const rate = ((acked - last[k]!) * 8) / (win * 1e-12) / 1e9;
        last[k] = acked;
        const start = o.joinMs[i]! * 1e9;
        const leave = o.leaveMs[i];
        if (start <= t - win && (leave === undefined || leave * 1e9 >= t)) {
          active.push(rate);
          gbps.push(rate);
        }
        if (leave !== undefined && !left[k] && leave * 1e9 <= t) {
          sim.truncateFlow(k);
          left[k] = true;
        }
      }
      windows.push({
        startMs: (t - win) / 1e9,
        active: active.length,
        jain: active.length ? jainIndex(active) : 1,
        gbps,
      });
    }
  } finally {
    sim.dispose();
  }
  const changeTimes = [...new Set([...o.joinMs, ...o.leaveMs.filter((x): x is number => x !== undefined)])].sort(
    (a, b) => a - b,
  );
  const changes: FairnessResult['changes'] = [];
  for (const [ci, c] of changeTimes.entries()) {
    const end = changeTimes[ci + 1] ?? o.endMs;
    const inPeriod = windows.filter(
      (w) => w.startMs >= c - 1e-9 && w.startMs + (o.windowUs ?? 100) / 1000 <= end + 1e-9,
    );
    let k = inPeriod.length;
    while (k > 0 && inPeriod[k - 1]!.jain >= thr) k--;
    const convergeMs = k === inPeriod.length ? Infinity : k === 0 ? 0 : inPeriod[k]!.startMs - c;
    changes.push({ atMs: c, active: inPeriod[0]?.active ?? 0, convergeMs });
  }
  return { windows, changes, worstConvergeMs: Math.max(...changes.map((c) => c.convergeMs)) };
}
