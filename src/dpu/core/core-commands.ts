import { bindBurstSlot } from './burst-latency.js';
import { BURST_SPLIT_SLOT_F64, bindBurstSplit } from './burst-split.js';
import { collectGarbage } from './core-gc.js';
import type { CoreKernels, CoreJob, JobFn } from './core-kernels.js';
import { CORE_MODES, CTL_BURSTS, CTL_MODE, CTL_RUN_STATE, RunState, type CoreMode } from './core-layout.js';
import { MAX_JOBS_PER_CORE, Op, Status, ackNs } from './core-protocol.js';
import { MAX_WEIGHT, MIN_WEIGHT, quantumOf, startShare } from './fair-share.js';
import type { HostJob } from './host-job.js';
import { JS_LENGTH } from './job-counters.js';

/** What the commands change: the reactor's own state, read by its loop between commands. */
export interface CoreState {
  jobs: CoreJob[];
  /** Host jobs (host-job.ts), polled after the kernels' jobs in every pass. */
  hostJobs: { id: number; job: HostJob }[];
  mode: CoreMode;
  idleSpinPolls: number;
  quiesced: boolean;
  stopped: boolean;
}

/**
 * The commands a core takes between passes (core-protocol.ts), but SwapKernel, which the reactor
 * runs itself (swap-commit.ts) because it times it. Each returns [status, message]; `ack0` and
 * `ack1` hold the result words its ack carries.
 */
export class CoreCommands {
  ack0 = 0;
  ack1 = 0;

  constructor(
    private readonly core: CoreState,
    private readonly kernels: CoreKernels,
    private readonly i32: Int32Array,
    private readonly controlBase: number,
    private readonly coreId: number,
  ) {}

  execute(op: number, a: Int32Array): [number, string] {
    const core = this.core;
    switch (op) {
      case Op.Ping:
        return [Status.Ok, ''];
      case Op.LoadKernel: {
        const t0 = process.hrtime.bigint();
        const r = this.kernels.load(a[0]!, a[1]! >>> 0, a[2]! >>> 0, a[3]! >>> 0, core.jobs);
        collectGarbage(); // now, in this stall, rather than inside a later commit (core-gc.ts)
        this.ack0 = ackNs(process.hrtime.bigint() - t0); // how long this core stopped serving to compile it
        return r;
      }
      case Op.UnloadKernel:
        return this.kernels.unload(a[0]!, core.jobs);
      case Op.AttachJob:
        return this.attachJob(
          a[0]!,
          a[1]!,
          a[2]!,
          a[3]! >>> 0,
          a[4]!,
          a[5]!,
          a[6]!,
          a[7]! >>> 0,
          a[8]! >>> 0,
          a[9]! >>> 0,
        );
      case Op.SetJobWeight:
        return this.setJobWeight(a[0]!, a[1]!);
      case Op.DetachJob: {
        const before = core.jobs.length;
        core.jobs = core.jobs.filter((j) => j.id !== a[0]);
        if (core.jobs.length < before) return [Status.Ok, ''];
        const host = core.hostJobs.find((h) => h.id === a[0]);
        if (!host) return [Status.NoSuchJob, `no job #${a[0]} on core ${this.coreId}`];
        core.hostJobs = core.hostJobs.filter((h) => h !== host);
        host.job.close();
        return [Status.Ok, ''];
      }
      case Op.Quiesce:
        core.quiesced = true;
        this.setWord(CTL_RUN_STATE, RunState.Quiesced);
        return [Status.Ok, ''];
      case Op.Resume:
        core.quiesced = false;
        this.setWord(CTL_RUN_STATE, RunState.Running);
        return [Status.Ok, ''];
      case Op.SetMode: {
        const mode = CORE_MODES[a[0]!];
        if (!mode || a[1]! < 1) return [Status.BadArgument, `mode ${a[0]} / idleSpinPolls ${a[1]} out of range`];
        core.mode = mode;
        core.idleSpinPolls = a[1]!;
        this.setWord(CTL_MODE, a[0]!);
        return [Status.Ok, ''];
      }
      case Op.Stop:
        core.stopped = true;
        return [Status.Ok, ''];
      default:
        return [Status.UnknownOp, `unknown command op ${op}`];
    }
  }

