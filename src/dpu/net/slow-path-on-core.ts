import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';
import type { DpuCore, HostJobHandle } from '../core/dpu-core.js';
import type { CtTimeouts } from './conntrack.js';
import {
  SPH_ANSWER,
  SPH_JSON,
  SPH_LENGTH,
  SPH_REQUEST,
  type SlowPathHostInit,
  type SlowPathHostStats,
} from './slow-path-host-job.js';
import type { VSwitch } from './vswitch.js';
import type { ModelOp } from './vpc-model-ops.js';

const MIB = 1 << 20;
const STATS_BYTES = 64 * 1024;
/** How long stats() waits for the core's answer. */
const STATS_TIMEOUT_MS = 5000;

export interface SlowPathOnCoreOptions {
  /** The switch, attached to `core`, and the ports whose upcalls the slow path takes. */
  sw: VSwitch;
  ports: readonly number[];
  /** The VPC model's options and its accepted changes so far (vpc-model-ops.ts). */
  model: { seed?: number | undefined; maxPortId?: number | undefined };
  ops: readonly ModelOp[];
  ctTimeouts?: Partial<CtTimeouts> | undefined;
  ctMaxEntries?: number | undefined;
  /** Host memory for the core's kernel instances and the model's tables. Default 64 MiB. */
  arenaBytes?: number | undefined;
}

/**
 * The routing-table slow path run by the DPU core that serves its switch (slow-path-host-job.ts),
 * as OVS-DPDK's PMD threads handle their own upcalls: a first packet is decided and forwarded
 * without a thread hand-off. The core holds a replica of the VPC model, built from the model's
 * changes; this is the main thread's handle on it.
 */
export class SlowPathOnCore {
  private constructor(
    private readonly core: DpuCore,
    private readonly memory: HostMemoryApi,
    private readonly job: HostJobHandle,
    private readonly regions: { arena: Region; stats: Region },
  ) {}

  static async attach(core: DpuCore, memory: HostMemoryApi, o: SlowPathOnCoreOptions): Promise<SlowPathOnCore> {
    const owner = `slow-path-core-${core.id}`;
    const arena = memory.alloc({
      name: 'slow-path-arena',
      owner,
      kind: 'core-scratch',
      sizeBytes: o.arenaBytes ?? 64 * MIB,
    });
    const stats = memory.alloc({ name: 'slow-path-stats', owner, kind: 'core-scratch', sizeBytes: STATS_BYTES });
    memory.u8.fill(0, stats.base, stats.base + STATS_BYTES);
    const init: SlowPathHostInit = {
      arenaBase: arena.base,
      arenaBytes: arena.sizeBytes,
      model: o.model,
      ops: [...o.ops],
      ctTimeouts: o.ctTimeouts,
      ctMaxEntries: o.ctMaxEntries,
      switchEnd: o.sw.slowPathEnd(o.ports),
      ports: [...o.ports],
      clockOrigin: performance.timeOrigin,
      statsAddr: stats.base,
      statsBytes: STATS_BYTES,
    };
    try {
      const job = await core.attachHostJob('net-slow-path', init);
      return new SlowPathOnCore(core, memory, job, { arena, stats });
    } catch (e) {
      memory.free(arena, owner);
      memory.free(stats, owner);
      throw e;
    }
  }

  /** Whether the core still runs it (a slow path that threw is detached: see the core's 'host-job-failed'). */
  get running(): boolean {
    return this.job.status === 'running';
  }

  /** The slow path's and its runner's counters, as the core answers them. */
  async stats(): Promise<SlowPathHostStats> {
    if (!this.running)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `the slow path on core ${this.core.id} is ${this.job.status}${this.job.failure ? `: ${this.job.failure.message}` : ''}`,
      );
    const i32 = this.memory.i32;
    const idx = this.regions.stats.base >> 2;
    const want = (Atomics.load(i32, idx + SPH_REQUEST) + 1) | 0;
    Atomics.store(i32, idx + SPH_REQUEST, want);
    this.core.ringDoorbell();
    const deadline = performance.now() + STATS_TIMEOUT_MS;
    for (;;) {
      const got = Atomics.load(i32, idx + SPH_ANSWER);
      if (got === want) break;
      if (performance.now() > deadline || !this.running)
        throw new QingtianError(
          ErrorCode.Timeout,
          `the slow path on core ${this.core.id} did not answer for its stats`,
        );
      await Atomics.waitAsync(i32, idx + SPH_ANSWER, got, 50).value;
    }
    const len = Atomics.load(i32, idx + SPH_LENGTH);
    if (len < 0) throw new QingtianError(ErrorCode.DeviceState, 'slow path stats: too large for their mailbox');
    const at = this.regions.stats.base + SPH_JSON;
    return JSON.parse(new TextDecoder().decode(this.memory.u8.slice(at, at + len))) as SlowPathHostStats;
  }

  /** Takes the slow path off the core and frees its memory. */
  async detach(): Promise<void> {
    await this.core.detachHostJob(this.job).catch(() => undefined);
    const owner = `slow-path-core-${this.core.id}`;
    this.memory.free(this.regions.arena, owner);
    this.memory.free(this.regions.stats, owner);
  }
}
