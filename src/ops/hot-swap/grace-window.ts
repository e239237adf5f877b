import type { DpuCorePool } from '../../dpu/core/core-pool.js';
import type { JobFailedEvent, JobRolledBackEvent, SwapTransform } from '../../dpu/core/dpu-core.js';
import type { LoadedKernel } from '../../dpu/kernels/kernel-loader.js';
import type { SwapOutcome } from './events.js';
import { describe } from '../../common/validate.js';

export interface GraceOptions {
  graceMs: number;
  health: (() => number) | undefined;
  maxErrorIncrease: number;
  healthPollMs: number;
}

/**
 * One reading of a swap's health probe: the count, or what went wrong (it threw, or returned
 * something other than a finite number). A probe that cannot be read is a failure, never a pass.
 */
export function readHealth(health: () => number): number | string {
  let v: unknown;
  try {
    v = health();
  } catch (e) {
    return `threw: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return `returned ${describe(v)}, not a finite number`;
  return v;
}

/**
 * The rollback window after a commit: `previous` stays loaded on every core, and the new
 * version is watched. It is rolled back when, before the window ends,
 *  - a core reports that a job failed on it (a trap or a negative status): the core has
 *    already put that job back on `previous` ('job-rolled-back'), or detached it if that
 *    failed too ('job-failed');
 *  - the caller's error counter (`health`) rises by more than `maxErrorIncrease`.
 * `onVerdict` receives the decision exactly once: null = keep (window over), else the reason.
 * The failure listeners are on from construction, before the commit is even sent: a new
 * version that traps in its very first burst is caught; `start()` (after the commit) starts
 * the clock and the health probe.
 */
export class GraceWindow {
  readonly settled: Promise<SwapOutcome>;
  private resolveSettled!: (o: SwapOutcome) => void;
  private decided = false;
  /** Dropped before it started (the commit failed and was undone): nothing to conclude. */
  cancelled = false;
  private timer: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private readonly onRolledBack: (e: JobRolledBackEvent) => void;
  private readonly onFailed: (e: JobFailedEvent) => void;

  constructor(
    readonly name: string,
    readonly previous: LoadedKernel,
    readonly next: LoadedKernel,
    readonly transform: SwapTransform | null,
    private readonly pool: DpuCorePool,
    private readonly options: GraceOptions,
    private readonly onVerdict: (w: GraceWindow, reason: string | null) => void,
  ) {
    this.settled = new Promise((r) => (this.resolveSettled = r));
    const tag = `${next.info.name}@${next.info.version}`;
    this.onRolledBack = (e) => {
      if (e.from.key === next.key)
        this.decide(
          `core ${e.coreId}: job #${e.job.id} failed on ${tag} (${e.failure.message}); the core put it back on ${previous.info.version}`,
        );
    };
    this.onFailed = (e) => {
      if (e.job.kernel.key === next.key)
        this.decide(`core ${e.coreId}: job #${e.job.id} failed on ${tag} (${e.failure.message})`);
    };
    pool.on('job-rolled-back', this.onRolledBack);
    pool.on('job-failed', this.onFailed);
  }

  /**
   * The commit is done on every core: the window's clock and health watch start now. `base` is
   * the probe's reading taken before the swap changed anything (readHealth), so starting cannot
   * fail.
   */
  start(base: number | null): void {
    if (this.decided) return;
    const options = this.options;
    const { health } = options;
    if (health && base !== null) {
      this.poll = setInterval(() => {
        const r = readHealth(health);
        if (typeof r === 'string') {
          this.decide(`health probe ${r} within the grace window`);
          return;
        }
        const now = r;
        if (now - base > options.maxErrorIncrease)
          this.decide(
            `error counter rose by ${now - base} (allowed: ${options.maxErrorIncrease}) within the grace window`,
          );
      }, options.healthPollMs);
      this.poll.unref();
    }
    this.timer = setTimeout(() => this.decide(null), options.graceMs);
    this.timer.unref();
  }

  get open(): boolean {
    return !this.decided;
  }

  /** Drops the window without a verdict (its commit failed and was undone). */
  cancel(): void {
    this.claim();
    this.cancelled = true;
    this.resolveSettled({
      outcome: 'rollback-failed',
      reason: 'commit failed',
      error: 'the commit was refused and undone',
    });
  }

  /** Ends the window now with `reason` (null: keep the new version) and reports it. No-op once decided. */
  decide(reason: string | null): void {
    if (this.claim()) this.onVerdict(this, reason);
  }

  /** Ends the window without reporting (the caller concludes it itself). False if it was already decided. */
  claim(): boolean {
    if (this.decided) return false;
    this.decided = true;
    this.stop();
    return true;
  }

  /** Delivers the outcome to whoever awaits `settled`. */
  finish(outcome: SwapOutcome): void {
    this.stop();
    this.resolveSettled(outcome);
  }

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
    this.timer = this.poll = null;
    this.pool.off('job-rolled-back', this.onRolledBack);
    this.pool.off('job-failed', this.onFailed);
  }
}
