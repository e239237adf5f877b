import { getPriority, setPriority } from 'node:os';
import { CounterWriter } from './core-counters.js';
import { currentThreadId, pinThread } from './cpu-affinity.js';
import { CoreKernels, type CoreJob, type JobFn } from './core-kernels.js';
import {
  CORE_MODES,
  CTL_COUNTERS,
  CTL_CPU,
  CTL_DOORBELL,
  CTL_JOB_COUNT,
  CTL_MODE,
  CTL_NICE,
  CTL_NICE_REFUSED,
  CTL_RUN_STATE,
  CTL_SLEEPING,
  RunState,
  coreRings,
  type CoreMode,
} from './core-layout.js';
import {
  CMD_ARG_COUNT,
  CMD_ARGS,
  CMD_OP,
  CMD_SEQ,
  EV_ARG0,
  EV_ARG1,
  EV_JOB,
  EV_KIND,
  EV_MESSAGE_BYTES,
  EV_SEQ,
  EV_STATUS,
  EVENT_MESSAGE_BYTES,
  EVENT_MESSAGE_OFFSET,
  EventKind,
  MAX_JOBS_PER_CORE,
  Op,
  Status,
  ackNs,
} from './core-protocol.js';
import type { SpscRing } from './spsc-ring.js';
import { commitSwap, fallBack } from './swap-commit.js';

/** What a reactor task receives from the pool. */
export interface ReactorInit {
  coreId: number;
  memory: WebAssembly.Memory;
  controlBase: number;
  mode: CoreMode;
  idleSpinPolls: number;
  /** Scheduling priority (Linux nice, -20..19) for this core's thread; null keeps the thread's own. */
  nice: number | null;
  /** The CPU to pin this core's thread to (the pool has already moved every other thread off it), or null. */
  cpu: number | null;
}

export interface ReactorExit {
  coreId: number;
  passes: number;
}

// Counter slots (order of COUNTER_NAMES).
const C_PASSES = 0,
  C_BURSTS = 1,
  C_ITEMS = 2,
  C_IDLE = 3,
  C_SLEEPS = 4,
  C_WAKEUPS = 5,
  C_ERRORS = 6,
  C_COMMANDS = 7,
  C_DROPPED = 8;
const FLUSH_EVERY_IDLE = 256;
const encoder = new TextEncoder();

/**
 * One DPU core: a run-to-completion loop that owns its jobs (no locks), polls each one with one
 * JS→Wasm call per burst, and takes commands from its mailbox between passes — so every command
 * (detach, quiesce, swap) lands at a burst boundary, with no burst in flight. The kernels it
 * runs are in core-kernels.ts, the commit of a swap in swap-commit.ts, the commands it takes in
 * core-protocol.ts.
 *
 * Sleeping (interrupt / adaptive modes): the doorbell is read at the top of every pass, before
 * the mailbox and the jobs are polled. After an idle pass the core sets `sleeping` and waits on
 * the doorbell *value it read before polling*: any work published after that read also bumped
 * the doorbell, so the wait returns at once ("not-equal") instead of losing the wake-up.
 */
export class Reactor {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly mailbox: SpscRing;
  private readonly events: SpscRing;
  private readonly counters: CounterWriter;
  private readonly dbIdx: number;
  private readonly kernels: CoreKernels;
  private jobs: CoreJob[] = [];
  private mode: CoreMode;
  private idleSpinPolls: number;
  private quiesced = false;
  private stopped = false;
  /** Result words of the command being executed, carried by its ack. */
  private ackArgs: [number, number] = [0, 0];

  constructor(private readonly init: ReactorInit) {
    const buf = init.memory.buffer;
    this.i32 = new Int32Array(buf);
    this.u8 = new Uint8Array(buf);
    const rings = coreRings(this.i32, init.controlBase);
    this.mailbox = rings.mailbox;
    this.events = rings.events;
    this.counters = new CounterWriter(this.i32, init.controlBase + CTL_COUNTERS);
    this.dbIdx = (init.controlBase + CTL_DOORBELL) >> 2;
    this.mode = init.mode;
    this.idleSpinPolls = init.idleSpinPolls;
    this.kernels = new CoreKernels(init.memory, init.coreId);
  }

