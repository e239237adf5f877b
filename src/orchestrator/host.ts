import { KeyObject as KeyObjectClass, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../common/errors.js';
import { Lifetime } from '../common/lifetime.js';
import { parseArgs } from '../common/validate.js';
import { Storage, type StorageOptions } from '../dpu/blk/storage.js';
import { DpuCorePool, dpuOptionsSchema, type DpuOptions } from '../dpu/core/core-pool.js';
import { KernelLoader, type LoadedKernel } from '../dpu/kernels/kernel-loader.js';
import { LoaderRuntime, type KernelRuntime } from '../dpu/kernels/kernel-runtime.js';
import { HostMemory, hostMemoryOptionsSchema, type HostMemoryOptions } from '../memory/host-memory.js';
import { HostNetwork, parseNetworkOptions, type NetworkOptions } from '../dpu/net/host-network.js';
import { HotSwapManager, type SwapOptions, type SwapResult } from '../ops/hot-swap/hot-swap-manager.js';
import { renderMetrics, type MetricsSnapshot } from '../ops/metrics.js';
import { VmManager, type VmManagerOptions } from './vms/vm-manager.js';
import { InstanceManager, type InstanceManagerOptions } from './instances/instance-manager.js';

/** Options of {@link Host.boot}; every field has a default. Unknown keys are refused. */
export interface HostOptions {
  /** Host physical memory: its size (default 1 GiB) and huge pages. */
  memory?: HostMemoryOptions | undefined;
  /** The DPU cores: how many, how they wait, their priority and CPUs. */
  dpu?: DpuOptions | undefined;
  /** Ed25519 public keys (PEM or KeyObject) whose module signatures this host accepts for hot swaps. Default none. */
  trustedKeys?: readonly (string | KeyObject)[] | undefined;
  /** The storage worker's memory (see StorageOptions). */
  storage?: StorageOptions | undefined;
  /** Options of `host.network` (switch size, flow aging, conntrack timeouts, its core). */
  network?: NetworkOptions | undefined;
  /** The VMs: the host agent's memory pool, its core and CID (see {@link VmManagerOptions}). */
  vms?: VmManagerOptions | undefined;
  /** Instances of every kind: the container host (see {@link InstanceManagerOptions}). */
  instances?: InstanceManagerOptions | undefined;
}

const hostOptionsSchema = z
  .strictObject({
    memory: hostMemoryOptionsSchema,
    dpu: dpuOptionsSchema,
    trustedKeys: z
      .array(z.union([z.string(), z.custom<KeyObject>((v) => v instanceof KeyObjectClass)]), {
        error: 'an array of Ed25519 public keys (PEM text or KeyObject)',
      })
      .optional(),
    // Checked whole, unknown keys included, by Storage, the network and VmManager.
    storage: z.unknown().optional(),
    network: z.unknown().optional(),
    vms: z.unknown().optional(),
    instances: z.unknown().optional(),
  })
  .optional();

const KERNEL_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/**
 * A qingtian host: host physical memory, the kernel loader and the DPU cores, driven by this
 * one control plane. The SDK's entry point: everything else is reached through its members. After
 * {@link Host.shutdown} every member throws `QT_DISPOSED`.
 *
 * ```ts
 * const host = await Host.boot({ memory: { sizeBytes: 256 << 20 }, dpu: { cores: 1 } });
 * const core = await host.loadKernel('core');
 * // ... attach jobs on host.dpu.cores[i] ...
 * await host.shutdown();
 * ```
 */
export class Host {
  private readonly life = new Lifetime('Host', 'shutdown()');
  /** Host physical memory: one shared `WebAssembly.Memory` that every core and kernel maps. */
  readonly memory: HostMemory;
  /** The registry of loaded kernel module versions (each in its own image slot and table region). */
  readonly kernels: KernelLoader;
  /** The DPU cores: attach jobs with `host.dpu.core(i).attachJob(...)`; events `'job-failed'`, `'core-failed'`. */
  readonly dpu: DpuCorePool;
  /** Where the data-path classes put their state to share it with the cores: pass `{ runtime: host.runtime }`. */
  readonly runtime: KernelRuntime;
  /** The hot-swap manager: trusted keys, module versions, events (staged, committed, rolled-back, ...). */
  readonly swaps: HotSwapManager;
  /** Volumes (log-structured, erasure-coded, DIF-protected) and their storage I/O worker, started on first use. */
  readonly storage: Storage;
  private net: HostNetwork | null = null;
  /** The VMs of this host: `host.vms.create({ name, vcpus, memoryMiB, devices })`, their lifecycle and events. */
  readonly vms: VmManager;
  /** VMs, containers and bare-metal instances under one API: `host.instances.create({ kind, name, ... })`. */
  readonly instances: InstanceManager;

  private constructor(
    memory: HostMemory,
    kernels: KernelLoader,
    dpu: DpuCorePool,
    trustedKeys: readonly (string | KeyObject)[],
    storage: StorageOptions | undefined,
    private readonly networkOptions: NetworkOptions | undefined,
    vms: VmManagerOptions | undefined,
    instances?: InstanceManagerOptions,
  ) {
    this.memory = memory;
    this.kernels = kernels;
    this.dpu = dpu;
    const runtime = new LoaderRuntime(memory, kernels);
    this.runtime = runtime;
    this.swaps = new HotSwapManager({ memory, loader: kernels, pool: dpu, runtime, trustedKeys });
    this.storage = new Storage(memory, storage, { runtime, loadBlkKernel: () => this.loadKernel('blk') });
    // The network as it is (null before first use): a VM port can only be one that exists.
    this.vms = new VmManager(
      { memory, runtime, dpu, network: () => this.net ?? null, storage: () => this.storage },
      vms,
    );
    // Sub-ports are let go while the host shuts down too, when `network` no longer answers.
    this.instances = new InstanceManager(this.vms, () => this.net ?? this.network, instances);
  }

  /**
   * Boots a host: creates host memory, the kernel loader and the DPU cores, and resolves once
   * every core answers. Options are checked first (`QT_INVALID_ARGUMENT` naming the field).
   */
  static async boot(options?: HostOptions): Promise<Host> {
    const o = parseArgs(hostOptionsSchema, options, 'Host options');
    const networkOptions = parseNetworkOptions(o?.network);
    const memory = new HostMemory(o?.memory);
    const kernels = new KernelLoader(memory);
    const dpu = await DpuCorePool.start(memory, o?.dpu);
    try {
      return new Host(
        memory,
        kernels,
        dpu,
        o?.trustedKeys ?? [],
        o?.storage as StorageOptions | undefined,
        networkOptions,
        o?.vms as VmManagerOptions | undefined,
        o?.instances as InstanceManagerOptions | undefined,
      );
    } catch (e) {
      await dpu.close();
      throw e;
    }
  }

  /**
   * The network: VPCs, subnets, ports, routes, security groups, tunnels, mirrors, and the vSwitch
   * on a DPU core that forwards between guests. Created on first use; the switch and its workers
   * start when something is first attached.
   */
  get network(): HostNetwork {
    this.life.check('network');
    this.net ??= new HostNetwork(
      {
        runtime: this.runtime,
        cores: this.dpu.cores,
        loadNetKernel: async () => {
          await this.loadKernel('net');
        },
      },
      this.networkOptions,
    );
    return this.net;
  }

  /**
   * Hot-swaps kernel module `name` (its QT_NAME, e.g. 'virtio') for the signed version in
   * `module`, on every DPU core, under traffic: verify, stage, self-test, commit at each core's
   * next burst boundary, then a grace window with automatic rollback. Resolves after the
   * commit with the timings; `result.settled` resolves when the grace window ends. Events:
   * `host.swaps.on('staged' | 'committed' | 'swapped' | 'rolled-back' | 'settled' | 'refused', ...)`.
   */
  async hotSwap(name: string, module: Uint8Array, options: SwapOptions): Promise<SwapResult> {
    this.life.check('hotSwap');
    return this.swaps.swap(name, module, options);
  }

  /**
   * Loads a kernel module (a built family by name, e.g. 'core', or Wasm bytes), checks it
   * against the kernel rules, builds its tables and instantiates it on every DPU core. A family
   * loaded by name is loaded once: later calls return the same kernel.
   */
  async loadKernel(source: string | Uint8Array): Promise<LoadedKernel> {
    this.life.check('loadKernel');
    if (typeof source === 'string') {
      if (!KERNEL_NAME.test(source)) {
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `loadKernel: expected a kernel family name matching ${KERNEL_NAME} or Wasm bytes, got ${JSON.stringify(source)}`,
        );
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

  /**
   * Unloads a kernel version from every core, then frees its image slot and tables;
   * `QT_KERNEL_BUSY` while a job still uses it.
   */
  async unloadKernel(kernel: LoadedKernel): Promise<void> {
    this.life.check('unloadKernel');
    await this.dpu.unloadKernel(kernel);
    this.kernels.unload(kernel);
  }

  /**
   * Memory statistics and every core's state and counters, read out of band (no core is
   * messaged). `owners` false leaves `memory.byOwner` empty (cheaper with many regions).
   */
  snapshot(owners = true): MetricsSnapshot {
    this.life.check('snapshot');
    return {
      memory: this.memory.stats(owners),
      cores: this.dpu.cores.map((c) => ({
        id: c.id,
        state: c.runState(),
        mode: c.mode(),
        jobs: c.jobCount(),
        counters: c.counters(),
      })),
    };
  }

  /** Prometheus text of host memory and core counters, read without stopping any core. */
  metrics(): string {
    this.life.check('metrics');
    // The page has no per-owner figure: the allocator skips them.
    return renderMetrics(this.snapshot(false));
  }

  /**
   * Destroys every VM, stops every core and ends every worker thread; the process can then exit
   * on its own. Idempotent.
   */
  async shutdown(): Promise<void> {
    if (!this.life.end()) return;
    // Instances, then VMs: their sub-ports and network interfaces leave the switch before it closes.
    await this.instances.close();
    await this.vms.close();
    await this.net?.close();
    this.swaps.close();
    await this.storage.close();
    await this.dpu.close();
  }
}
