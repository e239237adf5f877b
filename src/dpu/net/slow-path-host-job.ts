import type { HostJob } from '../core/host-job.js';
import { LoaderRuntime } from '../kernels/kernel-runtime.js';
import { SubMemory } from '../../memory/sub-memory.js';
import type { CtTimeouts } from './conntrack.js';
import { DROP_REASONS, type DropReason, type Downcall } from './flow-actions.js';
import { ChangeLogReader, type SlowPathChange } from './slow-path-changes.js';
import type { SlowPathCounterName, SlowPathStats } from './slow-path-types.js';
import { Revalidator } from './revalidator.js';
import { SlowPath } from './slow-path.js';
import { SlowPathRunner, type RunnerStats } from './slow-path-runner.js';
import { SharedSwitchEnd, type SlowPathSwitchInit } from './slow-path-switch.js';
import { VpcModel } from './vpc-model.js';
import { applyModelOp, replayDowncalls, type ModelOp } from './vpc-model-ops.js';

/** What a slow path on a DPU core is built from (plain data: it travels as JSON). */
export interface SlowPathHostInit {
  /** Host memory for this job's kernel instances and its model's route and classifier tables. */
  arenaBase: number;
  arenaBytes: number;
  /** The model's options and its accepted changes, replayed in order (vpc-model-ops.ts). */
  model: { seed?: number | undefined; maxPortId?: number | undefined };
  ops: ModelOp[];
  ctTimeouts?: Partial<CtTimeouts> | undefined;
  ctMaxEntries?: number | undefined;
  /** The switch's rings; the ports whose upcall rings it drains. */
  switchEnd: SlowPathSwitchInit;
  ports: number[];
  /** The clock's zero as epoch ms (the caller's performance.timeOrigin): both sides read one time. */
  clockOrigin: number;
  /** The changes that follow `ops` (slow-path-changes.ts): the log's base and capacity. */
  logBase: number;
  logCapacity: number;
  /** Where the counters are published (STATS_FIELDS, f64 each). */
  statsAddr: number;
}

/**
 * The counters a slow path on a core publishes after every burst and change, f64 each, in this
 * order: the slow path's counters, its drops by reason, connections tracked, the runner's.
 */
export const SLOW_PATH_COUNTERS: readonly SlowPathCounterName[] = [
  'upcalls',
  'installed',
  'reinjected',
  'arpReplies',
  'connections',
  'truncated',
  'revalidations',
];
export const RUNNER_COUNTERS: readonly (keyof RunnerStats)[] = ['bursts', 'upcalls', 'downcalls', 'backlog', 'busyMs'];
export const STATS_FIELDS = SLOW_PATH_COUNTERS.length + DROP_REASONS.length + 1 + RUNNER_COUNTERS.length;

/** Reads what publishStats wrote. */
export function readSlowPathStats(f64: Float64Array, addr: number): { slowPath: SlowPathStats; runner: RunnerStats } {
  let i = addr >> 3;
  const counters = {} as Record<SlowPathCounterName, number>;
  for (const k of SLOW_PATH_COUNTERS) counters[k] = f64[i++]!;
  const drops = {} as Record<DropReason, number>;
  for (const k of DROP_REASONS) drops[k] = f64[i++]!;
  const connections = f64[i++]!;
  const runner = {} as RunnerStats;
  for (const k of RUNNER_COUNTERS) runner[k] = f64[i++]!;
  return { slowPath: { counters, drops, connections }, runner };
}

/**
 * The routing-table slow path as a host job: the VPC model (a replica, from its changes), the
 * slow path, the revalidator and the runner, on the DPU core that serves the switch. A pass that
 * finds the upcall bell moved decides the waiting upcalls at once, and the core takes the
 * answers (install, re-inject) in the same pass: a first packet never leaves the core's thread.
 */
class SlowPathHostJob implements HostJob {
  private readonly runner: SlowPathRunner;
  private readonly sw: SharedSwitchEnd;
  private readonly log: ChangeLogReader;
  private readonly f64: Float64Array;
  private readonly i32: Int32Array;
  private readonly bell: number;
  private seen: number;
  private nextSweep = 0;
  private polls = 0;
  private sweepDue = false;