  run(): ReactorExit {
    this.applyPriority();
    this.applyAffinity();
    const i32 = this.i32;
    const c = this.counters.values;
    this.setWord(CTL_MODE, CORE_MODES.indexOf(this.mode));
    this.setWord(CTL_RUN_STATE, RunState.Running);
    let idleRun = 0;
    for (;;) {
      const bell = Atomics.load(i32, this.dbIdx);
      if (this.mailbox.hasData()) {
        this.drainMailbox();
        if (this.stopped) break;
      }
      let items = 0;
      if (!this.quiesced) {
        const jobs = this.jobs;
        for (let j = 0; j < jobs.length; j++) {
          const job = jobs[j]!;
          let n: number;
          try {
            n = job.fn(job.state, job.budget);
          } catch (e) {
            this.jobFailed(job, Status.Trap, e instanceof Error ? e.message : String(e));
            break; // this.jobs changed; the next pass sees the new list
          }
          if (n > 0) {
            items += n;
            c[C_BURSTS]!++;
          } else if (n < 0) {
            this.jobFailed(job, n, `returned status ${n}`);
            break;
          }
        }
      }
      c[C_PASSES]!++;
      if (items > 0) {
        c[C_ITEMS]! += items;
        idleRun = 0;
        this.counters.flush();
        continue;
      }
      c[C_IDLE]!++;
      idleRun++;
      if (this.mode !== 'poll' && idleRun >= (this.mode === 'interrupt' ? 1 : this.idleSpinPolls)) {
        if (!this.armJobs()) this.sleep(bell);
        idleRun = 0;
      } else if ((c[C_IDLE]! & (FLUSH_EVERY_IDLE - 1)) === 0) {
        this.counters.flush();
      }
    }
    this.setWord(CTL_RUN_STATE, RunState.Stopped);
    this.counters.flush();
    return { coreId: this.init.coreId, passes: c[C_PASSES]! };
  }

  /**
   * Sets this thread's priority (on Linux, setpriority on the calling thread's id changes that
   * thread alone). A priority above the thread's current one needs root or CAP_SYS_NICE; when
   * refused the core keeps running at the priority it had and says so in its control region.
   */
  private applyPriority(): void {
    const want = this.init.nice;
    let refused = 0;
    if (want !== null) {
      try {
        setPriority(want);
      } catch {
        refused = 1;
      }
    }
    let now: number;
    try {
      now = getPriority();
    } catch {
      now = 0;
    }
    Atomics.store(this.i32, (this.init.controlBase + CTL_NICE) >> 2, now);
    Atomics.store(this.i32, (this.init.controlBase + CTL_NICE_REFUSED) >> 2, refused);
  }

  /** Pins this thread to its CPU (init.cpu); reports the CPU, or -1, in the control region. */
  private applyAffinity(): void {
    let cpu = -1;
    if (this.init.cpu !== null) {
      try {
        pinThread(currentThreadId(), String(this.init.cpu));
        cpu = this.init.cpu;
      } catch {
        cpu = -1; // the pool checked that pinning works here; a failure leaves the core unpinned, reported
      }
    }
    Atomics.store(this.i32, (this.init.controlBase + CTL_CPU) >> 2, cpu);
  }

  /**
   * Lets every job with an arm entry turn its notifications back on and re-check for work
   * (virtio E6). True when some job found work: the core must not sleep. The doorbell value the
   * sleep will wait on was read before this, so a producer that publishes after the re-check
   * and rings the doorbell is never missed.
   */
  private armJobs(): boolean {
    let pending = false;
    const jobs = this.jobs;
    for (let j = 0; j < jobs.length; j++) {
      const job = jobs[j]!;
      if (!job.armFn) continue;
      let p: number;
      try {
        p = job.armFn(job.state, job.budget);
      } catch (e) {
        this.jobFailed(job, Status.Trap, e instanceof Error ? e.message : String(e));
        return true;
      }
      if (p > 0) pending = true;
    }
    return pending;
  }

