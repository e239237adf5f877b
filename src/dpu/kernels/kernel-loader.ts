import { readFileSync } from 'node:fs';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { inspectKernel, type KernelImageInfo } from '../../common/kernel-image.js';

export const KERNEL_IMAGE_MAGIC = 'KIMG';
export const KERNEL_TABLES_MAGIC = 'KTBL';
const OWNER = 'kernel-loader';

/**
 * A kernel module version loaded into host memory. Its Wasm bytes sit in their own image slot
 * (from which every core compiles its instance) and its tables in their own table region, built
 * once by qt_init on the main thread. Two versions of one module therefore never share a byte.
 */
export interface LoadedKernel {
  /** Unique per load; cores name kernels by this key. */
  readonly key: number;
  /** What the module declares about itself (name, version, ABI, state layout, tables, exports). */
  readonly info: KernelImageInfo;
  /** The compiled module (main thread); each core compiles its own from the image slot. */
  readonly module: WebAssembly.Module;
  /** Its image slot: the module's bytes in host memory, from which the cores compile it. */
  readonly image: StateRegion;
  /** Length of the module's bytes in the image slot. */
  readonly imageBytes: number;
  /** Its table region, built once by `qt_init(tables, 1)` (null when it declares no tables). */
  readonly tables: StateRegion | null;
  /** Main-thread instance, bound to the same tables; for calls from the control plane. */
  readonly instance: WebAssembly.Instance;
  /** Export index of a function export (the form a job entry travels in to a core). */
  entryIndex(entry: string): number;
  /** A function export of the main-thread instance. */
  fn<F extends (...args: never[]) => unknown>(name: string): F;
  /**
   * A QT_* constant of this module version (QT_VERSION, QT_SELF_TEST_BYTES, ...): metadata that
   * differs from one version to the next, so it is read from the module itself. Layout constants
   * (offsets, magics, statuses) are not read here; they come from src/generated/.
   */
  constant(name: `QT_${string}`): number;
}

/**
 * Validates kernel modules, places each version in its own image slot and table region, builds
 * its tables, and keeps the registry of what is loaded. Putting the kernels on the cores is the
 * core pool's job (DpuCorePool.loadKernel); this class never talks to a core.
 *
 * A module is refused (`QT_KERNEL_REJECTED`, the message says why) unless it is valid Wasm;
 * imports exactly one memory, `env.memory`, shared, whose limits admit host memory, and nothing
 * else; defines no memory; has no start function and no non-empty data segment (instantiating one
 * would write static data at a fixed address, over another version's); and exports the globals
 * `QT_ABI` (= 1), `QT_NAME` (at most 8 ASCII bytes packed little-endian in a u64, `[a-z][a-z0-9-]*`),
 * `QT_VERSION` (major << 16 | minor << 8 | patch), `QT_STATE_LAYOUT`, `QT_TABLES_BYTES` (at most
 * 256 MiB) and the function `qt_init(tables, build) → status`. Job entries have the signature
 * `(state: usize, budget: i32) → i32`: items handled (≥ 0) or a negative status, which fails the job.
 *
 * {@link Host} builds it (`host.kernels`); `qingtian` exports its type, and constructing one directly is
 * unstable (`qingtian/internals`).
 */
export class KernelLoader {
  private nextKey = 1;
  private readonly loaded = new Map<number, LoadedKernel>();

  constructor(private readonly host: HostMemoryApi) {}

