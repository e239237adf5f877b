import { JS_ACTIVE, JS_DEFICIT, JS_DEFERRED, JS_LAST_WORK } from './job-counters.js';

/*
 * Weighted fairness across the jobs of one core: deficit round robin (Shreedhar and Varghese)
 * over work units, the way a DPDK or kernel packet scheduler shares a link over bytes.
 *
 * A job's work is what its kernel reports: a u64 work counter in its state (AttachJob's
 * `workAddr`) to which it adds the units it did, one unit being about one byte moved (a virtio
 * device also charges each descriptor it walks; assembly/virtio/work-budget.ts). A job with no
 * work counter is charged one quantum of weight DEFAULT_WEIGHT per call that did work.
 *
 * Each job holds a deficit: the units it may still do in the current round. Every pass calls each
 * job whose deficit is positive, once, and takes what it did off its deficit (it may overshoot:
 * the debt is carried). A job whose deficit is used up sits the pass out. When no job that did
 * work still has credit, a new round starts: every job's deficit grows by its quantum,
 * `weight / DEFAULT_WEIGHT × QUANTUM_UNITS`, and is capped at one quantum, so a job that was idle
 * cannot bank credit and a job in debt pays it back first (rounds in which no job could run are
 * skipped at once). Hence:
 *
 * - under contention the core's work divides by weight, within one quantum per round;
 * - a lone busy job refills every pass: it gets the whole core;
 * - a job with a light load (an echo) is polled every pass and is never held back, because it
 *   never uses its quantum up;
 * - between two calls of a job, each other job does at most one call's work, which that job's
 *   own turn budget bounds: that is what bounds a neighbour's stall.
 */

/** The weight of a job attached without one: its share of a core is weight / (sum of the busy jobs' weights). */
export const DEFAULT_WEIGHT = 100;
/** The smallest weight a job may have. */
export const MIN_WEIGHT = 1;
/** The largest weight a job may have. */
export const MAX_WEIGHT = 10_000;

/**
 * Work units a job of weight DEFAULT_WEIGHT gets per round; also the default turn budget of a
 * virtio device (its bytes per call). Chosen from measurement: docs/design.md, "Fair cores".
 */
export const QUANTUM_UNITS = 64 * 1024;

/** The work units a job of `weight` gets per round (at least 1). */
export function quantumOf(weight: number): number {
  return Math.max(1, Math.round((weight * QUANTUM_UNITS) / DEFAULT_WEIGHT));
}

/** What fair-share needs of a job: its quantum, its numbers and where its work counter is. */
export interface FairJob {
  quantum: number;
  stats: Float64Array;
  /** Index (in 32-bit words of host memory) of the low word of its work counter, or -1. */
  workIdx: number;
}

/**
 * Work units a call did: the growth of the job's work counter (the low word is enough, a call
 * does less than 2^32 units), or, without one, a quantum of weight DEFAULT_WEIGHT if it did
 * anything.
 */
export function unitsDone(job: FairJob, i32: Int32Array, items: number): number {
  if (job.workIdx < 0) return items > 0 ? QUANTUM_UNITS : 0;
  const s = job.stats;
  const now = i32[job.workIdx]!;
  const units = (now - s[JS_LAST_WORK]!) >>> 0;
  s[JS_LAST_WORK] = now;
  return units;
}

/** A call that did work: takes `units` off the job's deficit; true when it still has credit in this round. */
export function charge(job: FairJob, units: number): boolean {
  const s = job.stats;
  const d = s[JS_DEFICIT]! - units;
  s[JS_DEFICIT] = d;
  s[JS_ACTIVE] = 1;
  return d > 0;
}

/** A call that found nothing to do: the job is not backlogged (its credit stays, capped at refill). */
export function idle(job: FairJob): void {
  job.stats[JS_ACTIVE] = 0;
}

/** True when the job has credit in this round; otherwise counts the pass it sits out. */
export function eligible(job: FairJob): boolean {
  const s = job.stats;
  if (s[JS_DEFICIT]! > 0) return true;
  s[JS_DEFERRED]!++;
  return false;
}

/**
 * A new round: each job's deficit grows by its quantum, capped at one quantum. When even that
 * would leave every backlogged job without credit (each is paying back a turn bigger than its
 * quantum), the rounds in which none of them could run are skipped at once: jobs with nothing
 * to do are not waited for, so a busy job of the smallest weight beside idle ones still runs
 * every pass.
 */
export function refill(jobs: readonly FairJob[]): void {
  let rounds = Infinity;
  for (let j = 0; j < jobs.length; j++) {
    const job = jobs[j]!;
    const s = job.stats;
    if (s[JS_ACTIVE] !== 1) continue;
    const d = s[JS_DEFICIT]!;
    const k = d > 0 ? 1 : Math.floor(-d / job.quantum) + 1;
    if (k < rounds) rounds = k;
  }
  if (rounds === Infinity) return;
  for (let j = 0; j < jobs.length; j++) {
    const job = jobs[j]!;
    const s = job.stats;
    const d = s[JS_DEFICIT]! + rounds * job.quantum;
    s[JS_DEFICIT] = d < job.quantum ? d : job.quantum;
  }
}

/** A job joining the core (or getting a new weight) starts with one quantum of credit. */
export function startShare(job: FairJob, i32: Int32Array): void {
  job.stats[JS_DEFICIT] = job.quantum;
  if (job.workIdx >= 0) job.stats[JS_LAST_WORK] = i32[job.workIdx]!;
}