  private sleep(bell: number): void {
    const c = this.counters.values;
    c[C_SLEEPS]!++;
    this.setWord(CTL_RUN_STATE, RunState.Sleeping);
    Atomics.store(this.i32, (this.init.controlBase + CTL_SLEEPING) >> 2, 1);
    this.counters.flush();
    const r = Atomics.wait(this.i32, this.dbIdx, bell);
    Atomics.store(this.i32, (this.init.controlBase + CTL_SLEEPING) >> 2, 0);
    if (r !== 'timed-out') c[C_WAKEUPS]!++;
    this.setWord(CTL_RUN_STATE, this.quiesced ? RunState.Quiesced : RunState.Running);
  }

  // ---- commands --------------------------------------------------------------------------

  private drainMailbox(): void {
    const i32 = this.i32;
    const c = this.counters.values;
    while (!this.stopped) {
      let seq = 0,
        op = 0;
      const a = [0, 0, 0, 0, 0, 0];
      if (
        !this.mailbox.pop((w) => {
          seq = i32[w + CMD_SEQ]!;
          op = i32[w + CMD_OP]!;
          for (let k = 0; k < CMD_ARG_COUNT; k++) a[k] = i32[w + CMD_ARGS + k]!;
        })
      )
        break;
      c[C_COMMANDS]!++;
      let status: number;
      let message: string;
      this.ackArgs = [0, 0];
      try {
        [status, message] = this.execute(op, a);
      } catch (e) {
        status = Status.BadArgument;
        message = e instanceof Error ? e.message : String(e);
      }
      // Everything the command changed is visible before its ack: whoever awaits the ack and
      // then reads the counters or job count out of band sees the effect.
      this.setWord(CTL_JOB_COUNT, this.jobs.length);
      this.counters.flush();
      this.emit(EventKind.Ack, seq, status, 0, message, this.ackArgs[0], this.ackArgs[1]);
    }
  }

