import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { kernelFile } from '../../common/package-paths.js';
import { KernelLoader, type LoadedKernel } from './kernel-loader.js';

/**
 * Where a kernel library API (an erasure coder, a flow table, ...) runs: a host memory to put
 * its state and buffers in, and the kernels it calls, loaded once and cached. Inside a Host this
 * is the host's own memory (so the DPU cores see the same bytes: zero-copy); standalone it is a
 * private memory created on first use.
 */
export interface KernelRuntime {
  readonly memory: HostMemoryApi;
  /** A built kernel family by name, loaded (checked, tables built) on first use. */
  kernel(name: string): LoadedKernel;
}

/** A KernelRuntime over a given memory, with its own loader (or the host's). */
export class LoaderRuntime implements KernelRuntime {
  private readonly cache = new Map<string, LoadedKernel>();

  constructor(
    readonly memory: HostMemoryApi,
    private readonly loader: KernelLoader = new KernelLoader(memory),
  ) {}

  kernel(name: string): LoadedKernel {
    let k = this.cache.get(name);
    if (!k) {
      k = this.loader.loadFile(kernelFile(name));
      this.cache.set(name, k);
    }
    return k;
  }

  /** The version cached under `name`, if one was loaded (never loads). */
  cached(name: string): LoadedKernel | undefined {
    return this.cache.get(name);
  }

  /**
   * Every name that gave `old` gives `next` from now on — a hot swap's commit (or rollback),
   * so that devices and library APIs created afterwards use the live version.
   */
  replace(old: LoadedKernel, next: LoadedKernel): void {
    for (const [name, k] of this.cache) if (k === old) this.cache.set(name, next);
  }
}

let factory: (() => KernelRuntime) | null = null;
let shared: KernelRuntime | null = null;

/**
 * Installed once by the package entry (src/orchestrator/default-runtime.ts), which may build a
 * HostMemory; the dpu folder itself never depends on the hypervisor.
 */
export function setDefaultRuntimeFactory(f: () => KernelRuntime): void {
  factory = f;
}

/** The process-wide runtime for library APIs used without a Host. Created on first use. */
export function defaultRuntime(): KernelRuntime {
  if (shared) return shared;
  if (!factory) throw new QingtianError(ErrorCode.NotFound, 'no default kernel runtime: import qingtian (src/index.ts) or pass a runtime explicitly');
  shared = factory();
  return shared;
}
