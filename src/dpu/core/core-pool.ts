import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { distFile } from '../../common/package-paths.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import type { CoreCounters } from './core-counters.js';
import {
  CORE_LAYOUT,
  CORE_MAGIC,
  CORE_MODES,
  CTL_BYTES,
  DEFAULT_IDLE_SPIN_POLLS,
  type CoreMode,
} from './core-layout.js';
import { affinityUnsupported, cpuList, pinProcess, threadAffinity } from './cpu-affinity.js';
import { DpuCore, type JobFailedEvent, type JobRolledBackEvent } from './dpu-core.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import type { ReactorExit, ReactorInit } from './reactor.js';

/** Options of the DPU cores (`HostOptions.dpu`). Unknown keys are refused. */
export interface DpuOptions {
  /** Number of DPU cores, 1–64. Default: one less than the CPUs, at least 1 (leaves a CPU for guests and main). */
  cores?: number | undefined;
  /** Initial mode of every core. Default 'adaptive'. */
  mode?: CoreMode | undefined;
  /** Adaptive mode: idle passes before a core sleeps, 1–10^9. Default 4096. */
  idleSpinPolls?: number | undefined;
  /** How long a control command may take before it fails with QT_TIMEOUT, 1 ms – 10 min. Default 10 s. */
  commandTimeoutMs?: number | undefined;
  /**
   * Scheduling priority of each core's thread (Linux nice, -20..19), or null to leave it as
   * the process's. The DPU's cores are hardware of their own in the machine modelled; here they
   * share CPUs with guest vCPUs (nice +10, GuestVcpu) and the control plane, and a higher
   * priority keeps a core from waiting behind them. A raise needs root or CAP_SYS_NICE: when
   * refused, the core runs at the process's priority and `priorities()` says so. Default -10 if
   * the cores leave at least one CPU to the rest of the process, else null (a busy-polling core
   * above everything else on every CPU would starve the control plane).
   */
  nice?: number | null | undefined;
  /**
   * CPUs dedicated to the cores, as DPDK pins its lcores: core i runs on cpus[i % length], and
   * every other thread of the process (the control plane, guest vCPUs, V8's helpers) is moved
   * off them while the pool runs (restored by close()). Distinct CPU numbers, at least one CPU
   * left to the rest. Linux with taskset only; one pinned pool per process at a time. Default:
   * no pinning.
   */
  cpus?: number[] | undefined;
  /**
   * Diagnostic timing on every core: each job's busy time and longest turn (`DpuCore.jobCounters()`),
   * and where each swap commit's pause went (`SwapCommit.trace`: the pass it waited for, GCs of
   * the core's heap, the scheduler's view of the core thread). Costs two clock reads per job call
   * and a few /proc reads per swap. Default false.
   */
  trace?: boolean | undefined;
}

/** The schema of {@link DpuOptions} (Host.boot composes it, so nested keys are checked up front). */
export const dpuOptionsSchema = z
  .strictObject({
    cores: intIn(1, 64).optional(),
    mode: oneOf(CORE_MODES).optional(),
    idleSpinPolls: intIn(1, 1e9).optional(),
    commandTimeoutMs: intIn(1, 600_000).optional(),
    nice: intIn(-20, 19).nullable().optional(),
    cpus: z.array(intIn(0, 1023), { error: 'an array of CPU numbers' }).min(1).optional(),
    trace: z.boolean().optional(),
  })
  .optional();

