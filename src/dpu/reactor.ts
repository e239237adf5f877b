import { getPriority, setPriority } from 'node:os';
import { CounterWriter } from './core-counters.js';
import { currentThreadId, pinThread } from './cpu-affinity.js';
import {
  CORE_MODES, CTL_COUNTERS, CTL_DOORBELL, CTL_JOB_COUNT, CTL_CPU, CTL_MODE, CTL_NICE, CTL_NICE_REFUSED, CTL_RUN_STATE, CTL_SLEEPING,
  EVENT_MESSAGE_BYTES, EVENT_MESSAGE_OFFSET, EventKind, MAX_JOBS_PER_CORE, Op, RunState, Status, coreRings, type CoreMode,
} from './core-layout.js';
import type { SpscRing } from './spsc-ring.js';

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

type JobFn = (state: number, budget: number) => number;

interface CoreKernel {
  key: number;
  module: WebAssembly.Module;
  instance: WebAssembly.Instance;
  exportNames: string[];
  /**
   * The instance's function exports, looked up once when it is created: the first access of an
   * export makes V8 build its JS function object, which a swap's commit must not pay for.
   */
  fns: Map<string, JobFn>;
  tables: number;
}

/** How to bring a job's state back to its previous kernel's layout: `name(state, from, to)` of `kernel`. */
interface Transform {
  kernel: CoreKernel;
  name: string;
  from: number;
  to: number;
}

interface Job {
  id: number;
  kernel: CoreKernel;
  /** The kernel a swap moved this job from, while it is still loaded: a failure falls back to it. */
  prev: CoreKernel | null;
  /** The state transform back to `prev`'s layout (null: same layout). */
  back: Transform | null;
  entry: string;
  fn: JobFn;
  /** Called before the core sleeps: re-enable notifications, re-check, return pending work (> 0: stay awake). */
  arm: string | null;
  armFn: JobFn | null;
  state: number;
  budget: number;
}

// Counter slots (order of COUNTER_NAMES).
const C_PASSES = 0, C_BURSTS = 1, C_ITEMS = 2, C_IDLE = 3, C_SLEEPS = 4, C_WAKEUPS = 5, C_ERRORS = 6, C_COMMANDS = 7, C_DROPPED = 8;
const FLUSH_EVERY_IDLE = 256;
const encoder = new TextEncoder();

