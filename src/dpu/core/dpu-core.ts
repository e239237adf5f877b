import { EventEmitter } from 'node:events';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { readBurstLatency } from './burst-latency.js';
import { readCounters, type CoreCounters } from './core-counters.js';
import { DEFAULT_WEIGHT, MAX_WEIGHT, MIN_WEIGHT } from './fair-share.js';
import { readJobCounters, type JobCounters } from './job-counters.js';
import { PT_TID, PT_TRACED, readPauseTrace, schedSnapshot, type PauseTrace } from './pause-trace.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import { CommandChannel } from './command-channel.js';
import {
  CORE_MODES,
  CTL_BURSTS,
  CTL_COUNTERS,
  CTL_CPU,
  CTL_JOB_COUNT,
  CTL_JOBS,
  CTL_TRACE,
  CTL_MODE,
  CTL_NICE,
  CTL_NICE_REFUSED,
  CTL_RUN_STATE,
  RUN_STATE_NAMES,
  RunState,
  ringDoorbell,
  type CoreMode,
  type CoreRunState,
} from './core-layout.js';
import { Op, opName, type OpCode } from './core-protocol.js';
import { HOST_JOB_KINDS, type HostJobKind } from './host-job.js';
import type { ReactorExit, ReactorInit } from './reactor.js';

/** Why a job stopped running. */
export interface JobFailure {
  /** The negative status its entry returned, or the reactor's status for a trap. */
  status: number;
  /** What happened, for people (a trap's message, or the status). */
  message: string;
}

/** A job: one kernel entry polled by one core with one state region. */
export interface Job {
  /** Unique in its pool. */
  readonly id: number;
  /** The core that polls it. */
  readonly coreId: number;
  /** The kernel version serving the job now (a hot swap changes it). */
  kernel: LoadedKernel;
  /** The version a hot swap moved it from, while that version is still loaded (its rollback target). */
  previous: LoadedKernel | null;
  /** The function export polled every pass: `(state, budget) → items` (negative: a status that fails the job). */
  readonly entry: string;
  /** The export run before the core sleeps, to re-enable notifications and re-check for work (null: none). */
  readonly arm: string | null;
  /** Address of the job's state region in host memory, passed to every call. */
  readonly state: number;
  /** Items per burst the entry may handle, at least 1 (the job's share of a pass). */
  readonly budget: number;
  /** Its share of the core under contention (fair-share.ts); setJobWeight changes it. */
  weight: number;
  /** Host address of its u64 work counter, or 0 (charged a quantum per busy call). */
  readonly workAddr: number;
  /** `running` until it fails (a trap or a negative status) or is detached. */
  status: 'running' | 'failed' | 'detached';
  /** Why it failed, once it has. */
  failure?: JobFailure;
}

/** A host job (host-job.ts) on a core: TypeScript the core runs before its kernels' bursts, every pass. */
export interface HostJobHandle {
  /** Unique in its pool (kernel jobs and host jobs share the ids). */
  readonly id: number;
  readonly coreId: number;
  readonly kind: HostJobKind;
  /** `running` until it throws (the core detaches it) or is detached. */
  status: 'running' | 'failed' | 'detached';
  /** Why it failed, once it has. */
  failure?: JobFailure;
}

/** A job failed on its core (the pool's `'job-failed'` event); the core and its other jobs go on. */
export interface JobFailedEvent {
  /** Its core. */
  coreId: number;
  /** The job, now with status `failed`. */
  job: Job;
  /** Why. */
  failure: JobFailure;
}

/** A swapped job failed on its new kernel and the core put it back on the previous one. */
export interface JobRolledBackEvent {
  /** Its core. */
  coreId: number;
  /** The job, running `to` again. */
  job: Job;
  /** The version that failed. */
  from: LoadedKernel;
  /** The version the job runs again. */
  to: LoadedKernel;
  /** Why it failed on `from`. */
  failure: JobFailure;
}

/** How the commit of a swap converts each job's state (run by the module with the newer layout). */
export interface SwapTransform {
  /** Function export `(state, fromLayout, toLayout) → status`. */
  name: string;
  /** Which of the two kernels exports it. */
  in: 'from' | 'to';
  /** The state layout jobs have now (`from`'s `QT_STATE_LAYOUT`), 0..65535. */
  fromLayout: number;
  /** The state layout `to` reads, 0..65535. */
  toLayout: number;
}

