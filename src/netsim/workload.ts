import { readFileSync } from 'node:fs';
import { ErrorCode, QingtianError } from '../common/errors.js';
import type { Prng } from '../common/prng.js';

/** A flow to simulate: node ids, payload bytes, start time (ps). */
export interface FlowSpec {
  src: number;
  dst: number;
  sizeBytes: number;
  startPs: number;
}

/** A flow-size CDF: sizes (bytes) and cumulative percentages, sampled by linear interpolation. */
export interface SizeCdf {
  /** Where it came from (a file name), for outputs. */
  name: string;
  /** Flow sizes, bytes, increasing. */
  sizes: number[];
  /** Cumulative percentage at each size: non-decreasing, the last 100. */
  cum: number[];
}

/** `<size bytes> <cumulative percent>` per line (the HPCC authors' traffic_gen format). */
export function parseCdf(text: string, name: string): SizeCdf {
  const sizes: number[] = [];
  const cum: number[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [s, c] = line.split(/\s+/).map(Number);
    if (
      !Number.isFinite(s) ||
      !Number.isFinite(c) ||
      s! < 0 ||
      c! < 0 ||
      c! > 100 ||
      (cum.length > 0 && (c! < cum.at(-1)! || s! < sizes.at(-1)!))
    ) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `workload ${name}: line ${i + 1} '${line}' is not '<size bytes> <cumulative percent>' with both non-decreasing`,
        { line: i + 1 },
      );
    }
    sizes.push(s!);
    cum.push(c!);
  }
  if (sizes.length < 2 || cum.at(-1) !== 100)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `workload ${name}: a CDF needs at least two points and must end at 100 %`,
    );
  return { name, sizes, cum };
}

/** Reads a flow-size CDF file (see {@link parseCdf}); `QT_NOT_FOUND` when it cannot be read. */
export function loadCdf(path: string): SizeCdf {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new QingtianError(ErrorCode.NotFound, `--workload: cannot read '${path}'`, { path });
  }
  return parseCdf(text, path);
}

/** A size drawn from the CDF (at least 1 byte). */
export function sampleSize(cdf: SizeCdf, rng: Prng): number {
  const u = rng.next() * 100;
  for (let i = 1; i < cdf.cum.length; i++) {
    const c1 = cdf.cum[i]!;
    if (u <= c1) {
      const c0 = cdf.cum[i - 1]!;
      const s0 = cdf.sizes[i - 1]!;
      const s1 = cdf.sizes[i]!;
      const f = c1 > c0 ? (u - c0) / (c1 - c0) : 1;
      return Math.max(1, Math.round(s0 + f * (s1 - s0)));
    }
  }
  return Math.max(1, cdf.sizes.at(-1)!);
}

/** Mean of the piecewise-linear CDF (bytes). */
export function meanSize(cdf: SizeCdf): number {
  let m = 0;
  for (let i = 1; i < cdf.cum.length; i++)
    m += ((cdf.sizes[i - 1]! + cdf.sizes[i]!) / 2) * ((cdf.cum[i]! - cdf.cum[i - 1]!) / 100);
  return m;
}

/**
 * Poisson arrivals at every host with mean gap = mean size / (load * host rate), each to a
 * uniformly chosen other host — the HPCC evaluation's generator (docs/congestion-control.md,
 * "The simulator": Traffic). Load counts payload bytes. Flows start in [0, untilPs).
 */
export function poissonFlows(o: {
  hosts: number[];
  hostRateBps: number;
  cdf: SizeCdf;
  load: number;
  untilPs: number;
  rng: Prng;
}): FlowSpec[] {
  const flows: FlowSpec[] = [];
  const meanGapPs = ((meanSize(o.cdf) * 8) / (o.load * o.hostRateBps)) * 1e12;
  for (const src of o.hosts) {
    let t = o.rng.exp(meanGapPs);
    while (t < o.untilPs) {
      let dst = o.hosts[o.rng.int(o.hosts.length - 1)]!;
      if (dst === src) dst = o.hosts[o.hosts.length - 1]!;
      flows.push({ src, dst, sizeBytes: sampleSize(o.cdf, o.rng), startPs: Math.round(t) });
      t += o.rng.exp(meanGapPs);
    }
  }
  return sortFlows(flows);
}

/** Every sender starts one flow of `sizeBytes` to `dst` at `startPs`. */
export function incastFlows(senders: number[], dst: number, sizeBytes: number, startPs = 0): FlowSpec[] {
  return senders.map((src) => ({ src, dst, sizeBytes, startPs }));
}

/** By start time, then source, for a deterministic order. */
export function sortFlows(flows: FlowSpec[]): FlowSpec[] {
  return flows.sort((a, b) => a.startPs - b.startPs || a.src - b.src || a.dst - b.dst);
}