  private execute(op: number, a: number[]): [number, string] {
    switch (op) {
      case Op.Ping:
        return [Status.Ok, ''];
      case Op.LoadKernel: {
        const t0 = process.hrtime.bigint();
        const r = this.kernels.load(a[0]!, a[1]! >>> 0, a[2]! >>> 0, a[3]! >>> 0, this.jobs);
        this.ackArgs = [ackNs(process.hrtime.bigint() - t0), 0]; // how long this core stopped serving to compile it
        return r;
      }
      case Op.UnloadKernel:
        return this.kernels.unload(a[0]!, this.jobs);
      case Op.SwapKernel: {
        const r = commitSwap(this.kernels, this.jobs, this.init.coreId, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
        this.ackArgs = r.ack;
        return [r.status, r.message];
      }
      case Op.AttachJob:
        return this.attachJob(a[0]!, a[1]!, a[2]!, a[3]! >>> 0, a[4]!, a[5]!);
      case Op.DetachJob: {
        const before = this.jobs.length;
        this.jobs = this.jobs.filter((j) => j.id !== a[0]);
        return this.jobs.length < before
          ? [Status.Ok, '']
          : [Status.NoSuchJob, `no job #${a[0]} on core ${this.init.coreId}`];
      }
      case Op.Quiesce:
        this.quiesced = true;
        this.setWord(CTL_RUN_STATE, RunState.Quiesced);
        return [Status.Ok, ''];
      case Op.Resume:
        this.quiesced = false;
        this.setWord(CTL_RUN_STATE, RunState.Running);
        return [Status.Ok, ''];
      case Op.SetMode: {
        const mode = CORE_MODES[a[0]!];
        if (!mode || a[1]! < 1) return [Status.BadArgument, `mode ${a[0]} / idleSpinPolls ${a[1]} out of range`];
        this.mode = mode;
        this.idleSpinPolls = a[1]!;
        this.setWord(CTL_MODE, a[0]!);
        return [Status.Ok, ''];
      }
      case Op.Stop:
        this.stopped = true;
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
  ): [number, string] {
    const kernel = this.kernels.get(key);
    if (!kernel) return [Status.NoSuchKernel, `kernel #${key} is not loaded on core ${this.init.coreId}`];
    const entry = kernel.exportNames[entryIndex];
    const fn = entry === undefined ? undefined : kernel.fns.get(entry);
    if (entry === undefined || typeof fn !== 'function')
      return [Status.NoSuchEntry, `kernel #${key} has no function export #${entryIndex}`];
    const arm = armIndex < 0 ? null : (kernel.exportNames[armIndex] ?? null);
    const armFn = arm == null ? null : kernel.fns.get(arm);
    if (armIndex >= 0 && typeof armFn !== 'function')
      return [Status.NoSuchEntry, `kernel #${key} has no function export #${armIndex}`];
    if (this.jobs.some((j) => j.id === id))
      return [Status.JobExists, `job #${id} already runs on core ${this.init.coreId}`];
    if (this.jobs.length >= MAX_JOBS_PER_CORE)
      return [Status.TooManyJobs, `core ${this.init.coreId} already runs ${MAX_JOBS_PER_CORE} jobs`];
    if (budget < 1) return [Status.BadArgument, `budget ${budget} < 1`];
    this.jobs = [
      ...this.jobs,
      { id, kernel, prev: null, back: null, entry, fn: fn, arm, armFn: armFn as JobFn | null, state, budget },
    ];
    return [Status.Ok, ''];
  }

  /**
   * A job trapped or returned an error: detach it, report it, and give its kernel a fresh
   * instance on this core (a trap may have left the instance's globals mid-update). Other jobs
   * and the core itself keep running.
   */
  private jobFailed(job: CoreJob, status: number, message: string): void {
    this.counters.values[C_ERRORS]!++;
    const failed = job.kernel;
    if (status === Status.Trap) {
      const err = this.kernels.instantiate(failed, this.jobs);
      if (err) message += `; re-instantiation failed: ${err}`;
    }
    // A job a swap moved recently goes back to the version it came from (the hot-swap rollback).
    if (job.prev) {
      const err = fallBack(this.kernels, this.jobs, job);
      if (err === '') {
        this.counters.flush();
        this.emit(EventKind.JobRolledBack, 0, status, job.id, `${job.entry}: ${message}`, failed.key, job.kernel.key);
        return;
      }
      message += `; fallback failed: ${err}`;
    }
    this.jobs = this.jobs.filter((j) => j !== job);
    this.setWord(CTL_JOB_COUNT, this.jobs.length);
    this.counters.flush(); // counters first: whoever handles the event may read them
    this.emit(EventKind.JobFailed, 0, status, job.id, `${job.entry}: ${message}`);
  }

  private emit(kind: number, seq: number, status: number, jobId: number, message: string, arg0 = 0, arg1 = 0): void {
    const i32 = this.i32;
    const u8 = this.u8;
    const ok = this.events.push((w) => {
      i32[w + EV_SEQ] = seq;
      i32[w + EV_KIND] = kind;
      i32[w + EV_STATUS] = status;
      i32[w + EV_JOB] = jobId;
      i32[w + EV_ARG0] = arg0;
      i32[w + EV_ARG1] = arg1;
      const at = w * 4 + EVENT_MESSAGE_OFFSET;
      const { written } = encoder.encodeInto(message, u8.subarray(at, at + EVENT_MESSAGE_BYTES));
      i32[w + EV_MESSAGE_BYTES] = written;
    });
    if (ok) Atomics.notify(i32, this.events.headIdx);
    else this.counters.values[C_DROPPED]!++;
  }

  private setWord(offset: number, value: number): void {
    Atomics.store(this.i32, (this.init.controlBase + offset) >> 2, value);
  }
}
