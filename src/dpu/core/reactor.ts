import { recordBurst } from './burst-latency.js';
import { observeBurstSplit } from './burst-split.js';
import { originMs } from './core-clock.js';
import { CounterWriter } from './core-counters.js';
import { CoreCommands, type CoreState } from './core-commands.js';
import { CoreKernels, type CoreJob } from './core-kernels.js';
import {
  CORE_MODES,
  CTL_COUNTERS,
  CTL_DOORBELL,
  CTL_JOB_COUNT,
  CTL_JOBS,
  CTL_MODE,
  CTL_RUN_STATE,
  CTL_SLEEPING,
  CTL_TRACE,
  RunState,
  coreRings,
  type CoreMode,
} from './core-layout.js';
import { placeCoreThread } from './core-thread.js';
import { HOST_JOB_KINDS, importHostJob, type HostJob, type HostJobFactory, type HostJobKind } from './host-job.js';
import {
  CMD_ARGS,
  CMD_OP,
  CMD_SEQ,
  COMMAND_BYTES,
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
  Op,
  Status,
  ackNs,
} from './core-protocol.js';
import { charge, eligible, idle, refill, unitsDone } from './fair-share.js';
import {
  JS_BUSY_NS,
  JS_ITEMS,
  JS_MAX_TURN_NS,
  JS_MAX_TURN_WORK,
  JS_TURNS,
  JS_WORK,
  JobCounterWriter,
} from './job-counters.js';
import { PauseRecorder } from './pause-trace.js';
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
  /**
   * Diagnostic timing: per-job busy time and longest turn, and where each swap commit's pause
   * went (pause-trace.ts). Costs two clock reads per job call.
   */
  trace: boolean;
}

export interface ReactorExit {
  coreId: number;
  passes: number;
}