  private attachJob(
    id: number,
    key: number,
    entryIndex: number,
    state: number,
    budget: number,
    armIndex: number,
    weight: number,
    workAddr: number,
    clockAddr: number,
    splitAddr: number,
  ): [number, string] {
    const core = this.core;
    const kernel = this.kernels.get(key);
    if (!kernel) return [Status.NoSuchKernel, `kernel #${key} is not loaded on core ${this.coreId}`];
    const entry = kernel.exportNames[entryIndex];
    const fn = entry === undefined ? undefined : kernel.fns.get(entry);
    if (entry === undefined || typeof fn !== 'function')
      return [Status.NoSuchEntry, `kernel #${key} has no function export #${entryIndex}`];
    const arm = armIndex < 0 ? null : (kernel.exportNames[armIndex] ?? null);
    const armFn = arm == null ? null : kernel.fns.get(arm);
    if (armIndex >= 0 && typeof armFn !== 'function')
      return [Status.NoSuchEntry, `kernel #${key} has no function export #${armIndex}`];
    if (core.jobs.some((j) => j.id === id)) return [Status.JobExists, `job #${id} already runs on core ${this.coreId}`];
    if (core.jobs.length >= MAX_JOBS_PER_CORE)
      return [Status.TooManyJobs, `core ${this.coreId} already runs ${MAX_JOBS_PER_CORE} jobs`];
    if (budget < 1) return [Status.BadArgument, `budget ${budget} < 1`];
    if (weight < MIN_WEIGHT || weight > MAX_WEIGHT)
      return [Status.BadArgument, `weight: expected ${MIN_WEIGHT}..${MAX_WEIGHT}, got ${weight}`];
    if (workAddr !== 0 && (workAddr % 8 !== 0 || workAddr < 65536 || workAddr + 8 > this.i32.length * 4))
      return [
        Status.BadArgument,
        `work counter 0x${workAddr.toString(16)}: expected an 8-aligned address in host memory`,
      ];
    for (const [what, addr] of [
      ['clock word', clockAddr],
      ['burst split', splitAddr],
    ] as const)
      if (addr !== 0 && (addr % 8 !== 0 || addr < 65536 || addr + 8 > this.i32.length * 4))
        return [Status.BadArgument, `${what} 0x${addr.toString(16)}: expected an 8-aligned address in host memory`];
    const u32 = new Uint32Array(this.i32.buffer);
    const split = bindBurstSplit(u32, splitAddr);
    if (split && (split.histIdx + split.cap * BURST_SPLIT_SLOT_F64) * 8 > u32.length * 4)
      return [Status.BadArgument, `burst split 0x${splitAddr.toString(16)}: ${split.cap} keys run past host memory`];
    const job: CoreJob = {
      id,
      kernel,
      prev: null,
      back: null,
      entry,
      fn: fn,
      arm,
      armFn: armFn as JobFn | null,
      state,
      budget,
      weight,
      quantum: quantumOf(weight),
      workIdx: workAddr === 0 ? -1 : workAddr >> 2,
      stats: new Float64Array(JS_LENGTH),
      burst: bindBurstSlot(
        this.i32.buffer,
        this.controlBase + CTL_BURSTS,
        id,
        core.jobs.map((j) => j.id),
      ),
      clockIdx: clockAddr === 0 ? -1 : clockAddr >> 3,
      split,
    };
    startShare(job, this.i32);
    core.jobs = [...core.jobs, job];
    return [Status.Ok, ''];
  }

  /** A new weight for a job: its share from the next pass on (it starts the round afresh). */
  private setJobWeight(id: number, weight: number): [number, string] {
    const job = this.core.jobs.find((j) => j.id === id);
    if (!job) return [Status.NoSuchJob, `no job #${id} on core ${this.coreId}`];
    if (weight < MIN_WEIGHT || weight > MAX_WEIGHT)
      return [Status.BadArgument, `weight: expected ${MIN_WEIGHT}..${MAX_WEIGHT}, got ${weight}`];
    job.weight = weight;
    job.quantum = quantumOf(weight);
    startShare(job, this.i32);
    return [Status.Ok, ''];
  }

  private setWord(offset: number, value: number): void {
    Atomics.store(this.i32, (this.controlBase + offset) >> 2, value);
  }
}