/** The default number of cores: the CPUs this process may use, less one, at least 1. */
export function defaultCoreCount(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** The default core priority for `cores` cores (see DpuOptions.nice). */
export function defaultCoreNice(cores: number): number | null {
  return cores < availableParallelism() ? DEFAULT_CORE_NICE : null;
}

const DEFAULT_CORE_NICE = -10;

/**
 * A core thread's scheduling priority (what was asked, what it has, whether the raise was refused)
 * and its CPU (null: not pinned).
 */
export interface CorePriority {
  /** The core. */
  coreId: number;
  /** The nice value asked for (`DpuOptions.nice`), null: the process's. */
  requested: number | null;
  /** The thread's nice value now, -20..19. */
  nice: number;
  /** True when the raise was refused (no root or CAP_SYS_NICE): the core runs at the process's priority. */
  refused: boolean;
  /** The CPU it is pinned to (`DpuOptions.cpus`), null: not pinned. */
  cpu: number | null;
}

/** The process's affinity before the pinned pool moved its threads (one pinned pool at a time). */
let pinnedBy: { pool: DpuCorePool; original: string } | null = null;

/** Checks `cpus` and moves every thread of the process off them; returns the affinity to restore. */
function dedicate(cpus: number[]): string {
  const why = affinityUnsupported();
  if (why) throw new QingtianError(ErrorCode.InvalidArgument, `DPU options.cpus: ${why}`);
  if (pinnedBy)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      'DPU options.cpus: another pool of this process has pinned its cores; close it first',
    );
  if (new Set(cpus).size !== cpus.length)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `DPU options.cpus: expected distinct CPU numbers, got [${cpus.join(', ')}]`,
    );
  const original = threadAffinity(process.pid);
  const allowed = expandList(original);
  const outside = cpus.filter((c) => !allowed.includes(c));
  if (outside.length)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `DPU options.cpus: CPU ${outside.join(', ')} not available to this process (it may run on ${original})`,
    );
  const rest = allowed.filter((c) => !cpus.includes(c));
  if (rest.length === 0)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `DPU options.cpus: [${cpus.join(', ')}] leaves no CPU of ${original} to the control plane and guests`,
    );
  pinProcess(cpuList(rest));
  return original;
}

/** "0-2,5" → [0, 1, 2, 5]. */
function expandList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}

const OWNER = 'dpu';

/**
 * The DPU (`host.dpu`): N cores, each a long-lived reactor task on its own Piscina worker (a core
 * is one task for its whole life: a task costs ~25 µs). The pool owns the cores' control regions
 * and puts kernels on every core. After `close()` every member throws `QT_DISPOSED`.
 *
 * Events: 'job-failed' (JobFailedEvent), 'job-rolled-back' (JobRolledBackEvent), 'core-failed' ({ coreId, error }).
 *
 * {@link Host} builds it (`host.dpu`); `qingtian` exports its type, and constructing one directly is
 * unstable (`qingtian/internals`).
 */
export class DpuCorePool extends EventEmitter {
  /** The cores, by id. */
  readonly cores: readonly DpuCore[];
  private readonly piscina: Piscina;
  private readonly controls: StateRegion[];
  private readonly kernels = new Map<number, LoadedKernel>();
  private jobSeq = 0;
  private readonly life = new Lifetime('DpuCorePool', 'close()');

  private constructor(
    private readonly host: HostMemoryApi,
    private readonly mode: CoreMode,
    private readonly idleSpinPolls: number,
    private readonly nice: number | null,
    private readonly cpus: number[] | null,
    count: number,
    commandTimeoutMs: number,
    trace: boolean,
  ) {
    super();
    this.piscina = new Piscina({
      filename: pathToFileURL(distFile('src/dpu/core/reactor-worker.js')).href,
      minThreads: count,
      maxThreads: count,
      concurrentTasksPerWorker: 1,
      idleTimeout: 60_000,
    });
    this.controls = [];
    const cores: DpuCore[] = [];
    for (let i = 0; i < count; i++) {
      const control = host.allocState({
        name: `core${i}:control`,
        owner: OWNER,
        kind: 'core-control',
        magic: CORE_MAGIC,
        layoutVersion: CORE_LAYOUT,
        payloadBytes: CTL_BYTES,
      });
      this.controls.push(control);
      const core = new DpuCore(i, {
        host,
        control,
        launch: (init: ReactorInit) => this.piscina.run(init) as Promise<ReactorExit>,
        nextJobId: () => ++this.jobSeq,
        commandTimeoutMs,
        trace,
      });
      core.on('job-failed', (e: JobFailedEvent) => this.emit('job-failed', e));
      core.on('job-rolled-back', (e: JobRolledBackEvent) => this.emit('job-rolled-back', e));
      core.on('core-failed', (error: Error) => this.emit('core-failed', { coreId: i, error }));
      cores.push(core);
    }
    this.cores = cores;
  }

