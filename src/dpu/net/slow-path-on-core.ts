import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';
import type { DpuCore, HostJobHandle } from '../core/dpu-core.js';
import type { CtTimeouts } from './conntrack.js';
import { ChangeLogWriter, LOG_HEADER_BYTES, type SlowPathChange } from './slow-path-changes.js';
import { STATS_FIELDS, readSlowPathStats, type SlowPathHostInit } from './slow-path-host-job.js';
import type { RunnerStats } from './slow-path-runner.js';
import type { SlowPathStats } from './slow-path-types.js';
import type { VSwitch } from './vswitch.js';
import type { ModelOp } from './vpc-model-ops.js';

const MIB = 1 << 20;
/** Bytes of the changes' log (a power of two): thousands of changes ahead of the core. */
const LOG_BYTES = 1 * MIB;
/** The largest change, as JSON, the log takes (half of it, less the record's header and envelope). */
export const MAX_CHANGE_BYTES = LOG_BYTES / 2 - 64;
/** How long a change waits for room in the log, and removePort for the core to let a port go. */
const WAIT_MS = 5000;

export interface SlowPathOnCoreOptions {
  /** The switch, attached to `core`, and the ports whose upcalls the slow path takes from the start. */
  sw: VSwitch;
  ports: readonly number[];
  /** The VPC model's options and its accepted changes so far (vpc-model-ops.ts); later ones go through change(). */
  model: { seed?: number | undefined; maxPortId?: number | undefined };
  ops: readonly ModelOp[];
  ctTimeouts?: Partial<CtTimeouts> | undefined;
  ctMaxEntries?: number | undefined;
  /** Host memory for the core's kernel instances and the model's tables. Default 32 MiB. */
  arenaBytes?: number | undefined;
}

/**
 * The routing-table slow path run by the DPU core that serves its switch (slow-path-host-job.ts),
 * as OVS-DPDK's PMD threads handle their own upcalls: a first packet is decided and forwarded
 * without a thread hand-off. The core holds a replica of the VPC model, built from the model's
 * changes: those made before start() travel in its init, later ones through change(), in order,
 * applied by the core before it decides the next upcall. This is the main thread's handle on it.
 */
export class SlowPathOnCore {
  private job: HostJobHandle | null = null;
  private readonly log: ChangeLogWriter;
  private readonly owner: string;
  private readonly regions: { arena: Region; log: Region; stats: Region };
  private readonly init: SlowPathHostInit;
  private freed = false;

  /** Lays out its memory and takes the model's changes so far; start() puts it on the core. */
  constructor(
    private readonly core: DpuCore,
    private readonly memory: HostMemoryApi,
    private readonly sw: VSwitch,
    o: Omit<SlowPathOnCoreOptions, 'sw'>,
  ) {
    this.owner = `slow-path-core-${core.id}`;
    const alloc = (name: string, sizeBytes: number): Region =>
      memory.alloc({ name, owner: this.owner, kind: 'core-scratch', sizeBytes });
    const arena = alloc('slow-path-arena', o.arenaBytes ?? 32 * MIB);
    const log = alloc('slow-path-changes', LOG_HEADER_BYTES + LOG_BYTES);
    const stats = alloc('slow-path-stats', 8 * STATS_FIELDS);
    memory.u8.fill(0, log.base, log.base + LOG_HEADER_BYTES);
    memory.u8.fill(0, stats.base, stats.base + 8 * STATS_FIELDS);
    this.regions = { arena, log, stats };
    this.log = new ChangeLogWriter(memory.memory.buffer, log.base, LOG_BYTES);
    this.init = {
      arenaBase: arena.base,
      arenaBytes: arena.sizeBytes,
      model: o.model,
      ops: structuredClone([...o.ops]),
      ctTimeouts: o.ctTimeouts,
      ctMaxEntries: o.ctMaxEntries,
      switchEnd: sw.slowPathEnd(o.ports),
      ports: [...o.ports],
      clockOrigin: performance.timeOrigin,
      logBase: log.base,
      logCapacity: LOG_BYTES,
      statsAddr: stats.base,
    };
  }

  /** Builds it and puts it on `core` (which serves `o.sw`). */
  static async attach(core: DpuCore, memory: HostMemoryApi, o: SlowPathOnCoreOptions): Promise<SlowPathOnCore> {
    const s = new SlowPathOnCore(core, memory, o.sw, o);
    await s.start();
    return s;
  }

