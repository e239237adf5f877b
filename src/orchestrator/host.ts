import { z } from 'zod';
import { ErrorCode, QingtianError } from '../common/errors.js';
import { kernelFile } from '../common/package-paths.js';
import { parseArgs } from '../common/validate.js';
import { DpuCorePool, type DpuOptions } from '../dpu/core-pool.js';
import { KernelLoader, type LoadedKernel } from '../dpu/kernel-loader.js';
import { LoaderRuntime, type KernelRuntime } from '../dpu/kernel-runtime.js';
import { HostMemory, type HostMemoryOptions } from '../hypervisor/host-memory.js';
import { renderMetrics, type MetricsSnapshot } from '../ops/metrics.js';

export interface HostOptions {
  memory?: HostMemoryOptions | undefined;
  dpu?: DpuOptions | undefined;
}

const KERNEL_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * A qingtian host: host physical memory, the kernel loader and the DPU cores, driven by this
 * one control plane. The SDK's entry point.
 *
 * ```ts
 * const host = await Host.boot({ memory: { sizeBytes: 256 << 20 }, dpu: { cores: 1 } });
 * const core = await host.loadKernel('core');
 * // ... attach jobs on host.dpu.cores[i] ...
 * await host.shutdown();
 * ```
 */
export class Host {
  private down = false;
  /** Kernel library APIs (erasure coding, flow tables, ...) placed in this host's memory. */
  readonly runtime: KernelRuntime;

  private constructor(
    readonly memory: HostMemory,
    readonly kernels: KernelLoader,
    readonly dpu: DpuCorePool,
  ) {
    this.runtime = new LoaderRuntime(memory, kernels);
  }

  static async boot(options?: HostOptions): Promise<Host> {
    const o = parseArgs(z.object({ memory: z.unknown().optional(), dpu: z.unknown().optional() }).optional(), options, 'Host options');
    const memory = new HostMemory(o?.memory as HostMemoryOptions | undefined);
    const kernels = new KernelLoader(memory);
    const dpu = await DpuCorePool.start(memory, o?.dpu as DpuOptions | undefined);
    return new Host(memory, kernels, dpu);
  }

  /**
   * Loads a kernel module (a built family by name, e.g. 'core', or Wasm bytes), checks it
   * against the kernel rules, builds its tables and instantiates it on every DPU core. A family
   * loaded by name is loaded once: later calls return the same kernel.
   */
  async loadKernel(source: string | Uint8Array): Promise<LoadedKernel> {
    this.assertUp();
    if (typeof source === 'string') {
      if (!KERNEL_NAME.test(source)) {
        throw new QingtianError(ErrorCode.InvalidArgument, `loadKernel: expected a kernel family name matching ${KERNEL_NAME} or Wasm bytes, got ${JSON.stringify(source)}`);
      }
      // One loaded version per family name, shared with host.runtime (devices use the same instance).
      const kernel = this.runtime.kernel(source);
      await this.dpu.loadKernel(kernel);
      return kernel;
    }
    const kernel = this.kernels.load(source);
    try {
      await this.dpu.loadKernel(kernel);
    } catch (e) {
      await this.dpu.unloadKernel(kernel).catch(() => undefined);
      this.kernels.unload(kernel);
      throw e;
    }
    return kernel;
  }

  async unloadKernel(kernel: LoadedKernel): Promise<void> {
    await this.dpu.unloadKernel(kernel);
    this.kernels.unload(kernel);
  }

  snapshot(): MetricsSnapshot {
    return {
      memory: this.memory.stats(),
      cores: this.dpu.cores.map((c) => ({ id: c.id, state: c.runState(), mode: c.mode(), jobs: c.jobCount(), counters: c.counters() })),
    };
  }

  /** Prometheus text of host memory and core counters, read without stopping any core. */
  metrics(): string {
    return renderMetrics(this.snapshot());
  }

  async shutdown(): Promise<void> {
    if (this.down) return;
    this.down = true;
    await this.dpu.close();
  }

  private assertUp(): void {
    if (this.down) throw new QingtianError(ErrorCode.CoreUnavailable, 'host is shut down');
  }
}