/** run()'s result: the core stopped, or it left its loop to import a host job kind's module. */
export type ReactorTurn = { exit: ReactorExit } | { load: HostJobKind };

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
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly u8: Uint8Array;
  private readonly mailbox: SpscRing;
  private readonly events: SpscRing;
  private readonly counters: CounterWriter;
  private readonly jobCounters: JobCounterWriter;
  private readonly pauses: PauseRecorder;
  private readonly dbIdx: number;
  private readonly kernels: CoreKernels;
  private readonly commands: CoreCommands;
  /** Jobs, mode, quiesced, stopped: what commands change between passes. */
  private readonly core: CoreState;
  /** The command being executed (read without allocating) and its arguments. */
  private readonly cmd = new Int32Array(COMMAND_BYTES >> 2);
  private readonly args = this.cmd.subarray(CMD_ARGS);
  /** performance.now() + originMs = process.hrtime in ms (core-clock.ts): read without allocating. */
  private readonly originMs = originMs();
  private readonly clock = (): number => this.nowNs();
  /** `trace`: the length of the last pass and the time spent in its job calls (ns). */
  private lastPassNs = 0;
  private lastJobsNs = 0;
  private jobsNs = 0;
  private placed = false;
  private idleRun = 0;
  /** Host job modules imported so far (host-job.ts). */
  private readonly hostKinds = new Map<HostJobKind, HostJobFactory>();
  /** An AttachHostJob waiting for its kind's module: taken again after the import. */
  private heldCommand: Int32Array | null = null;

  constructor(private readonly init: ReactorInit) {
    const buf = init.memory.buffer;
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.f64 = new Float64Array(buf);
    this.u8 = new Uint8Array(buf);
    const rings = coreRings(this.i32, init.controlBase);
    this.mailbox = rings.mailbox;
    this.events = rings.events;
    this.counters = new CounterWriter(this.i32, init.controlBase + CTL_COUNTERS);
    this.jobCounters = new JobCounterWriter(this.i32, init.controlBase + CTL_JOBS);
    this.pauses = new PauseRecorder(new Float64Array(buf), (init.controlBase + CTL_TRACE) >> 3, init.trace);
    this.dbIdx = (init.controlBase + CTL_DOORBELL) >> 2;
    this.core = {
      jobs: [],
      hostJobs: [],
      mode: init.mode,
      idleSpinPolls: init.idleSpinPolls,
      quiesced: false,
      stopped: false,
    };
    this.kernels = new CoreKernels(init.memory, init.coreId);
    this.commands = new CoreCommands(this.core, this.kernels, this.i32, init.controlBase, init.coreId);
  }

  /** process.hrtime, in ns, as a double (no BigInt: nothing allocated). */
  private nowNs(): number {
    return (performance.now() + this.originMs) * 1e6;
  }

  /**
   * The core's loop, until it stops or must import a host job module (an async step the caller
   * awaits before calling run() again: loadHostKind()).
   */
  run(): ReactorTurn {
    if (!this.placed) {
      placeCoreThread(this.i32, this.init.controlBase, this.init.nice, this.init.cpu);
      this.pauses.start();
      this.placed = true;
    }
    const i32 = this.i32;
    const c = this.counters.values;
    const core = this.core;
    const trace = this.init.trace;
    this.setWord(CTL_MODE, CORE_MODES.indexOf(core.mode));
    this.setWord(CTL_RUN_STATE, RunState.Running);
    let idleRun = this.idleRun;
    let passStart = trace ? this.nowNs() : 0;
    for (;;) {
      const bell = Atomics.load(i32, this.dbIdx);
      if (trace) {
        const t = this.nowNs();
        this.lastPassNs = t - passStart;
        this.lastJobsNs = this.jobsNs;
        this.jobsNs = 0;
        passStart = t;
      }
      if (this.heldCommand !== null || this.mailbox.hasData()) {
        const load = this.drainMailbox();
        if (load !== null) {
          this.idleRun = idleRun;
          return { load };
        }
        if (core.stopped) break;
      }
      let items = 0;
      // busy: some job did work; held: some job sat the pass out, its share of the round used up.
      let busy = false;
      let held = false;
      if (!core.quiesced) {
        // Host jobs first: what they write for the kernels (the slow path's flushes and answers)
        // is taken in this same pass, before any packet the pass pops.
        if (core.hostJobs.length > 0 && this.pollHostJobs()) busy = true;
        const jobs = core.jobs;
        let credit = false;
        // One clock read per pass and one per call that did work (burst-latency.ts): a busy call
        // is timed from the previous read, so it may include the no-work calls just before it.
        let mark = this.nowNs();
        for (let j = 0; j < jobs.length; j++) {
          const job = jobs[j]!;
          if (!eligible(job)) {
            held = true;
            continue;
          }
          const t0 = trace ? this.nowNs() : 0;
          // The kernel's clock (burst-split.ts, blk request latency): the read this call is timed from.
          if (job.clockIdx >= 0) this.f64[job.clockIdx] = mark;
          let n: number;
          try {
            n = job.fn(job.state, job.budget);
          } catch (e) {
            this.jobFailed(job, Status.Trap, e instanceof Error ? e.message : String(e));
            break; // core.jobs changed; the next pass sees the new list
          }
          if (n < 0) {
            this.jobFailed(job, n, `returned status ${n}`);
            break;
          }
          const units = unitsDone(job, i32, n);
          const dt = trace ? this.nowNs() - t0 : 0;
          this.jobsNs += dt;
          if (n > 0 || units > 0) {
            const s = job.stats;
            s[JS_ITEMS]! += n;
            s[JS_WORK]! += units;
            s[JS_TURNS]!++;
            s[JS_BUSY_NS]! += dt;
            if (dt > s[JS_MAX_TURN_NS]!) s[JS_MAX_TURN_NS] = dt;
            if (units > s[JS_MAX_TURN_WORK]!) s[JS_MAX_TURN_WORK] = units;
            items += n;
            busy = true;
            c[C_BURSTS]!++;
            if (charge(job, units)) credit = true;
            const end = trace ? t0 + dt : this.nowNs();
            recordBurst(job.burst, trace ? dt : end - mark);
            if (job.split) observeBurstSplit(job.split, this.u32, this.f64, trace ? dt : end - mark);
            mark = end;
          } else idle(job);
        }
        // No job that worked has credit left: a new round (fair-share.ts).
        if (!credit && (busy || held)) refill(core.jobs);
      }
      c[C_PASSES]!++;
      if (busy || held) {
        c[C_ITEMS]! += items;
        idleRun = 0;
        this.flush();
        continue;
      }
      c[C_IDLE]!++;
      idleRun++;
      if (core.mode !== 'poll' && idleRun >= (core.mode === 'interrupt' ? 1 : core.idleSpinPolls)) {
        if (!this.armJobs()) this.sleep(bell, this.hostSleepMs());
        idleRun = 0;
      } else if ((c[C_IDLE]! & (FLUSH_EVERY_IDLE - 1)) === 0) {
        this.flush();
      }
    }
    for (const h of core.hostJobs) this.closeHostJob(h.job);
    core.hostJobs = [];
    this.setWord(CTL_RUN_STATE, RunState.Stopped);
    this.flush();
    return { exit: { coreId: this.init.coreId, passes: c[C_PASSES]! } };
  }

  /** Imports a host job kind's module; the AttachHostJob that asked for it runs at the next run(). */
  async loadHostKind(kind: HostJobKind): Promise<void> {
    try {
      this.hostKinds.set(kind, await importHostJob(kind));
    } catch (e) {
      this.hostKinds.set(kind, () => {
        throw new Error(`cannot import host job '${kind}': ${e instanceof Error ? e.message : String(e)}`);
      });
    }
  }

  /** Polls every host job once; true if one did work. One that throws is detached and reported. */
  private pollHostJobs(): boolean {
    let busy = false;
    const hosts = this.core.hostJobs;
    for (let i = 0; i < hosts.length; i++) {
      const h = hosts[i]!;
      let n: number;
      try {
        n = h.job.poll();
      } catch (e) {
        this.hostJobFailed(h, e);
        return true; // the list changed; the next pass sees the new one
      }
      if (n > 0) busy = true;
    }
    return busy;
  }

  /** The longest the host jobs let the core sleep (ms), Infinity for no limit. */
  private hostSleepMs(): number {
    let ms = Infinity;
    for (const h of this.core.hostJobs) ms = Math.min(ms, h.job.sleepMs());
    return ms;
  }

  private hostJobFailed(h: { id: number; job: HostJob }, e: unknown): void {
    this.counters.values[C_ERRORS]!++;
    this.core.hostJobs = this.core.hostJobs.filter((x) => x !== h);
    this.closeHostJob(h.job);
    this.flush();
    this.emit(EventKind.JobFailed, 0, Status.Trap, h.id, `host job: ${e instanceof Error ? e.message : String(e)}`);
  }

  private closeHostJob(job: HostJob): void {
    try {
      job.close();
    } catch {
      // A job that fails to close has nothing more to run: it is gone either way.
    }
  }

  /**
   * AttachHostJob: builds the job from its init JSON, once its kind's module is imported.
   * Returns the kind to import first (the command is held), or the command's result.
   */
  private attachHostJob(a: Int32Array): HostJobKind | [number, string] {
    const [id, kindIndex, addr, bytes] = [a[0]!, a[1]!, a[2]! >>> 0, a[3]! >>> 0];
    const kind = HOST_JOB_KINDS[kindIndex];
    if (kind === undefined) return [Status.BadArgument, `no host job kind ${kindIndex}`];
    const factory = this.hostKinds.get(kind);
    if (!factory) return kind;
    const core = this.core;
    if (core.jobs.some((j) => j.id === id) || core.hostJobs.some((h) => h.id === id))
      return [Status.JobExists, `job #${id} already runs on core ${this.init.coreId}`];
    try {
      const init: unknown = JSON.parse(new TextDecoder().decode(this.u8.slice(addr, addr + bytes)));
      core.hostJobs = [...core.hostJobs, { id, job: factory(this.init.memory, init) }];
      return [Status.Ok, ''];
    } catch (e) {
      return [Status.InitFailed, `host job '${kind}': ${e instanceof Error ? e.message : String(e)}`];
    }
  }

  /** Publishes the core's and its jobs' counters (out of band). */
  private flush(): void {
    this.counters.flush();
    this.jobCounters.flush(this.core.jobs);
  }

  /**
   * Lets every job with an arm entry turn its notifications back on and re-check for work
   * (virtio E6). True when some job found work: the core must not sleep. The doorbell value the
   * sleep will wait on was read before this, so a producer that publishes after the re-check
   * and rings the doorbell is never missed.
   */
  private armJobs(): boolean {
    let pending = false;
    const jobs = this.core.jobs;
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

  private sleep(bell: number, timeoutMs: number): void {
    const c = this.counters.values;
    c[C_SLEEPS]!++;
    this.setWord(CTL_RUN_STATE, RunState.Sleeping);
    Atomics.store(this.i32, (this.init.controlBase + CTL_SLEEPING) >> 2, 1);
    this.flush();
    const r = Atomics.wait(this.i32, this.dbIdx, bell, timeoutMs);
    Atomics.store(this.i32, (this.init.controlBase + CTL_SLEEPING) >> 2, 0);
    if (r !== 'timed-out') c[C_WAKEUPS]!++;
    this.setWord(CTL_RUN_STATE, this.core.quiesced ? RunState.Quiesced : RunState.Running);
  }

  /**
   * Runs every waiting command, each stamped as it is taken (a command posted while an earlier
   * one ran is taken in the same loop). Nothing is allocated between taking a SwapKernel and
   * re-pointing its jobs, so no GC can land inside the pause (docs/hot-swap.md, "The pause").
   */
  private drainMailbox(): HostJobKind | null {
    const c = this.counters.values;
    const cmd = this.cmd;
    const commands = this.commands;
    while (!this.core.stopped) {
      if (this.heldCommand !== null) {
        cmd.set(this.heldCommand);
        this.heldCommand = null;
      } else if (!this.mailbox.popInto(cmd)) break;
      else c[C_COMMANDS]!++;
      const pickupNs = this.nowNs();
      const op = cmd[CMD_OP]!;
      let status: number;
      let message: string;
      commands.ack0 = 0;
      commands.ack1 = 0;
      try {
        if (op === Op.AttachHostJob) {
          const r = this.attachHostJob(this.args);
          if (typeof r === 'string') {
            this.heldCommand = cmd.slice();
            return r;
          }
          [status, message] = r;
        } else [status, message] = op === Op.SwapKernel ? this.swapKernel(pickupNs) : commands.execute(op, this.args);
      } catch (e) {
        status = Status.BadArgument;
        message = e instanceof Error ? e.message : String(e);
      }
      // Everything the command changed is visible before its ack: whoever awaits the ack and
      // then reads the counters or job count out of band sees the effect.
      this.setWord(CTL_JOB_COUNT, this.core.jobs.length);
      this.flush();
      this.emit(EventKind.Ack, cmd[CMD_SEQ]!, status, 0, message, commands.ack0, commands.ack1);
      if (op !== Op.SwapKernel) this.pauses.commandDone();
    }
    return null;
  }

  /** SwapKernel (swap-commit.ts): the commit, then its record in the pause trace (before the ack). */
  private swapKernel(pickupNs: number): [number, string] {
    const a = this.args;
    const r = commitSwap(this.kernels, this.core.jobs, this.init.coreId, a[0]!, a[1]!, a[2]!, a[3]!, this.clock);
    const requested = (a[4]! >>> 0) + (a[5]! >>> 0) * 2 ** 32;
    if (r.status === Status.Ok) {
      this.commands.ack0 = ackNs(r.doneNs - requested);
      this.commands.ack1 = r.moved;
    }
    this.pauses.commit(requested, pickupNs, r.doneNs, this.lastPassNs, this.lastJobsNs);
    return [r.status, r.message];
  }

  /**
   * A job trapped or returned an error: detach it, report it, and give its kernel a fresh
   * instance on this core (a trap may have left the instance's globals mid-update). Other jobs
   * and the core itself keep running.
   */
  private jobFailed(job: CoreJob, status: number, message: string): void {
    this.counters.values[C_ERRORS]!++;
    const core = this.core;
    const failed = job.kernel;
    if (status === Status.Trap) {
      const err = this.kernels.instantiate(failed, core.jobs);
      if (err) message += `; re-instantiation failed: ${err}`;
    }
    // A job a swap moved recently goes back to the version it came from (the hot-swap rollback).
    if (job.prev) {
      const err = fallBack(this.kernels, core.jobs, job);
      if (err === '') {
        this.flush();
        this.emit(EventKind.JobRolledBack, 0, status, job.id, `${job.entry}: ${message}`, failed.key, job.kernel.key);
        return;
      }
      message += `; fallback failed: ${err}`;
    }
    core.jobs = core.jobs.filter((j) => j !== job);
    this.setWord(CTL_JOB_COUNT, core.jobs.length);
    this.flush(); // counters first: whoever handles the event may read them
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
