import { EventEmitter } from 'node:events';
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, QingtianError, isQingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { DpuCorePool } from '../../dpu/core/core-pool.js';
import type { SwapCommit, SwapTransform } from '../../dpu/core/dpu-core.js';
import { inspectKernel } from '../../common/kernel-image.js';
import type { KernelLoader, LoadedKernel } from '../../dpu/kernels/kernel-loader.js';
import type { LoaderRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { HotSwapEvents, SwapOutcome, SwapReport } from './events.js';
import { GraceWindow } from './grace-window.js';
import { ModuleRegistry, type ModuleRecord } from './module-registry.js';
import type { ModuleSignature } from './signature.js';
import { TrustedKeys } from './signature.js';
import { SELF_TEST_EXPORT, checkCandidate, overlappedRegions, reverse } from './swap-checks.js';

/** What a hot-swap manager works on: the host's memory, loader, cores and runtime. */
export interface HotSwapDeps {
  /** Host memory (its regions are listed to find a shadow area for self-tests). */
  memory: HostMemoryApi & { regions(): Region[] };
  /** The host's kernel loader. */
  loader: KernelLoader;
  /** The host's cores. */
  pool: DpuCorePool;
  /** The host's kernel runtime: after a commit, `runtime.kernel(family)` gives the live version. */
  runtime: LoaderRuntime;
  /** Ed25519 public keys trusted from the start (PEM or KeyObject). */
  trustedKeys?: readonly (string | KeyObject)[] | undefined;
}

/** Options of a hot swap ({@link Host.hotSwap}). Unknown keys are refused. */
export interface SwapOptions {
  /** Ed25519 signature of the module by a trusted key (object, its JSON text, or that text's bytes). Required. */
  signature?: ModuleSignature | string | Uint8Array | undefined;
  /** How long the previous version stays loaded for automatic rollback, 0–600000 ms. Default 500. */
  graceMs?: number | undefined;
  /** An error counter to watch during the grace window (e.g. a device's rejected requests). */
  health?: (() => number) | undefined;
  /** How much `health` may rise within the window before the swap is rolled back, 0–1e9. Default 0. */
  maxErrorIncrease?: number | undefined;
  /** How often `health` is read, 1–10000 ms. Default 5. */
  healthPollMs?: number | undefined;
}

/** What `swap` resolves with: the report of the commit, and the outcome of its grace window. */
export type SwapResult = SwapReport & { settled: Promise<SwapOutcome> };

const optionsSchema = z.object({
  signature: z.unknown().optional(),
  graceMs: intIn(0, 600_000).optional(),
  health: z
    .custom<() => number>((v) => typeof v === 'function', { error: 'a function returning an error count' })
    .optional(),
  maxErrorIncrease: intIn(0, 1e9).optional(),
  healthPollMs: intIn(1, 10_000).optional(),
});
const NAME = z
  .string({ error: 'a module name: 1-8 of [a-z0-9-], starting with a letter' })
  .regex(/^[a-z][a-z0-9-]{0,7}$/, { error: 'a module name: 1-8 of [a-z0-9-], starting with a letter' });
const SHADOW_MIN_BYTES = 64 << 10;
const SHADOW_MAX_BYTES = 16 << 20;
const OWNER = 'hot-swap';

const ms = (t0: number): number => performance.now() - t0;

/**
 * Replaces kernel module versions on live DPU cores (docs/design.md, "Hot swap and its quiescent
 * point"; the procedure in docs/hot-swap.md):
 *   verify  signature by a trusted key, the loader's kernel rules, the manager's checks
 *           (swap-checks.ts) — a refusal here changes nothing anywhere;
 *   stage   the new version in its own image slot and table region, instantiated on every core;
 *   test    its `qt_self_test` on shadow data (a scratch region no job uses);
 *   commit  on every core at its next burst boundary, each job re-pointed to the new version's
 *           entries, its state transformed in place when the layout changes;
 *   grace   the previous version stays loaded; a failure of the new one rolls every core back
 *           (GraceWindow), else the previous version is unloaded and its slot freed.
 * At most two versions of a module are loaded at once: a new swap first ends the grace window
 * of the previous one (keeping the version it installed). Swaps run one at a time.
 *
 * Events (HotSwapEvents): staged, committed (one per core), swapped, rolled-back,
 * rollback-failed, settled, refused.
 *
 * {@link Host} builds it (`host.swaps`); `qingtian` exports its type, and constructing one directly is
 * unstable (`qingtian/internals`).
 */
export class HotSwapManager extends EventEmitter<HotSwapEvents> {
  /** The Ed25519 keys whose signatures admit a module. */
  readonly trusted: TrustedKeys;
  private readonly registry = new ModuleRegistry();
  private readonly live = new Map<string, LoadedKernel>();
  private readonly windows = new Map<string, GraceWindow>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly life = new Lifetime('HotSwapManager', 'close()');

  constructor(private readonly deps: HotSwapDeps) {
    super();
    this.trusted = new TrustedKeys(deps.trustedKeys ?? []);
  }

  /** Trusts one more public key (PEM or KeyObject); returns its key id. */
  trust(key: string | KeyObject): string {
    this.life.check('trust');
    return this.trusted.add(key);
  }

  /** The live version of a module, if one is loaded on the cores. */
  liveVersion(name: string): LoadedKernel | undefined {
    this.life.check('liveVersion');
    return this.live.get(name) ?? this.findLoaded(name);
  }

  /** Every module version this manager has seen, newest last. */
  modules(): ModuleRecord[] {
    this.life.check('modules');
    return this.registry.list();
  }

  /** Replaces the live version of module `name` by `bytes` on every core. See the class comment. */
  swap(name: string, module: Uint8Array, options: SwapOptions): Promise<SwapResult> {
    if (this.life.ended) return Promise.reject(this.life.error('swap'));
    // A private copy, taken now: the bytes verified are the bytes placed, whatever the caller
    // does with its buffer while the swap waits its turn or runs.
    const bytes = module instanceof Uint8Array ? new Uint8Array(module) : module;
    return this.serial(async () => {
      try {
        return await this.doSwap(name, bytes, options);
      } catch (e) {
        if (isQingtianError(e)) this.emit('refused', { name: String(name), code: e.code, message: e.message });
        throw e;
      }
    });
  }

  /** Ends `name`'s grace window now, keeping the new version (its predecessor is unloaded). */
  settle(name: string): Promise<void> {
    if (this.life.ended) return Promise.reject(this.life.error('settle'));
    return this.serial(async () => {
      const w = this.windows.get(name);
      if (w?.claim()) await this.conclude(w, null);
    });
  }

  /** Rolls back `name`'s last swap, while its grace window is open. */
  rollback(name: string, reason = 'requested'): Promise<void> {
    if (this.life.ended) return Promise.reject(this.life.error('rollback'));
    return this.serial(async () => {
      const w = this.windows.get(name);
      if (!w?.claim())
        throw new QingtianError(
          ErrorCode.SwapRefused,
          `no swap of ${name} is in its grace window; nothing to roll back`,
        );
      await this.conclude(w, reason);
    });
  }

  /** Stops the grace timers (host shutdown): each open window keeps its new version, nothing is unloaded. */
  close(): void {
    if (!this.life.end()) return;
    for (const w of this.windows.values()) if (w.claim()) w.finish({ outcome: 'kept', previousFreed: false });
    this.windows.clear();
  }

  private async doSwap(name: string, bytes: Uint8Array, options: SwapOptions): Promise<SwapResult> {
    this.life.check('swap');
    const t0 = performance.now();
    parseArgs(NAME, name, 'hotSwap name');
    if (!(bytes instanceof Uint8Array))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        'hotSwap module: expected the module as Wasm bytes (Uint8Array)',
      );
    const o = parseArgs(optionsSchema, options ?? {}, 'hotSwap options');
    const { loader, pool } = this.deps;

    // ---- verify: nothing is placed or sent to a core before all of this passes
    const signature = this.trusted.check(bytes, o.signature);
    const signer = signature.keyId;
    const inspected = this.inspect(bytes, name);
    const info = inspected.info;
    const current = this.liveVersion(name);
    if (!current)
      throw new QingtianError(
        ErrorCode.SwapRefused,
        `no version of module ${name} is loaded on the DPU cores; load it first (host.loadKernel), then swap`,
      );
    let transform = checkCandidate(current.info, info);
    const verifyMs = ms(t0);
    const open = this.windows.get(name);
    if (open?.claim()) await this.conclude(open, null); // at most two versions: accept the one in its window
    const live = this.liveVersion(name)!;
    if (live !== current) transform = checkCandidate(live.info, info); // that window ended in a rollback
    this.registry.note(live, null, 'live'); // a version the host loaded itself is recorded unsigned
    const tStage = performance.now();

    // ---- stage
    const next = loader.load(bytes, `${info.name}@${info.version}`, inspected);
    let coreLoadNs: number[];
    try {
      coreLoadNs = await pool.loadKernel(next);
    } catch (e) {
      loader.unload(next);
      throw e;
    }
    const stageMs = ms(tStage);
    const tTest = performance.now();
    const failure = this.selfTest(next);
    const selfTestMs = ms(tTest);
    if (failure) {
      await this.drop(next);
      throw new QingtianError(
        ErrorCode.SwapRefused,
        `module ${info.name}@${info.version}: self-test failed (${failure}); the staged version was dropped`,
        { selfTest: failure },
      );
    }
    const tag = { name, from: live.info.version, to: next.info.version };
    this.emit('staged', { ...tag, verifyMs, stageMs, selfTestMs, coreLoadNs });

    // ---- commit, all cores at once, each at its own next burst boundary
    const graceMs = o.graceMs ?? 500;
    const window = new GraceWindow(
      name,
      live,
      next,
      transform,
      this.deps.pool,
      { graceMs, health: o.health, maxErrorIncrease: o.maxErrorIncrease ?? 0, healthPollMs: o.healthPollMs ?? 5 },
      (w, reason) => {
        void this.serial(() => this.conclude(w, reason));
      },
    );
    const tCommit = performance.now();
    let cores: SwapCommit[];
    try {
      cores = await this.commit(live, next, transform, tag);
    } catch (e) {
      window.cancel();
      throw e;
    }
    const commitMs = ms(tCommit);
    this.live.set(name, next);
    this.deps.runtime.replace(live, next);
    this.registry.note(next, signature, 'live');
    this.registry.setStatus(live, 'previous');

    this.windows.set(name, window);
    window.start();
    const report: SwapReport = {
      ...tag,
      key: next.key,
      sha256: next.info.sha256,
      signer,
      transformed: transform !== null,
      verifyMs,
      stageMs,
      selfTestMs,
      commitMs,
      swapMs: stageMs + selfTestMs + commitMs,
      totalMs: ms(t0),
      cores,
      coreLoadNs,
      graceMs,
    };
    this.emit('swapped', report);
    return { ...report, settled: window.settled };
  }

  /** Commits on every core; if one refuses, the cores that committed are switched back and the stage dropped. */
  private async commit(
    from: LoadedKernel,
    to: LoadedKernel,
    transform: SwapTransform | null,
    tag: { name: string; from: string; to: string },
  ): Promise<SwapCommit[]> {
    const cores = this.deps.pool.cores;
    const results = await Promise.allSettled(cores.map((c) => c.swapKernel(from, to, transform)));
    const bad = results.findIndex((r) => r.status === 'rejected');
    if (bad < 0) {
      const commits = results.map((r) => (r as PromiseFulfilledResult<SwapCommit>).value);
      for (const c of commits) this.emit('committed', { ...tag, ...c });
      return commits;
    }
    await Promise.all(
      cores.map((c, i) =>
        results[i]!.status === 'fulfilled'
          ? c.swapKernel(to, from, reverse(transform)).catch(() => undefined)
          : Promise.resolve(),
      ),
    );
    await this.drop(to);
    const why = (results[bad] as PromiseRejectedResult).reason as Error;
    throw new QingtianError(
      ErrorCode.SwapFailed,
      `commit of ${tag.name}@${tag.to} refused on core ${bad}: ${why.message}; every core runs ${tag.from} again`,
    );
  }

  /** The end of a grace window, inside the swap queue: keep (reason null) or roll back. */
  private async conclude(w: GraceWindow, reason: string | null): Promise<void> {
    if (w.cancelled) return;
    if (this.windows.get(w.name) === w) this.windows.delete(w.name);
    const { previous, next, name } = w;
    // A job the core already put back on the previous version must not lose it: roll back.
    const fellBack = this.deps.pool.cores.some((c) => c.runningJobs().some((j) => j.kernel.key === previous.key));
    if (reason === null && fellBack) reason = `a job fell back to ${previous.info.version} on its core`;
    if (reason === null) {
      const freed = await this.drop(previous).then(
        () => true,
        () => false,
      );
      this.registry.setStatus(previous, freed ? 'retired' : 'previous');
      this.emit('settled', { name, version: next.info.version, freed: freed ? previous.info.version : null });
      w.finish({ outcome: 'kept', previousFreed: freed });
      return;
    }
    const t0 = performance.now();
    const results = await Promise.allSettled(
      this.deps.pool.cores.map((c) => c.swapKernel(next, previous, reverse(w.transform))),
    );
    const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (bad) {
      const error = (bad.reason as Error).message;
      this.emit('rollback-failed', { name, reason, error });
      w.finish({ outcome: 'rollback-failed', reason, error });
      return;
    }
    const cores = results.map((r) => (r as PromiseFulfilledResult<SwapCommit>).value);
    this.live.set(name, previous);
    this.deps.runtime.replace(next, previous);
    this.registry.setStatus(previous, 'live');
    this.registry.setStatus(next, 'failed');
    await this.drop(next).catch(() => undefined);
    const rollbackMs = ms(t0);
    this.emit('rolled-back', { name, from: next.info.version, to: previous.info.version, reason, cores, rollbackMs });
    w.finish({ outcome: 'rolled-back', reason, cores, rollbackMs });
  }

  /** The loader's checks, with the live regions a refused data segment would have overwritten named. */
  private inspect(bytes: Uint8Array, name: string): ReturnType<typeof inspectKernel> {
    try {
      return inspectKernel(bytes, this.deps.memory.sizeBytes / 65536, `${name} (hot swap)`);
    } catch (e) {
      const segs = isQingtianError(e, ErrorCode.KernelRejected)
        ? (e.details['segments'] as { offset: number | null; byteLength: number }[] | undefined)
        : undefined;
      if (!segs) throw e;
      // The low 64 KiB are never handed out (address 0 means "none" to kernels) but are still host memory.
      const low: Region = {
        id: 0,
        name: 'low 64 KiB (never allocated: address 0 is "no address")',
        owner: 'host memory',
        kind: 'reserved',
        base: 0,
        sizeBytes: 65536,
      };
      const over = overlappedRegions(segs, [low, ...this.deps.memory.regions()]);
      throw new QingtianError(
        ErrorCode.KernelRejected,
        `${(e as Error).message}${over.length ? `; it would write ${over.join('; ')}` : ''}`,
        { ...(e as QingtianError).details, overlaps: over },
      );
    }
  }

  /**
   * Runs the module's qt_self_test on shadow data (main-thread instance): a fresh, zeroed
   * scratch region that no job uses, of QT_SELF_TEST_BYTES if the module declares it (within
   * [64 KiB, 16 MiB]), freed afterwards. '' on success, else what went wrong.
   */
  private selfTest(k: LoadedKernel): string {
    let bytes = SHADOW_MIN_BYTES;
    try {
      // The candidate's own declaration, read from it: a new version may ask for more shadow data.
      bytes = Math.min(SHADOW_MAX_BYTES, Math.max(SHADOW_MIN_BYTES, k.constant('QT_SELF_TEST_BYTES')));
    } catch {
      // optional declaration: the default shadow size
    }
    const mem = this.deps.memory;
    const shadow = mem.alloc({
      name: `hot-swap:shadow:${k.info.name}@${k.info.version}`,
      owner: OWNER,
      kind: 'core-scratch',
      sizeBytes: bytes,
    });
    try {
      const status = k.fn<(s: number, b: number) => number>(SELF_TEST_EXPORT)(shadow.base, shadow.sizeBytes);
      return status === 0 ? '' : `${SELF_TEST_EXPORT} returned ${status}`;
    } catch (e) {
      return `${SELF_TEST_EXPORT} trapped: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      mem.free(shadow, OWNER);
    }
  }

  /** Unloads a version from every core and frees its image slot and tables. */
  private async drop(k: LoadedKernel): Promise<void> {
    await this.deps.pool.unloadKernel(k);
    this.deps.loader.unload(k);
  }

  private findLoaded(name: string): LoadedKernel | undefined {
    const found = this.deps.pool.loadedKernels().filter((k) => k.info.name === name);
    if (found.length <= 1) return found[0];
    const cached = this.deps.runtime.cached(name);
    if (cached && found.includes(cached)) return cached;
    throw new QingtianError(
      ErrorCode.SwapRefused,
      `module ${name} has ${found.length} versions loaded (${found.map((k) => k.info.version).join(', ')}); which one is live is ambiguous`,
    );
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => undefined);
    return p;
  }
}