  /** Boots the cores and waits until each answers a ping. */
  static async start(host: HostMemoryApi, options?: DpuOptions): Promise<DpuCorePool> {
    const o = parseArgs(dpuOptionsSchema, options, 'DPU options');
    const cores = o?.cores ?? defaultCoreCount();
    const nice = o?.nice === undefined ? defaultCoreNice(cores) : o.nice;
    const cpus = o?.cpus ?? null;
    const pool = new DpuCorePool(
      host,
      o?.mode ?? 'adaptive',
      o?.idleSpinPolls ?? DEFAULT_IDLE_SPIN_POLLS,
      nice,
      cpus,
      cores,
      o?.commandTimeoutMs ?? 10_000,
      o?.trace ?? false,
    );
    if (cpus) {
      try {
        pinnedBy = { pool, original: dedicate(cpus) }; // after the pool's worker threads exist, so they move too
      } catch (e) {
        await pool.close();
        throw e;
      }
    }
    for (const core of pool.cores) core.start(pool.mode, pool.idleSpinPolls, pool.nice, pool.cpuOf(core.id));
    try {
      await Promise.all(pool.cores.map((c) => c.ping()));
      const unpinned = cpus ? pool.priorities().filter((p) => p.cpu === null) : [];
      if (unpinned.length)
        throw new QingtianError(
          ErrorCode.CoreUnavailable,
          `DPU options.cpus: core ${unpinned.map((p) => p.coreId).join(', ')} could not pin its thread to CPU ${unpinned.map((p) => pool.cpuOf(p.coreId)).join(', ')}`,
        );
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** Core `id`, in [0, cores.length - 1] (`QT_INVALID_ARGUMENT` otherwise). */
  core(id: number): DpuCore {
    this.life.check('core');
    const core = this.cores[id];
    if (!core)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `core: expected an integer in [0, ${this.cores.length - 1}], got ${id}`,
      );
    return core;
  }

  /**
   * Instantiates a loaded kernel on every core (each builds nothing: it binds the shared tables).
   * All or nothing: if one core refuses, the cores that took it drop it again. Resolves with the
   * time each core spent compiling and instantiating it (ns; empty if it was already loaded).
   */
  async loadKernel(kernel: LoadedKernel): Promise<number[]> {
    this.life.check('loadKernel');
    if (this.kernels.has(kernel.key)) return [];
    const results = await Promise.allSettled(this.cores.map((c) => c.loadKernel(kernel)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(
        this.cores.map((c, i) =>
          results[i]!.status === 'fulfilled' ? c.unloadKernel(kernel).catch(() => undefined) : Promise.resolve(),
        ),
      );
      throw failed.reason;
    }
    this.kernels.set(kernel.key, kernel);
    return results.map((r) => (r as PromiseFulfilledResult<number>).value);
  }

  /** The kernels loaded on every core. */
  loadedKernels(): LoadedKernel[] {
    this.life.check('loadedKernels');
    return [...this.kernels.values()];
  }

  /** Drops a kernel from every core; refused (QT_KERNEL_BUSY) while a job still uses it. */
  async unloadKernel(kernel: LoadedKernel): Promise<void> {
    this.life.check('unloadKernel');
    if (!this.kernels.has(kernel.key)) return;
    for (const c of this.cores) {
      if (c.runningJobs().some((j) => j.kernel.key === kernel.key)) {
        throw new QingtianError(
          ErrorCode.KernelBusy,
          `kernel ${kernel.info.name}@${kernel.info.version} still has jobs on core ${c.id}`,
        );
      }
    }
    await Promise.all(this.cores.map((c) => c.unloadKernel(kernel)));
    this.kernels.delete(kernel.key);
  }

  /** Restarts one core (after a failure, or to reset it): stop, start, reload every kernel. Its jobs are gone. */
  async restartCore(id: number): Promise<void> {
    this.life.check('restartCore');
    const core = this.core(id);
    await core.stop();
    core.start(this.mode, this.idleSpinPolls, this.nice, this.cpuOf(id));
    await core.ping();
    for (const k of this.kernels.values()) await core.loadKernel(k);
  }

  private cpuOf(coreId: number): number | null {
    return this.cpus ? this.cpus[coreId % this.cpus.length]! : null;
  }

  /** Each core thread's scheduling priority and CPU, read out of band (valid once the core answered a command). */
  priorities(): CorePriority[] {
    this.life.check('priorities');
    return this.cores.map((c) => ({ coreId: c.id, requested: this.nice, ...c.priority() }));
  }

  /** Every core's counters, read out of band (no core is messaged or waited for). */
  counters(): CoreCounters[] {
    this.life.check('counters');
    return this.cores.map((c) => c.counters());
  }

  /** Stops every core and ends every worker thread. */
  async close(): Promise<void> {
    if (!this.life.end()) return;
    await Promise.all(this.cores.map((c) => c.stop()));
    await this.piscina.destroy();
    for (const c of this.cores) c.retire();
    for (const r of this.controls) this.host.free(r, OWNER);
    if (pinnedBy?.pool === this) {
      const { original } = pinnedBy;
      pinnedBy = null;
      pinProcess(original);
    }
  }
}