  /** Attaches the host job; the changes made since construction wait in the log for it. */
  async start(): Promise<void> {
    try {
      this.job = await this.core.attachHostJob('net-slow-path', this.init);
    } catch (e) {
      this.free();
      throw e;
    }
  }

  /** Whether the core runs it (one that threw is detached: `failure` says why). */
  get running(): boolean {
    return this.job?.status === 'running';
  }

  /** Why the core stopped running it, if it did. */
  get failure(): string | null {
    return this.job?.failure?.message ?? null;
  }

  /**
   * Sends a change and, while the core runs the slow path, waits until the core has applied it
   * (a few µs to a wake-up's tens): when this returns, whatever the change invalidates is being
   * flushed, before any packet sent after it. A quiesced core applies it when resumed.
   *
   * `first` (the control plane's own copy of the change) runs once the log has room for it and
   * before it is sent: if it throws, nothing is sent; if the core does not make room in time,
   * QT_TIMEOUT, and neither has it run. So the replica never misses a change its model took.
   */
  change<T>(c: SlowPathChange, first?: () => T): T | undefined {
    if (this.freed) throw new QingtianError(ErrorCode.Disposed, `the slow path on core ${this.core.id} is gone`);
    const deadline = performance.now() + WAIT_MS;
    const bytes = this.log.encode(c);
    // The core empties the log every pass; it is full only while the core is stuck.
    while (!this.log.hasRoom(bytes)) this.waitApplied(deadline, '; the change was not made');
    const r = first?.();
    // Only this thread writes, and the core only makes room: the change fits.
    if (!this.log.tryAppend(bytes)) throw new Error('the change log lost the room made for a change');
    if (this.job) this.awaitApplied(deadline);
    return r;
  }

  /** Waits until the core has applied every change written (while it runs and is not quiesced). */
  private awaitApplied(deadline: number): void {
    this.core.ringDoorbell();
    const want = this.log.written;
    while (this.log.applied - want < 0 && this.running && this.core.runState() !== 'quiesced') {
      this.waitApplied(deadline, '; the change is made and waits in its log for the core');
    }
  }

  /** Blocks for a moment on the applied count; throws once `deadline` passed. */
  private waitApplied(deadline: number, made: string): void {
    if (!this.running || performance.now() > deadline)
      throw new QingtianError(
        ErrorCode.Timeout,
        `the slow path on core ${this.core.id} is not taking changes${this.failure ? ` (${this.failure})` : ''}${made}`,
      );
    this.core.ringDoorbell();
    Atomics.wait(this.memory.i32, this.log.appliedIndex, this.log.applied, 1);
  }

  /** Starts draining `port`'s upcall ring (the port is on the switch). */
  addPort(port: number): void {
    const r = this.sw.upcallRing(port);
    this.change({ addPort: { port, base: r.base, capacity: r.capacity } });
  }

  /** Stops draining `port`'s upcall ring; resolves once the core no longer reads it. */
  async removePort(port: number): Promise<void> {
    this.change({ removePort: port });
    await this.settled();
  }

  /** Resolves once the core has applied every change sent so far (or no longer runs the slow path). */
  async settled(): Promise<void> {
    const i32 = this.memory.i32;
    const want = this.log.written;
    const deadline = performance.now() + WAIT_MS;
    for (;;) {
      const got = this.log.applied;
      if (got - want >= 0 || !this.running) return;
      if (performance.now() > deadline)
        throw new QingtianError(ErrorCode.Timeout, `the slow path on core ${this.core.id} did not take its changes`);
      await Atomics.waitAsync(i32, this.log.appliedIndex, got, 20).value;
    }
  }

  /** The slow path's and its runner's counters, as the core last published them (after every burst). */
  stats(): { slowPath: SlowPathStats; runner: RunnerStats } {
    return readSlowPathStats(new Float64Array(this.memory.memory.buffer), this.regions.stats.base);
  }

  /** Takes the slow path off the core and frees its memory. */
  async detach(): Promise<void> {
    if (this.job) await this.core.detachHostJob(this.job).catch(() => undefined);
    this.free();
  }

  private free(): void {
    if (this.freed) return;
    this.freed = true;
    for (const r of Object.values(this.regions)) this.memory.free(r, this.owner);
  }
}