  constructor(
    memory: WebAssembly.Memory,
    private readonly init: SlowPathHostInit,
    private readonly model: VpcModel,
    private readonly slow: SlowPath,
    runtime: LoaderRuntime,
    private readonly clock: () => number,
    reval: Revalidator,
    early: Downcall[],
  ) {
    this.i32 = new Int32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
    this.log = new ChangeLogReader(memory.buffer, init.logBase, init.logCapacity);
    const sw = new SharedSwitchEnd(runtime, init.switchEnd);
    this.sw = sw;
    this.runner = new SlowPathRunner(sw, runtime.memory, slow, reval, { clock, sweepMs: SWEEP_MS });
    this.runner.send(replayDowncalls(early));
    for (const p of init.ports) this.runner.addPort(p);
    this.bell = sw.upcallBellAddr >> 2;
    this.seen = Atomics.load(this.i32, this.bell) - 1; // the first poll pumps (and ticks the switch)
    this.publishStats();
  }

  poll(): number {
    let n = 0;
    // Changes first: an upcall that follows a change in time is decided on the changed model.
    if (this.log.pending()) n += this.log.drain((c) => this.apply(c));
    const bell = Atomics.load(this.i32, this.bell);
    if (bell !== this.seen || !this.runner.idle()) {
      this.seen = bell;
      n += this.runner.pump();
      if (n === 0 && this.runner.busy()) n = 1; // downcalls waiting for room: keep the core polling
    } else if (this.sweepDue || ((++this.polls & 1023) === 0 && this.clock() >= this.nextSweep)) {
      // Time is read every 1024 idle polls only: an idle pass of the core stays a few loads.
      this.sweepDue = false;
      this.nextSweep = this.clock() + SWEEP_MS;
      this.runner.pump();
      n = 1;
    }
    if (n > 0) this.publishStats();
    return n;
  }

  private apply(c: SlowPathChange): void {
    if ('model' in c) applyModelOp(this.model, c.model);
    else if ('addPort' in c) {
      this.sw.addUpcallRing(c.addPort);
      this.runner.addPort(c.addPort.port);
    } else {
      this.runner.removePort(c.removePort);
      this.sw.removeUpcallRing(c.removePort);
    }
  }

  /** Copies the counters out (a few dozen stores: cheap enough for every burst). */
  private publishStats(): void {
    const f64 = this.f64;
    let i = this.init.statsAddr >> 3;
    const s = this.slow.stats();
    for (const k of SLOW_PATH_COUNTERS) f64[i++] = s.counters[k];
    for (const k of DROP_REASONS) f64[i++] = s.drops[k];
    f64[i++] = s.connections;
    const r = this.runner.stats();
    for (const k of RUNNER_COUNTERS) f64[i++] = r[k];
  }

  /** Downcalls the revalidator made outside a burst. */
  send(d: Downcall[]): void {
    this.runner.send(d);
  }

  sleepMs(): number {
    if (this.runner.busy()) return 1;
    const left = this.nextSweep - this.clock();
    if (left > 0) return left;
    this.sweepDue = true;
    return 0;
  }

  close(): void {
    this.sw.free();
    this.slow.groups.dispose();
    this.model.dispose();
  }
}

/** Idle connections are swept this often (ms), as the main-thread runner does by default. */
const SWEEP_MS = 1000;

/** host-job.ts's entry for kind 'net-slow-path'. */
export function createHostJob(memory: WebAssembly.Memory, raw: unknown): HostJob {
  const init = raw as SlowPathHostInit;
  const runtime = new LoaderRuntime(new SubMemory(memory, init.arenaBase, init.arenaBytes));
  const origin = init.clockOrigin - performance.timeOrigin;
  const clock = (): number => performance.now() - origin;
  const model = new VpcModel({ runtime, seed: init.model.seed, maxPortId: init.model.maxPortId });
  const slow = new SlowPath(model, { runtime, clock, ctTimeouts: init.ctTimeouts, ctMaxEntries: init.ctMaxEntries });
  // The revalidator's first syncs (each port's groups) go out once the runner exists.
  const early: Downcall[] = [];
  let send = (d: Downcall[]): void => void early.push(...d);
  const reval = new Revalidator(model, slow, (d) => send(d));
  try {
    for (const op of init.ops) applyModelOp(model, op);
    const job = new SlowPathHostJob(memory, init, model, slow, runtime, clock, reval, early);
    send = (d) => job.send(d);
    return job;
  } catch (e) {
    slow.groups.dispose();
    model.dispose();
    throw e;
  }
}
