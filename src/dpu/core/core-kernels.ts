import type { BurstSplit } from './burst-split.js';
import { Status } from './core-protocol.js';
import type { Transform } from './swap-commit.js';

/** A job entry (or arm entry) of a kernel: `(state, budget) → items done, or a negative status`. */
export type JobFn = (state: number, budget: number) => number;

/** A kernel as one core holds it: its compiled module and the core's own instance of it. */
export interface CoreKernel {
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

/** A job as the core runs it: one entry of one kernel, polled every pass with its state. */
export interface CoreJob {
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
  /** Its share of the core under contention (fair-share.ts), and the work units that makes per round. */
  weight: number;
  quantum: number;
  /** Word index of the low half of its u64 work counter in host memory, or -1 (fair-share.ts). */
  workIdx: number;
  /** Its counters and fair-share state (job-counters.ts, JS_*). */
  stats: Float64Array;
  /** Its slot of burst durations in the control region (burst-latency.ts). */
  burst: Float64Array;
  /** f64 index of the word the core writes its clock into before each call (ns, process.hrtime), or -1. */
  clockIdx: number;
  /** Its burst split (burst-split.ts), observed after each call that did work, or null. */
  split: BurstSplit | null;
}

/**
 * The kernels loaded on one core, by key: each compiled from its image in host memory and
 * instantiated on this core, bound to the tables its loader built. Runs on the core's thread,
 * between passes.
 */
export class CoreKernels {
  private readonly byKey = new Map<number, CoreKernel>();
  private readonly u8: Uint8Array;

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly coreId: number,
  ) {
    this.u8 = new Uint8Array(memory.buffer);
  }

  get(key: number): CoreKernel | undefined {
    return this.byKey.get(key);
  }

  /** Compiles the image at [imageAddr, +imageBytes) and instantiates it on this core. */
  load(key: number, imageAddr: number, imageBytes: number, tables: number, jobs: readonly CoreJob[]): [number, string] {
    if (this.byKey.has(key)) return [Status.KernelExists, `kernel #${key} is already loaded on core ${this.coreId}`];
    if (imageAddr + imageBytes > this.u8.length || imageBytes === 0)
      return [Status.BadArgument, `kernel image [0x${imageAddr.toString(16)}, +${imageBytes}) outside host memory`];
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(this.u8.slice(imageAddr, imageAddr + imageBytes));
    } catch (e) {
      return [Status.CompileFailed, `compile: ${(e as Error).message}`];
    }
    const kernel: CoreKernel = {
      key,
      module,
      instance: null as unknown as WebAssembly.Instance,
      exportNames: WebAssembly.Module.exports(module).map((e) => e.name),
      fns: new Map(),
      tables,
    };
    const err = this.instantiate(kernel, jobs);
    if (err) return [Status.InitFailed, err];
    this.byKey.set(key, kernel);
    return [Status.Ok, ''];
  }

  /** Drops a kernel no job runs; jobs that could fall back to it no longer can. */
  unload(key: number, jobs: readonly CoreJob[]): [number, string] {
    const k = this.byKey.get(key);
    if (!k) return [Status.NoSuchKernel, `kernel #${key} is not loaded on core ${this.coreId}`];
    if (jobs.some((j) => j.kernel === k))
      return [Status.KernelInUse, `kernel #${key} still has jobs on core ${this.coreId}`];
    this.byKey.delete(key);
    // Its jobs can no longer fall back to it: the rollback window of the swap that left it is over.
    for (const j of jobs) {
      if (j.prev === k || j.back?.kernel === k) {
        j.prev = null;
        j.back = null;
      }
    }
    return [Status.Ok, ''];
  }

  /**
   * (Re)creates the core's instance of a kernel, binds it to its tables and re-points the jobs
   * that run it at the new instance's entries; returns an error text or ''.
   */
  instantiate(kernel: CoreKernel, jobs: readonly CoreJob[]): string {
    try {
      const instance = new WebAssembly.Instance(kernel.module, { env: { memory: this.memory } });
      const status = (instance.exports['qt_init'] as (t: number, build: number) => number)(kernel.tables, 0);
      if (status !== 0) return `qt_init returned ${status}`;
      kernel.instance = instance;
      kernel.fns = new Map();
      for (const name of kernel.exportNames) {
        const f = instance.exports[name];
        if (typeof f === 'function') kernel.fns.set(name, f as JobFn);
      }
      for (const job of jobs) {
        if (job.kernel !== kernel) continue;
        job.fn = kernel.fns.get(job.entry)!;
        if (job.arm) job.armFn = kernel.fns.get(job.arm)!;
      }
      return '';
    } catch (e) {
      return `instantiate: ${(e as Error).message}`;
    }
  }
}