  /** Reads a module from a file and loads it (`QT_NOT_FOUND` when the file cannot be read). */
  loadFile(path: string): LoadedKernel {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new QingtianError(ErrorCode.NotFound, `kernel file ${path}: ${(e as Error).message}`, { path });
    }
    return this.load(bytes, path);
  }

  /**
   * Checks, places and initialises a module version. `inspected`: the result of inspectKernel
   * on exactly these bytes, when the caller already ran it (the hot-swap manager does, before
   * deciding anything), so the module is not compiled twice.
   */
  load(
    bytes: Uint8Array,
    label = '(bytes)',
    inspected?: { info: KernelImageInfo; module: WebAssembly.Module },
  ): LoadedKernel {
    const { info, module } = inspected ?? inspectKernel(bytes, this.host.sizeBytes / 65536, label);
    const key = this.nextKey++;
    const tag = `${info.name}@${info.version}#${key}`;
    const image = this.host.allocState({
      name: `kimg:${tag}`,
      owner: OWNER,
      kind: 'kernel-image',
      magic: KERNEL_IMAGE_MAGIC,
      layoutVersion: 1,
      payloadBytes: bytes.length,
    });
    let tables: StateRegion | null = null;
    try {
      this.host.u8.set(bytes, image.payload);
      if (info.tablesBytes > 0) {
        tables = this.host.allocState({
          name: `ktbl:${tag}`,
          owner: OWNER,
          kind: 'kernel-tables',
          magic: KERNEL_TABLES_MAGIC,
          layoutVersion: 1,
          payloadBytes: info.tablesBytes,
        });
      }
      const instance = new WebAssembly.Instance(module, { env: { memory: this.host.memory } });
      const init = instance.exports['qt_init'] as (tables: number, build: number) => number;
      const status = init(tables?.payload ?? 0, 1);
      if (status !== 0)
        throw new QingtianError(ErrorCode.KernelLoadFailed, `kernel ${tag}: qt_init returned status ${status}`, {
          status,
        });
      const kernel = makeLoaded(key, info, module, image, bytes.length, tables, instance);
      this.loaded.set(key, kernel);
      return kernel;
    } catch (e) {
      this.host.free(image, OWNER);
      if (tables) this.host.free(tables, OWNER);
      if (e instanceof QingtianError) throw e;
      throw new QingtianError(ErrorCode.KernelLoadFailed, `kernel ${tag}: ${(e as Error).message}`);
    }
  }

  /** Frees the image slot and tables. The caller has unloaded it from every core first. */
  unload(kernel: LoadedKernel): void {
    if (!this.loaded.delete(kernel.key)) {
      throw new QingtianError(
        ErrorCode.NotFound,
        `kernel ${kernel.info.name}@${kernel.info.version}#${kernel.key} is not loaded`,
      );
    }
    this.host.free(kernel.image, OWNER);
    if (kernel.tables) this.host.free(kernel.tables, OWNER);
  }

  /** The versions loaded now, in load order. */
  list(): LoadedKernel[] {
    return [...this.loaded.values()];
  }

  /** The loaded version with this key, if any. */
  get(key: number): LoadedKernel | undefined {
    return this.loaded.get(key);
  }
}

function makeLoaded(
  key: number,
  info: KernelImageInfo,
  module: WebAssembly.Module,
  image: StateRegion,
  imageBytes: number,
  tables: StateRegion | null,
  instance: WebAssembly.Instance,
): LoadedKernel {
  const tag = `${info.name}@${info.version}`;
  return Object.freeze({
    key,
    info,
    module,
    image,
    imageBytes,
    tables,
    instance,
    entryIndex(entry: string): number {
      const i = info.exports.indexOf(entry);
      if (i < 0 || !info.functions.includes(entry)) {
        throw new QingtianError(
          ErrorCode.NotFound,
          `kernel ${tag} has no function export '${entry}' (has: ${info.functions.join(', ')})`,
          { entry },
        );
      }
      return i;
    },
    fn<F extends (...args: never[]) => unknown>(name: string): F {
      const f = instance.exports[name];
      if (typeof f !== 'function')
        throw new QingtianError(ErrorCode.NotFound, `kernel ${tag} has no function export '${name}'`, { name });
      return f as F;
    },
    constant(name: `QT_${string}`): number {
      const g = instance.exports[name];
      if (!(g instanceof WebAssembly.Global))
        throw new QingtianError(ErrorCode.NotFound, `kernel ${tag} has no exported constant '${name}'`, { name });
      return Number(g.value);
    },
  });
}
