import type { HostJob } from '../core/host-job.js';
import { LoaderRuntime } from '../kernels/kernel-runtime.js';
import { SubMemory } from '../../memory/sub-memory.js';
import type { CtTimeouts } from './conntrack.js';
import type { Downcall } from './flow-actions.js';
import { Revalidator } from './revalidator.js';
import { SlowPath } from './slow-path.js';
import { SlowPathRunner } from './slow-path-runner.js';
import { SharedSwitchEnd, type SlowPathSwitchInit } from './slow-path-switch.js';
import { VpcModel } from './vpc-model.js';
import { applyModelOp, type ModelOp } from './vpc-model-ops.js';

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
  /** The stats mailbox (slow-path-on-core.ts). */
  statsAddr: number;
  statsBytes: number;
}

/** Stats mailbox words (i32): request, answer, JSON length; the JSON from byte 16. */
export const SPH_REQUEST = 0;
export const SPH_ANSWER = 1;
export const SPH_LENGTH = 2;
export const SPH_JSON = 16;

/**
 * The routing-table slow path as a host job: the VPC model (a replica, from its changes), the
 * slow path, the revalidator and the runner, on the DPU core that serves the switch. A pass that
 * finds the upcall bell moved decides the waiting upcalls at once, and the core takes the
 * answers (install, re-inject) in its next pass: a first packet never leaves the core's thread.
 */
class SlowPathHostJob implements HostJob {
  private readonly runner: SlowPathRunner;
  private readonly sw: SharedSwitchEnd;
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
    const sw = new SharedSwitchEnd(runtime, init.switchEnd);
    this.sw = sw;
    this.runner = new SlowPathRunner(sw, runtime.memory, slow, reval, { clock, sweepMs: SWEEP_MS });
    this.runner.send(early);
    for (const p of init.ports) this.runner.addPort(p);
    this.bell = sw.upcallBellAddr >> 2;
    this.seen = Atomics.load(this.i32, this.bell) - 1; // the first poll pumps (and ticks the switch)
  }

  poll(): number {
    const i32 = this.i32;
    const bell = Atomics.load(i32, this.bell);
    let n = 0;
    if (bell !== this.seen || !this.runner.idle()) {
      this.seen = bell;
      n = this.runner.pump();
      if (n === 0 && this.runner.busy()) n = 1; // downcalls waiting for room: keep the core polling
    } else if (this.sweepDue || ((++this.polls & 1023) === 0 && this.clock() >= this.nextSweep)) {
      this.sweepDue = false;
      // Time is read every 1024 idle polls only: an idle pass of the core stays a few loads.
      this.nextSweep = this.clock() + SWEEP_MS;
      this.runner.pump();
    }
    const base = this.init.statsAddr >> 2;
    if (base !== 0 && Atomics.load(i32, base + SPH_REQUEST) !== Atomics.load(i32, base + SPH_ANSWER))
      this.answerStats();
    return n;
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

  private answerStats(): void {
    const base = this.init.statsAddr;
    const json = new TextEncoder().encode(
      JSON.stringify({ slowPath: this.slow.stats(), runner: this.runner.stats() } satisfies SlowPathHostStats),
    );
    const room = this.init.statsBytes - SPH_JSON;
    const i32 = this.i32;
    const idx = base >> 2;
    if (json.length <= room) new Uint8Array(i32.buffer).set(json, base + SPH_JSON);
    Atomics.store(i32, idx + SPH_LENGTH, json.length <= room ? json.length : -1);
    Atomics.store(i32, idx + SPH_ANSWER, Atomics.load(i32, idx + SPH_REQUEST));
    Atomics.notify(i32, idx + SPH_ANSWER);
  }
}

/** What the stats mailbox answers. */
export interface SlowPathHostStats {
  slowPath: ReturnType<SlowPath['stats']>;
  runner: ReturnType<SlowPathRunner['stats']>;
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
