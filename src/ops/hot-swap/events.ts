import type { SwapCommit } from '../../dpu/core/dpu-core.js';

/** The new version is loaded on every core (its own image slot and table region) and passed its self-test. */
export interface StagedEvent {
  name: string;
  from: string;
  to: string;
  /** Signature, kernel rules and the manager's checks, on the main thread. */
  verifyMs: number;
  /** Placement in host memory and instantiation on every core. */
  stageMs: number;
  selfTestMs: number;
  /** Per core: how long the core spent compiling and instantiating the new version (it served nothing meanwhile). */
  coreLoadNs: number[];
}

/** One core switched its jobs to the new version at its burst boundary. */
export interface CommittedEvent extends SwapCommit {
  name: string;
  from: string;
  to: string;
}

/** The whole swap, as `hotSwap` resolves it. */
export interface SwapReport {
  name: string;
  from: string;
  to: string;
  /** Loader key of the new version (LoadedKernel.key). */
  key: number;
  sha256: string;
  /** Key id of the signature it was admitted with. */
  signer: string;
  /** Whether the commit ran a state transform (state layouts differ). */
  transformed: boolean;
  verifyMs: number;
  stageMs: number;
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
  cores: SwapCommit[];
  coreLoadNs: number[];
  graceMs: number;
}

export type SwapOutcome =
  | { outcome: 'kept'; previousFreed: boolean }
  | { outcome: 'rolled-back'; reason: string; cores: SwapCommit[]; rollbackMs: number }
  | { outcome: 'rollback-failed'; reason: string; error: string };

/** The new version failed within its grace window; every core runs the previous version again. */
export interface RolledBackEvent {
  name: string;
  /** The version that failed. */
  from: string;
  /** The version restored. */
  to: string;
  reason: string;
  /** Per core: the pause of the rollback commit. */
  cores: SwapCommit[];
  rollbackMs: number;
}

/** The grace window ended with the new version kept; the previous version's slot was freed. */
export interface SettledEvent {
  name: string;
  version: string;
  /** The previous version, unloaded from every core, its image slot and tables freed. */
  freed: string | null;
}

export interface RefusedEvent {
  name: string;
  code: string;
  message: string;
}

/** Event names and payloads of HotSwapManager. */
export interface HotSwapEvents {
  staged: [StagedEvent];
  committed: [CommittedEvent];
  swapped: [SwapReport];
  'rolled-back': [RolledBackEvent];
  'rollback-failed': [{ name: string; reason: string; error: string }];
  settled: [SettledEvent];
  refused: [RefusedEvent];
}