/** What one core reports for the commit of a swap. */
export interface SwapCommit {
  /** The core. */
  coreId: number;
  /** From the commit being requested (command posted) to the jobs running the new version, measured by the core. */
  pauseNs: number;
  /** Jobs moved to the new version on this core. */
  jobs: number;
  /** Where the pause went (the core's own figures; more of them on a core started with `trace`). */
  trace: PauseTrace;
}

/** What a core needs from its pool. */
export interface CoreContext {
  host: HostMemoryApi;
  control: StateRegion;
  launch(init: ReactorInit): Promise<ReactorExit>;
  nextJobId(): number;
  commandTimeoutMs: number;
  /** Start the reactor with diagnostic timing (ReactorInit.trace). */
  trace: boolean;
}

/**
 * The main thread's handle on one DPU core (`host.dpu.core(i)`): starts and stops its reactor
 * task, sends it commands (through its CommandChannel) and keeps the jobs it runs, reads its
 * counters and run state straight from shared memory. Commands land between passes, so each at a
 * burst boundary; they fail with `QT_CORE_UNAVAILABLE` while the core is stopped or failed, and
 * `QT_TIMEOUT` when not acknowledged within `DpuOptions.commandTimeoutMs`.
 *
 * A producer on any thread that gives a core work publishes the work, then `Atomics.add(doorbell, 1)`,
 * then `Atomics.notify(doorbell)` if the core's sleeping word is set: {@link DpuCore.ringDoorbell}
 * does exactly that.
 *
 * Events: 'job-failed' (JobFailedEvent), 'host-job-failed' (HostJobHandle, its failure set),
 * 'job-rolled-back' (JobRolledBackEvent), 'core-failed' (Error), 'stopped'.
 *
 * Its pool builds it (`host.dpu.core(i)`); constructing one directly is unstable (`qingtian/internals`).
 */
export class DpuCore extends EventEmitter {
  /** Its index in the pool, 0-based. */
  readonly id: number;
  private readonly i32: Int32Array;
  private readonly channel: CommandChannel;
  private readonly jobs = new Map<number, Job>();
  private readonly hostJobs = new Map<number, HostJobHandle>();
  private task: Promise<ReactorExit> | null = null;
  private failed = false;
  private readonly life = new Lifetime('DpuCore', "its pool's close()");

  constructor(
    id: number,
    private readonly ctx: CoreContext,
  ) {
    super();
    this.id = id;
    this.i32 = ctx.host.i32;
    this.channel = new CommandChannel(id, ctx.host.i32, ctx.host.u8, ctx.control.base, ctx.commandTimeoutMs, {
      jobFailed: (jobId, status, message) => this.jobFailed(jobId, status, message),
      jobRolledBack: (jobId, status, message, failedKey) => this.jobRolledBack(jobId, status, message, failedKey),
    });
  }

  /** Base address of this core's control region (doorbell and sleeping words, for producers). */
  get controlBase(): number {
    this.life.check('controlBase');
    return this.ctx.control.base;
  }

  /** Where its reactor is now, read out of band. */
  runState(): CoreRunState {
    this.life.check('runState');
    return RUN_STATE_NAMES[Atomics.load(this.i32, (this.ctx.control.base + CTL_RUN_STATE) >> 2)] ?? 'failed';
  }

  /** How it waits when idle, read out of band. */
  mode(): CoreMode {
    this.life.check('mode');
    return CORE_MODES[Atomics.load(this.i32, (this.ctx.control.base + CTL_MODE) >> 2)] ?? 'poll';
  }

  /** Out-of-band read: never messages the core. */
  counters(): CoreCounters {
    this.life.check('counters');
    return readCounters(this.i32, this.ctx.control.base + CTL_COUNTERS);
  }

  /**
   * Each job's work, items, turns, passes sat out and weight, read out of band (job-counters.ts);
   * as of the core's last flush (every busy pass, every 256 idle ones, before every ack).
   */
  jobCounters(): JobCounters[] {
    this.life.check('jobCounters');
    return readJobCounters(this.i32, this.ctx.control.base + CTL_JOBS);
  }

  /**
   * How long each burst of job `jobId` held this core (each call that did work), as a latency
   * histogram read out of band (burst-latency.ts); null when the job never ran here.
   */
  burstLatency(jobId: number): LatencyHistogramData | null {
    this.life.check('burstLatency');
    return readBurstLatency(this.i32.buffer, this.ctx.control.base + CTL_BURSTS, jobId);
  }

  /**
   * The kernel thread id of the thread running its reactor (Linux), for reading the scheduler's
   * view of it (/proc/self/task/<tid>/schedstat); null before it started or where unknown.
   */
  threadId(): number | null {
    this.life.check('threadId');
    const tid = new Float64Array(this.ctx.host.memory.buffer)[((this.ctx.control.base + CTL_TRACE) >> 3) + PT_TID]!;
    return tid > 0 ? tid : null;
  }

