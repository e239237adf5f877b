import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { kernelFile } from '../../common/package-paths.js';
import { HostMemory } from '../../memory/host-memory.js';
import { KernelLoader, type LoadedKernel } from './kernel-loader.js';

/**
 * Where a kernel library API (an erasure coder, a flow table, ...) runs: a host memory to put
 * its state and buffers in, and the kernels it calls, loaded once and cached. Inside a Host this
 * is the host's own memory (so the DPU cores see the same bytes: zero-copy); standalone it is a
 * private memory created on first use.
 */
export interface KernelRuntime {
  /** The memory the API puts its state and buffers in; its `At` methods take addresses in it. */
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

/**
 * The size of the standalone runtime's private host memory. Address space is reserved; pages
 * are committed only when touched.
 */
export const STANDALONE_MEMORY_BYTES = 1 << 30;

let shared: KernelRuntime | null = null;

/**
 * The process-wide runtime for library APIs used without a Host, created on first use: a private
 * host memory of STANDALONE_MEMORY_BYTES and its own loader.
 */
export function defaultRuntime(): KernelRuntime {
  shared ??= new LoaderRuntime(new HostMemory({ sizeBytes: STANDALONE_MEMORY_BYTES }));
  return shared;
}