/**
 * One DPU core: a run-to-completion loop that owns its jobs (no locks), polls each one with one
 * JS→Wasm call per burst, and takes commands from its mailbox between passes — so every command
 * (detach, quiesce, swap) lands at a burst boundary, with no burst in flight.
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
  private readonly kernels = new Map<number, CoreKernel>();
  private jobs: Job[] = [];
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
      let seq = 0, op = 0;
      const a = [0, 0, 0, 0, 0, 0];
      if (!this.mailbox.pop((w) => {
        seq = i32[w]!;
        op = i32[w + 1]!;
        for (let k = 0; k < 6; k++) a[k] = i32[w + 2 + k]!;
      })) break;
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
        const r = this.loadKernel(a[0]!, a[1]! >>> 0, a[2]! >>> 0, a[3]! >>> 0);
        this.ackArgs = [clampNs(process.hrtime.bigint() - t0), 0]; // how long this core stopped serving to compile it
        return r;
      }
      case Op.UnloadKernel: {
        const k = this.kernels.get(a[0]!);
        if (!k) return [Status.NoSuchKernel, `kernel #${a[0]} is not loaded on core ${this.init.coreId}`];
        if (this.jobs.some((j) => j.kernel === k)) return [Status.KernelInUse, `kernel #${a[0]} still has jobs on core ${this.init.coreId}`];
        this.kernels.delete(a[0]!);
        // Its jobs can no longer fall back to it: the rollback window of the swap that left it is over.
        for (const j of this.jobs) {
          if (j.prev === k || j.back?.kernel === k) {
            j.prev = null;
            j.back = null;
          }
        }
        return [Status.Ok, ''];
      }
      case Op.SwapKernel:
        return this.swapKernel(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!);
      case Op.AttachJob:
        return this.attachJob(a[0]!, a[1]!, a[2]!, a[3]! >>> 0, a[4]!, a[5]!);
      case Op.DetachJob: {
        const before = this.jobs.length;
        this.jobs = this.jobs.filter((j) => j.id !== a[0]);
        return this.jobs.length < before ? [Status.Ok, ''] : [Status.NoSuchJob, `no job #${a[0]} on core ${this.init.coreId}`];
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

  private loadKernel(key: number, imageAddr: number, imageBytes: number, tables: number): [number, string] {
    if (this.kernels.has(key)) return [Status.KernelExists, `kernel #${key} is already loaded on core ${this.init.coreId}`];
    if (imageAddr + imageBytes > this.u8.length || imageBytes === 0) return [Status.BadArgument, `kernel image [0x${imageAddr.toString(16)}, +${imageBytes}) outside host memory`];
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(this.u8.slice(imageAddr, imageAddr + imageBytes));
    } catch (e) {
      return [Status.CompileFailed, `compile: ${(e as Error).message}`];
    }
    const kernel: CoreKernel = { key, module, instance: null as unknown as WebAssembly.Instance, exportNames: WebAssembly.Module.exports(module).map((e) => e.name), fns: new Map(), tables };
    const err = this.instantiate(kernel);
    if (err) return [Status.InitFailed, err];
    this.kernels.set(key, kernel);
    return [Status.Ok, ''];
  }

  /** (Re)creates the core's instance of a kernel and binds it to its tables; returns an error text or ''. */
  private instantiate(kernel: CoreKernel): string {
    try {
      const instance = new WebAssembly.Instance(kernel.module, { env: { memory: this.init.memory } });
      const status = (instance.exports['qt_init'] as (t: number, build: number) => number)(kernel.tables, 0);
      if (status !== 0) return `qt_init returned ${status}`;
      kernel.instance = instance;
      kernel.fns = new Map();
      for (const name of kernel.exportNames) {
        const f = instance.exports[name];
        if (typeof f === 'function') kernel.fns.set(name, f as JobFn);
      }
      for (const job of this.jobs) {
        if (job.kernel !== kernel) continue;
        job.fn = kernel.fns.get(job.entry)!;
        if (job.arm) job.armFn = kernel.fns.get(job.arm)!;
      }
      return '';
    } catch (e) {
      return `instantiate: ${(e as Error).message}`;
    }
  }

  private attachJob(id: number, key: number, entryIndex: number, state: number, budget: number, armIndex: number): [number, string] {
    const kernel = this.kernels.get(key);
    if (!kernel) return [Status.NoSuchKernel, `kernel #${key} is not loaded on core ${this.init.coreId}`];
    const entry = kernel.exportNames[entryIndex];
    const fn = entry === undefined ? undefined : kernel.fns.get(entry);
    if (entry === undefined || typeof fn !== 'function') return [Status.NoSuchEntry, `kernel #${key} has no function export #${entryIndex}`];
    const arm = armIndex < 0 ? null : (kernel.exportNames[armIndex] ?? null);
    const armFn = arm == null ? null : kernel.fns.get(arm);
    if (armIndex >= 0 && typeof armFn !== 'function') return [Status.NoSuchEntry, `kernel #${key} has no function export #${armIndex}`];
    if (this.jobs.some((j) => j.id === id)) return [Status.JobExists, `job #${id} already runs on core ${this.init.coreId}`];
    if (this.jobs.length >= MAX_JOBS_PER_CORE) return [Status.TooManyJobs, `core ${this.init.coreId} already runs ${MAX_JOBS_PER_CORE} jobs`];
    if (budget < 1) return [Status.BadArgument, `budget ${budget} < 1`];
    this.jobs = [...this.jobs, { id, kernel, prev: null, back: null, entry, fn, arm, armFn: armFn as JobFn | null, state, budget }];
    return [Status.Ok, ''];
  }

  /**
   * The commit of a hot swap on this core. It runs between passes, so no burst of any job is in
   * flight: each job of `from` is re-pointed at the same-named entries of `to` (the new
   * version's function table), after the state transform, if any, converted its state in place.
   * All or nothing: an entry missing in `to` or a transform refusing one job's state leaves
   * every job as it was (the states already converted are converted back first).
   */
  private swapKernel(fromKey: number, toKey: number, transform: number, layouts: number, t0lo: number, t0hi: number): [number, string] {
    const from = this.kernels.get(fromKey);
    const to = this.kernels.get(toKey);
    if (!from || !to) return [Status.NoSuchKernel, `kernel #${from ? toKey : fromKey} is not loaded on core ${this.init.coreId}`];
    const moving = this.jobs.filter((j) => j.kernel === from);
    const fns: [JobFn, JobFn | null][] = [];
    for (const job of moving) {
      const fn = to.fns.get(job.entry);
      const armFn = job.arm === null ? null : to.fns.get(job.arm);
      if (typeof fn !== 'function' || (job.arm !== null && typeof armFn !== 'function')) {
        return [Status.NoSuchEntry, `kernel #${toKey} lacks ${typeof fn !== 'function' ? job.entry : job.arm}, used by job #${job.id}`];
      }
      fns.push([fn, armFn as JobFn | null]);
    }
    let back: Transform | null = null;
    if (transform >= 0) {
      const holder = (transform & 1) === 1 ? from : to;
      const name = holder.exportNames[transform >> 1];
      if (name === undefined || !holder.fns.has(name)) return [Status.NoSuchEntry, `kernel #${holder.key} has no function export #${transform >> 1}`];
      const fwd: Transform = { kernel: holder, name, from: layouts & 0xffff, to: layouts >>> 16 };
      back = { kernel: holder, name, from: fwd.to, to: fwd.from };
      for (let i = 0; i < moving.length; i++) {
        const err = this.transformState(fwd, moving[i]!.state);
        if (err === '') continue;
        for (let k = i - 1; k >= 0; k--) this.transformState(back, moving[k]!.state);
        return [Status.TransformFailed, `state transform ${name}(${fwd.from} → ${fwd.to}) of job #${moving[i]!.id}: ${err}`];
      }
    }
    for (let i = 0; i < moving.length; i++) {
      const job = moving[i]!;
      job.prev = from;
      job.back = back;
      job.kernel = to;
      [job.fn, job.armFn] = fns[i]!;
    }
    const requested = (BigInt(t0hi >>> 0) << 32n) | BigInt(t0lo >>> 0);
    this.ackArgs = [clampNs(process.hrtime.bigint() - requested), moving.length];
    return [Status.Ok, ''];
  }

  /** Runs a transform export on one state region; '' or why it failed (a trap renews the holder's instance). */
  private transformState(t: Transform, state: number): string {
    try {
      const status = (t.kernel.fns.get(t.name) as unknown as (s: number, from: number, to: number) => number)(state, t.from, t.to);
      return status === 0 ? '' : `returned ${status}`;
    } catch (e) {
      const err = this.instantiate(t.kernel);
      return `trapped: ${e instanceof Error ? e.message : String(e)}${err ? `; re-instantiation failed: ${err}` : ''}`;
    }
  }

  /** Puts a swapped job back on its previous kernel (state transformed back first). '' or why not. */
  private fallBack(job: Job): string {
    const prev = job.prev!;
    const fn = prev.fns.get(job.entry);
    const armFn = job.arm === null ? null : prev.fns.get(job.arm);
    if (typeof fn !== 'function' || (job.arm !== null && typeof armFn !== 'function')) return `kernel #${prev.key} lacks the job's entries`;
    if (job.back) {
      const err = this.transformState(job.back, job.state);
      if (err) return `state transform back: ${err}`;
    }
    job.kernel = prev;
    job.fn = fn;
    job.armFn = armFn as JobFn | null;
    job.prev = null;
    job.back = null;
    return '';
  }

  /**
   * A job trapped or returned an error: detach it, report it, and give its kernel a fresh
   * instance on this core (a trap may have left the instance's globals mid-update). Other jobs
   * and the core itself keep running.
   */
  private jobFailed(job: Job, status: number, message: string): void {
    this.counters.values[C_ERRORS]!++;
    const failed = job.kernel;
    if (status === Status.Trap) {
      const err = this.instantiate(failed);
      if (err) message += `; re-instantiation failed: ${err}`;
    }
    // A job a swap moved recently goes back to the version it came from (the hot-swap rollback).
    if (job.prev) {
      const err = this.fallBack(job);
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
      i32[w] = seq;
      i32[w + 1] = kind;
      i32[w + 2] = status;
      i32[w + 3] = jobId;
      i32[w + 4] = arg0;
      i32[w + 5] = arg1;
      const at = w * 4 + EVENT_MESSAGE_OFFSET;
      const { written } = encoder.encodeInto(message, u8.subarray(at, at + EVENT_MESSAGE_BYTES));
      i32[w + 6] = written;
    });
    if (ok) Atomics.notify(i32, this.events.headIdx);
    else this.counters.values[C_DROPPED]!++;
  }

  private setWord(offset: number, value: number): void {
    Atomics.store(this.i32, (this.init.controlBase + offset) >> 2, value);
  }
}

/** A duration in ns as an i32 ack word (saturates at ~2.1 s; negative only if clocks misbehave: 0). */
function clampNs(ns: bigint): number {
  return ns <= 0n ? 0 : ns >= 0x7fffffffn ? 0x7fffffff : Number(ns);
}