  /** Jobs the core runs now, as the core counts them (out of band). */
  jobCount(): number {
    this.life.check('jobCount');
    return Atomics.load(this.i32, (this.ctx.control.base + CTL_JOB_COUNT) >> 2);
  }

  /** Starts (or restarts) the reactor task. Kernels must be loaded again by the caller. */
  start(mode: CoreMode, idleSpinPolls: number, nice: number | null = null, cpu: number | null = null): void {
    this.life.check('start');
    if (this.task) throw new QingtianError(ErrorCode.CoreUnavailable, `core ${this.id} is already running`);
    this.channel.reset();
    this.failed = false;
    Atomics.store(this.i32, (this.ctx.control.base + CTL_RUN_STATE) >> 2, RunState.NotStarted);
    const task = this.ctx.launch({
      coreId: this.id,
      memory: this.ctx.host.memory,
      controlBase: this.ctx.control.base,
      mode,
      idleSpinPolls,
      nice,
      cpu,
      trace: this.ctx.trace,
    });
    this.task = task;
    this.channel.open();
    task.then(
      () => this.ended(null),
      (e: unknown) => this.ended(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /**
   * The core thread's scheduling priority and CPU as the core set them (out of band),
   * and whether a priority raise was refused.
   */
  priority(): { nice: number; refused: boolean; cpu: number | null } {
    this.life.check('priority');
    const base = this.ctx.control.base;
    const cpu = Atomics.load(this.i32, (base + CTL_CPU) >> 2);
    return {
      nice: Atomics.load(this.i32, (base + CTL_NICE) >> 2),
      refused: Atomics.load(this.i32, (base + CTL_NICE_REFUSED) >> 2) !== 0,
      cpu: cpu < 0 ? null : cpu,
    };
  }

  /** A control-command round trip: resolves when the core has acknowledged it. */
  ping(): Promise<void> {
    return this.command(Op.Ping, []);
  }

  /**
   * Attaches a job: `entry(state, budget)` is polled every pass. The optional `arm(state, budget)`
   * runs before the core sleeps (interrupt/adaptive modes): it re-enables the job's
   * notifications, re-checks for work and returns what is pending (> 0 keeps the core awake).
   * `weight` (1–10000, default 100) is its share of the core under contention; `workAddr` the
   * host address of the u64 its kernel adds its work units to (fair-share.ts), 0 for none;
   * `clockAddr` the host address (8-aligned) of an f64 the core writes its clock into before each
   * call (ns, the process.hrtime clock), 0 for none; `splitAddr` the host address of a burst split
   * block (burst-split.ts: per-key burst durations, one observation per item), 0 for none.
   */
  async attachJob(spec: {
    kernel: LoadedKernel;
    entry: string;
    arm?: string | undefined;
    state: number;
    budget: number;
    weight?: number | undefined;
    workAddr?: number | undefined;
    clockAddr?: number | undefined;
    splitAddr?: number | undefined;
  }): Promise<Job> {
    this.life.check('attachJob');
    const weight = checkWeight(spec.weight ?? DEFAULT_WEIGHT);
    const id = this.ctx.nextJobId();
    const entryIndex = spec.kernel.entryIndex(spec.entry);
    const armIndex = spec.arm === undefined ? -1 : spec.kernel.entryIndex(spec.arm);
    const job: Job = {
      id,
      coreId: this.id,
      kernel: spec.kernel,
      previous: null,
      entry: spec.entry,
      arm: spec.arm ?? null,
      state: spec.state,
      budget: spec.budget,
      weight,
      workAddr: spec.workAddr ?? 0,
      status: 'running',
    };
    // Registered before the command is sent: the job may fail in the core's very next pass, and
    // that event can be drained in the same batch as the attach ack.
    this.jobs.set(id, job);
    try {
      await this.command(Op.AttachJob, [
        id,
        spec.kernel.key,
        entryIndex,
        spec.state,
        spec.budget,
        armIndex,
        weight,
        job.workAddr,
        spec.clockAddr ?? 0,
        spec.splitAddr ?? 0,
      ]);
    } catch (e) {
      this.jobs.delete(id);
      throw e;
    }
    return job;
  }

  /**
   * Attaches a host job (host-job.ts): the core imports the kind's module on first use and builds
   * the job from `init` (plain data, sent as JSON), then polls it before its kernels' bursts in
   * every pass. A job that throws is detached ('host-job-failed'); the core goes on.
   * @internal
   */
  async attachHostJob(kind: HostJobKind, init: unknown): Promise<HostJobHandle> {
    this.life.check('attachHostJob');
    const bytes = new TextEncoder().encode(JSON.stringify(init));
    const owner = `core-${this.id}`;
    const region = this.ctx.host.alloc({
      name: `host-job-init-${kind}`,
      owner,
      kind: 'core-scratch',
      sizeBytes: Math.max(1, bytes.length),
    });
    const job: HostJobHandle = { id: this.ctx.nextJobId(), coreId: this.id, kind, status: 'running' };
    this.hostJobs.set(job.id, job);
    try {
      this.ctx.host.u8.set(bytes, region.base);
      await this.command(Op.AttachHostJob, [job.id, HOST_JOB_KINDS.indexOf(kind), region.base, bytes.length]);
    } catch (e) {
      this.hostJobs.delete(job.id);
      throw e;
    } finally {
      // The core reads the init before its ack (or a timeout, after which the core is unusable).
      this.ctx.host.free(region, owner);
    }
    return job;
  }

  /**
   * Detaches a host job: after the acknowledgement the core has closed it. One not running is left as it is.
   * @internal
   */
  async detachHostJob(job: HostJobHandle): Promise<void> {
    this.life.check('detachHostJob');
    if (job.status !== 'running') return;
    await this.command(Op.DetachJob, [job.id]);
    job.status = 'detached';
    this.hostJobs.delete(job.id);
  }

  /** Gives a running job a new share of the core (1–10000), from the core's next pass on. */
  async setJobWeight(job: Job, weight: number): Promise<void> {
    this.life.check('setJobWeight');
    const w = checkWeight(weight);
    await this.command(Op.SetJobWeight, [job.id, w]);
    job.weight = w;
  }

  /** Detaches a job: after the acknowledgement it runs no more. A job not running is left as it is. */
  async detachJob(job: Job): Promise<void> {
    this.life.check('detachJob');
    if (job.status !== 'running') return;
    await this.command(Op.DetachJob, [job.id]);
    job.status = 'detached';
    this.jobs.delete(job.id);
  }

  /** After the ack, no burst is in flight on this core and none starts until resume(). */
  quiesce(): Promise<void> {
    return this.command(Op.Quiesce, []);
  }

  /** Lets bursts run again after {@link DpuCore.quiesce}. */
  resume(): Promise<void> {
    return this.command(Op.Resume, []);
  }

  /** Changes how the core waits when idle; `idleSpinPolls` (adaptive mode) in [1, 10^9]. */
  setMode(mode: CoreMode, idleSpinPolls: number): Promise<void> {
    return this.command(Op.SetMode, [CORE_MODES.indexOf(mode), idleSpinPolls]);
  }

  /** Compiles and instantiates a loaded kernel on this core; resolves with how long the core spent on it (ns). */
  async loadKernel(kernel: LoadedKernel): Promise<number> {
    this.life.check('loadKernel');
    const [execNs] = await this.request(Op.LoadKernel, [
      kernel.key,
      kernel.image.payload,
      kernel.imageBytes,
      kernel.tables?.payload ?? 0,
    ]);
    return execNs;
  }

  /** Drops a kernel version from this core (the pool checks that no job uses it). */
  async unloadKernel(kernel: LoadedKernel): Promise<void> {
    this.life.check('unloadKernel');
    await this.command(Op.UnloadKernel, [kernel.key]);
    for (const job of this.jobs.values()) if (job.previous?.key === kernel.key) job.previous = null;
  }

  /**
   * The commit of a hot swap on this core, at its next burst boundary: every job of `from`
   * runs the same-named entries of `to` from then on, after `transform` (if any) converted its
   * state. Both kernels must be loaded on the core. All or nothing per core. Until `from` is
   * unloaded, a job that fails on `to` is put back on `from` by the core ('job-rolled-back').
   */
  async swapKernel(from: LoadedKernel, to: LoadedKernel, transform: SwapTransform | null): Promise<SwapCommit> {
    this.life.check('swapKernel');
    let code = -1;
    let layouts = 0;
    if (transform) {
      const holder = transform.in === 'from' ? from : to;
      code = (holder.entryIndex(transform.name) << 1) | (transform.in === 'from' ? 1 : 0);
      layouts = (transform.fromLayout & 0xffff) | ((transform.toLayout & 0xffff) << 16);
    }
    // The jobs are re-labelled as the ack is drained: a failure event right behind it (the new
    // version trapping in its first burst) must already find them on `to`.
    const relabel = (): void => {
      for (const job of this.jobs.values()) {
        if (job.kernel.key !== from.key) continue;
        job.kernel = to;
        job.previous = from;
      }
    };
    // `trace`: the scheduler's view of the core thread just before the command is posted.
    const f64 = new Float64Array(this.ctx.host.memory.buffer);
    const at = (this.ctx.control.base + CTL_TRACE) >> 3;
    const tid = f64[at + PT_TID]!;
    const before = f64[at + PT_TRACED] === 1 && tid > 0 ? schedSnapshot(tid) : null;
    // Arguments 4 and 5 get the request's timestamp as the record is written (stampArgs).
    const [pauseNs, jobs] = await this.request(Op.SwapKernel, [from.key, to.key, code, layouts, 0, 0], relabel, true);
    return { coreId: this.id, pauseNs, jobs, trace: readPauseTrace(f64, at, before) };
  }

  /**
   * Ends this handle's life when its pool closes (after the core stopped and before its control
   * region is freed): every later call throws QT_DISPOSED instead of reading freed memory.
   * @internal
   */
  retire(): void {
    this.life.end();
  }

  /** Stops the reactor; resolves when its task has returned. */
  async stop(): Promise<void> {
    const task = this.task;
    if (!task) return;
    if (!this.failed) await this.command(Op.Stop, []).catch(() => undefined);
    await task.catch(() => undefined);
  }

  /**
   * Announces work published for one of the core's jobs, waking it if it sleeps. Returns true
   * when this call woke the core out of Atomics.wait.
   */
  ringDoorbell(): boolean {
    this.life.check('ringDoorbell');
    return ringDoorbell(this.i32, this.ctx.control.base);
  }

  /** Jobs this handle attached and that are still running. */
  runningJobs(): Job[] {
    this.life.check('runningJobs');
    return [...this.jobs.values()];
  }

  private async command(op: OpCode, args: number[]): Promise<void> {
    await this.request(op, args);
  }

  /** Posts a command through the channel (see CommandChannel.request); refused while the core does not run. */
  private request(
    op: OpCode,
    args: number[],
    onOk?: (v: [number, number]) => void,
    stampArgs = false,
  ): Promise<[number, number]> {
    if (this.life.ended) return Promise.reject(this.life.error(opName(op)));
    if (!this.task || this.failed) {
      return Promise.reject(
        new QingtianError(
          ErrorCode.CoreUnavailable,
          `core ${this.id} is ${this.failed ? 'failed' : 'not running'}; cannot ${opName(op)}`,
        ),
      );
    }
    return this.channel.request(op, args, onOk, stampArgs);
  }

  private jobFailed(jobId: number, status: number, message: string): void {
    const host = this.hostJobs.get(jobId);
    if (host) {
      this.hostJobs.delete(jobId);
      host.status = 'failed';
      host.failure = { status, message };
      this.emit('host-job-failed', host);
      return;
    }
    const job = this.jobs.get(jobId);
    if (!job) return;
    this.jobs.delete(jobId);
    job.status = 'failed';
    job.failure = { status, message };
    this.emit('job-failed', { coreId: this.id, job, failure: job.failure } satisfies JobFailedEvent);
  }

  private jobRolledBack(jobId: number, status: number, message: string, failedKey: number): void {
    const job = this.jobs.get(jobId);
    if (!job || !job.previous || job.kernel.key !== failedKey) return;
    const from = job.kernel;
    job.kernel = job.previous;
    job.previous = null;
    this.emit('job-rolled-back', {
      coreId: this.id,
      job,
      from,
      to: job.kernel,
      failure: { status, message },
    } satisfies JobRolledBackEvent);
  }

  private ended(error: Error | null): void {
    this.task = null;
    this.channel.close();
    for (const job of this.jobs.values()) job.status = 'detached';
    this.jobs.clear();
    for (const job of this.hostJobs.values()) job.status = 'detached';
    this.hostJobs.clear();
    this.channel.failPending(error ? `failed: ${error.message}` : 'stopped');
    if (error) {
      this.failed = true;
      Atomics.store(this.i32, (this.ctx.control.base + CTL_RUN_STATE) >> 2, RunState.Failed);
      this.emit('core-failed', error);
    } else {
      this.emit('stopped');
    }
  }
}

function checkWeight(weight: number): number {
  if (!Number.isInteger(weight) || weight < MIN_WEIGHT || weight > MAX_WEIGHT)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `job weight: expected an integer in [${MIN_WEIGHT}, ${MAX_WEIGHT}], got ${String(weight)}`,
    );
  return weight;
}
