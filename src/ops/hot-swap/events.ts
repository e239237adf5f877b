import type { SwapCommit } from '../../dpu/core/dpu-core.js';

/** The new version is loaded on every core (its own image slot and table region) and passed its self-test. */
export interface StagedEvent {
  /** The module's `QT_NAME`. */
  name: string;
  /** The version live now, `'major.minor.patch'`. */
  from: string;
  /** The version staged. */
  to: string;
  /** Signature, kernel rules and the manager's checks, on the main thread. */
  verifyMs: number;
  /** Placement in host memory and instantiation on every core. */
  stageMs: number;
  /** The self-test: `qt_self_test` of the new version on shadow data (no live state touched). */
  selfTestMs: number;
  /** Per core: how long the core spent compiling and instantiating the new version (it served nothing meanwhile). */
  coreLoadNs: number[];
}

/** One core switched its jobs to the new version at its burst boundary. */
export interface CommittedEvent extends SwapCommit {
  /** The module's `QT_NAME`. */
  name: string;
  /** The version the core's jobs left. */
  from: string;
  /** The version they run now. */
  to: string;
}

/** The whole swap, as `hotSwap` resolves it. */
export interface SwapReport {
  /** The module's `QT_NAME`. */
  name: string;
  /** The version replaced. */
  from: string;
  /** The version live now. */
  to: string;
  /** Loader key of the new version (LoadedKernel.key). */
  key: number;
  /** SHA-256 of the new version's bytes, hex. */
  sha256: string;
  /** Key id of the signature it was admitted with. */
  signer: string;
  /** Whether the commit ran a state transform (state layouts differ). */
  transformed: boolean;
  /** Signature, kernel rules and the manager's checks, on the main thread (ms). */
  verifyMs: number;
  /** Placement in host memory and instantiation on every core (ms). */
  stageMs: number;
  /** The self-test on shadow data (ms). */
  selfTestMs: number;
  /** From the first commit request to the last core's acknowledgement. */
  commitMs: number;
  /** stage + self-test + commit: the whole swap (docs/hot-swap.md, "What a swap does"). */
  swapMs: number;
  /**
   * From the call to the last acknowledgement: verify, ending the previous swap's grace window if one
   * was open, and the swap.
   */
  totalMs: number;
  /** Per core: its commit, with the pause its jobs saw (measured by the core). */
  cores: SwapCommit[];
  /** Per core: ns spent compiling and instantiating the new version while staging (it served nothing meanwhile). */
  coreLoadNs: number[];
  /** The grace window that follows, in ms (`SwapOptions.graceMs`). */
  graceMs: number;
}

/**
 * How a swap's grace window ended (`SwapResult.settled`): `kept` (the previous version unloaded
 * and freed, `previousFreed`), `rolled-back` (every core runs the previous version again: why,
 * each core's commit, how long) or `rollback-failed` (why the rollback was needed and why it
 * failed; the new version stays).
 */
export type SwapOutcome =
  | { outcome: 'kept'; previousFreed: boolean }
  | { outcome: 'rolled-back'; reason: string; cores: SwapCommit[]; rollbackMs: number }
  | { outcome: 'rollback-failed'; reason: string; error: string };

/** The new version failed within its grace window; every core runs the previous version again. */
export interface RolledBackEvent {
  /** The module's `QT_NAME`. */
  name: string;
  /** The version that failed. */
  from: string;
  /** The version restored. */
  to: string;
  /** Why: the health counter rose past `maxErrorIncrease`, a job failed on the new version, or `rollback()`. */
  reason: string;
  /** Per core: the pause of the rollback commit. */
  cores: SwapCommit[];
  /** From the decision to the last core's acknowledgement (ms). */
  rollbackMs: number;
}

/** The grace window ended with the new version kept; the previous version's slot was freed. */
export interface SettledEvent {
  /** The module's `QT_NAME`. */
  name: string;
  /** The version kept. */
  version: string;
  /** The previous version, unloaded from every core, its image slot and tables freed. */
  freed: string | null;
}

/** A swap was refused or failed before its commit; nothing changed. */
export interface RefusedEvent {
  /** The module name the swap was asked for. */
  name: string;
  /** The error's code (e.g. `QT_BAD_SIGNATURE`, `QT_SWAP_REFUSED`). */
  code: string;
  /** The error's message. */
  message: string;
}

/** Event names and payloads of HotSwapManager. */
export interface HotSwapEvents {
  /** The new version is on every core and passed its self-test. */
  staged: [StagedEvent];
  /** One core's commit (one event per core). */
  committed: [CommittedEvent];
  /** The whole swap, once every core committed. */
  swapped: [SwapReport];
  /** The grace window rolled the swap back. */
  'rolled-back': [RolledBackEvent];
  /** A rollback failed: `reason` it was needed, `error` why it failed; the new version stays. */
  'rollback-failed': [{ name: string; reason: string; error: string }];
  /** The grace window ended with the new version kept. */
  settled: [SettledEvent];
  /** A swap was refused before its commit. */
  refused: [RefusedEvent];
}
