import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { kernelStatusError } from '../../common/kernel-status.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import type { DpuCorePool } from '../core/core-pool.js';
import type { Job } from '../core/dpu-core.js';
import { HDR_BYTES } from '../../generated/common.js';
import {
  ECBJ_BYTES,
  ECBJ_COUNT,
  ECBJ_DESCS,
  ECBJ_DONE_SEQ,
  ECBJ_FAILED,
  ECBJ_FIRST_ERROR,
  ECBJ_FIRST_FAILED,
  ECBJ_LAYOUT,
  ECBJ_MAGIC,
  ECBJ_SEQ,
  EC_DESC_BYTES,
  EC_DESC_DST,
  EC_DESC_K,
  EC_DESC_LEN,
  EC_DESC_ROWS,
  EC_DESC_SRC,
  EC_DESC_TBLS,
  EC_TABLE_BYTES,
} from '../../generated/ec.js';
import {
  flavouredFamily,
  resolveFlavour,
  SIMD_CHOICES,
  type SimdChoice,
  type SimdFlavour,
} from '../kernels/kernel-flavour.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { EC_STATUSES } from './ec-kernel.js';
import type { ReedSolomon } from './reed-solomon.js';
import { addressArray, invalid, shardBytes } from './shard-args.js';

/** Options of {@link EcOffload.start}. Unknown keys are refused. */
export interface EcOffloadOptions {
  /** How many DPU cores take part (the first N). Default: all. */
  cores?: number | undefined;
  /** Stripes a core takes per round, 1-65536. Default 256. */
  stripesPerRound?: number | undefined;
  /** Stripes a core runs per burst (between control commands), 1-1024. Default 4. */
  budget?: number | undefined;
  /** Kernel flavour; coders used with this offload must have the same. Default 'auto'. */
  simd?: SimdChoice | undefined;
}

/** What an offloaded batch did. */
export interface OffloadResult {
  /** Stripes coded. */
  stripes: number;
  /** Source bytes read (k x shard length per stripe). */
  bytes: number;
}

const optionsSchema = z
  .object({
    cores: intIn(1, 64).optional(),
    stripesPerRound: intIn(1, 65536).optional(),
    budget: intIn(1, 1024).optional(),
    simd: oneOf(SIMD_CHOICES).optional(),
  })
  .optional();

const OWNER = 'ec-offload';
/** A pass reads at most 255 sources and writes at most 254 outputs: 256 pointers each is enough. */
const PTRS_PER_STRIPE = 512;

interface Lane {
  coreId: number;
  region: StateRegion;
  tables: StateRegion | null;
  job: Job;
}

/**
 * Erasure coding of large stripe sets on the DPU cores: one long-lived job per core (ec_batch)
 * works through a list of stripes published in its state region, so a whole batch costs one
 * doorbell per core, not a task per stripe. Shards are host addresses in the runtime's memory
 * (inside a Host: host.runtime, which the cores share).
 *
 * ```ts
 * const rs = new ReedSolomon({ dataShards: 10, parityShards: 4, runtime: host.runtime });
 * const off = await EcOffload.start(host.runtime, host.dpu, { simd: rs.flavour });
 * await off.encode(rs, stripes, shardBytes);   // stripes: { data: number[]; parity: number[] }[]
 * await off.close();
 * ```
 *
 * A round publishes up to `stripesPerRound` pass descriptors plus their pointer arrays in a
 * core's state region, stores the batch number last (release), rings the doorbell once, and
 * awaits the job's done number (`Atomics.waitAsync`); the job runs `budget` stripes per burst, so
 * control commands still land between bursts. The coder must live in the same runtime and use
 * the same kernel flavour (its table layout depends on it). Batches run one at a time.
 *
 * Per core, a 'ECBJ' job-state region:
 *   +0    header (64)
 *   +64   batch fields (the kernel's; 64 bytes)
 *   +128  descriptors     stripesPerRound x 32
 *   +D    pointer arena   stripesPerRound x 512 x u32 (each stripe's source and output addresses)
 */
export class EcOffload {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly life = new Lifetime('EcOffload', 'close()');

  private constructor(
    private readonly runtime: KernelRuntime,
    private readonly pool: DpuCorePool,
    private readonly lanes: Lane[],
    private readonly perRound: number,
    /** The kernel build its jobs run; coders used with it must have the same. */
    readonly flavour: SimdFlavour,
  ) {}

  /**
   * Loads the ec kernel on the cores and attaches one `ec_batch` job per core (the first
   * `options.cores`), each with its own 'ECBJ' job-state region. In a Host:
   * `EcOffload.start(host.runtime, host.dpu)`.
   */
  static async start(runtime: KernelRuntime, pool: DpuCorePool, options?: EcOffloadOptions): Promise<EcOffload> {
    const o = parseArgs(optionsSchema, options, 'EcOffload options');
    const cores = o?.cores ?? pool.cores.length;
    if (cores > pool.cores.length)
      throw invalid(
        'EcOffload options',
        `cores: expected an integer in [1, ${pool.cores.length}] (the pool's cores), got ${cores}`,
        { field: 'cores' },
      );
    const flavour = resolveFlavour(o?.simd ?? 'auto');
    const kernel = runtime.kernel(flavouredFamily('ec', flavour));
    await pool.loadKernel(kernel);
    const perRound = o?.stripesPerRound ?? 256;
    const lanes: Lane[] = [];
    try {
      for (let i = 0; i < cores; i++) {
        const region = runtime.memory.allocState({
          name: `ec-offload:core${i}`,
          owner: OWNER,
          kind: 'job-state',
          magic: ECBJ_MAGIC,
          layoutVersion: ECBJ_LAYOUT,
          payloadBytes: ECBJ_BYTES - HDR_BYTES + perRound * (EC_DESC_BYTES + PTRS_PER_STRIPE * 4),
        });
        const job = await pool
          .core(i)
          .attachJob({ kernel, entry: 'ec_batch', state: region.base, budget: o?.budget ?? 4 });
        lanes.push({ coreId: i, region, tables: null, job });
      }
    } catch (e) {
      for (const l of lanes)
        await pool
          .core(l.coreId)
          .detachJob(l.job)
          .catch(() => undefined);
      for (const l of lanes) runtime.memory.free(l.region, OWNER);
      throw e;
    }
    return new EcOffload(runtime, pool, lanes, perRound, flavour);
  }

  /** Cores taking part. */
  get cores(): number {
    this.life.check('cores');
    return this.lanes.length;
  }

  /** Encodes every stripe: parity[r] from data[j], host addresses, `shardLength` bytes each. */
  async encode(
    rs: ReedSolomon,
    stripes: readonly { data: readonly number[]; parity: readonly number[] }[],
    shardLength: number,
  ): Promise<OffloadResult> {
    const len = this.check('encode', rs, stripes, shardLength);
    const mem = this.runtime.memory.sizeBytes;
    const passes = stripes.map((s, i) => ({
      src: addressArray('EcOffload.encode', `stripes[${i}].data`, s.data, rs.dataShards, len, mem),
      dst: addressArray('EcOffload.encode', `stripes[${i}].parity`, s.parity, rs.parityShards, len, mem),
    }));
    return this.serial(() => this.run(passes, len, rs.dataShards, null, rs.encodeTablesAddress, rs.parityShards));
  }

  /** Rebuilds the same missing shards of every stripe (a lost disk); `shards` are all k + m addresses. */
  async reconstruct(
    rs: ReedSolomon,
    stripes: readonly { shards: readonly number[] }[],
    missing: readonly number[],
    shardLength: number,
  ): Promise<OffloadResult> {
    const len = this.check('reconstruct', rs, stripes, shardLength);
    const mem = this.runtime.memory.sizeBytes;
    const plan = rs.decodePlan(missing);
    // The plan's tables are copied into each core's own table region: the coder's cache may
    // reuse its slot while the batch runs.
    const tables = this.runtime.memory.u8.slice(
      plan.tables,
      plan.tables + plan.targets.length * rs.dataShards * EC_TABLE_BYTES,
    );
    const passes = stripes.map((s, i) => {
      const a = addressArray('EcOffload.reconstruct', `stripes[${i}].shards`, s.shards, rs.totalShards, len, mem);
      return { src: plan.sources.map((j) => a[j]!), dst: plan.targets.map((j) => a[j]!) };
    });
    if (plan.targets.length === 0) return { stripes: stripes.length, bytes: 0 };
    return this.serial(() => this.run(passes, len, rs.dataShards, tables, 0, plan.targets.length));
  }

  /** Detaches the jobs and frees their regions. */
  async close(): Promise<void> {
    if (!this.life.end()) return;
    await this.queue.catch(() => undefined);
    for (const l of this.lanes) {
      await this.pool
        .core(l.coreId)
        .detachJob(l.job)
        .catch(() => undefined);
      this.runtime.memory.free(l.region, OWNER);
      if (l.tables) this.runtime.memory.free(l.tables, OWNER);
    }
  }

  private check(op: string, rs: ReedSolomon, stripes: readonly unknown[], shardLength: number): number {
    const where = `EcOffload.${op}`;
    this.life.check(op);
    if (rs.runtime.memory !== this.runtime.memory)
      throw invalid(
        where,
        "rs: expected a coder in the offload's runtime (its shards and tables must be in the memory the cores see)",
        { field: 'rs' },
      );
    if (rs.flavour !== this.flavour)
      throw invalid(
        where,
        `rs: expected a coder built with the '${this.flavour}' kernels (the tables' layout depends on it), got '${rs.flavour}'`,
        { field: 'rs' },
      );
    if (!Array.isArray(stripes))
      throw invalid(where, `stripes: expected an array, got ${typeof stripes}`, { field: 'stripes' });
    return shardBytes(where, shardLength, this.runtime.memory.sizeBytes);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async run(
    passes: { src: number[]; dst: number[] }[],
    len: number,
    k: number,
    tables: Uint8Array | null,
    tablesAddr: number,
    rows: number,
  ): Promise<OffloadResult> {
    const lanes = this.lanes;
    const tbls = tables ? lanes.map((l) => this.laneTables(l, tables)) : lanes.map(() => tablesAddr);
    let next = 0;
    while (next < passes.length) {
      const rounds: Promise<void>[] = [];
      for (let li = 0; li < lanes.length && next < passes.length; li++) {
        const share = Math.min(this.perRound, Math.ceil((passes.length - next) / (lanes.length - li)));
        rounds.push(this.round(lanes[li]!, passes.slice(next, next + share), next, len, k, rows, tbls[li]!));
        next += share;
      }
      await Promise.all(rounds);
    }
    return { stripes: passes.length, bytes: passes.length * k * len };
  }

  private laneTables(l: Lane, tables: Uint8Array): number {
    const mem = this.runtime.memory;
    if (!l.tables || l.tables.sizeBytes - HDR_BYTES < tables.length) {
      if (l.tables) mem.free(l.tables, OWNER);
      l.tables = mem.allocState({
        name: `ec-offload:tables${l.coreId}`,
        owner: OWNER,
        kind: 'job-state',
        magic: 'ECTB',
        layoutVersion: 1,
        payloadBytes: tables.length,
      });
    }
    mem.u8.set(tables, l.tables.payload);
    return l.tables.payload;
  }

  /** Publishes one round to a core and waits until its job marks it done. */
  private async round(
    lane: Lane,
    passes: { src: number[]; dst: number[] }[],
    first: number,
    len: number,
    k: number,
    rows: number,
    tbls: number,
  ): Promise<void> {
    const { view, i32 } = this.runtime.memory;
    const base = lane.region.base;
    // The job's fields, then perRound descriptors, then each descriptor's pointer arrays.
    const descs = base + ECBJ_BYTES;
    let arena = descs + this.perRound * EC_DESC_BYTES;
    passes.forEach((p, i) => {
      const d = descs + i * EC_DESC_BYTES;
      view.setUint32(d + EC_DESC_LEN, len, true);
      view.setUint32(d + EC_DESC_K, k, true);
      view.setUint32(d + EC_DESC_ROWS, rows, true);
      view.setUint32(d + EC_DESC_TBLS, tbls, true);
      view.setUint32(d + EC_DESC_SRC, arena, true);
      p.src.forEach((a, j) => view.setUint32(arena + 4 * j, a, true));
      view.setUint32(d + EC_DESC_DST, arena + 4 * p.src.length, true);
      p.dst.forEach((a, j) => view.setUint32(arena + 4 * (p.src.length + j), a, true));
      arena += PTRS_PER_STRIPE * 4;
    });
    view.setUint32(base + ECBJ_COUNT, passes.length, true);
    view.setUint32(base + ECBJ_DESCS, descs, true);
    const seqIdx = (base + ECBJ_SEQ) >> 2;
    const doneIdx = (base + ECBJ_DONE_SEQ) >> 2;
    const seq = (Atomics.load(i32, seqIdx) + 1) | 0;
    // Release: the batch above is visible to the core once it reads the new seq.
    Atomics.store(i32, seqIdx, seq);
    this.pool.core(lane.coreId).ringDoorbell();
    for (;;) {
      const done = Atomics.load(i32, doneIdx);
      if (done === seq) break;
      if (lane.job.status !== 'running') {
        throw new QingtianError(
          ErrorCode.CoreUnavailable,
          `EcOffload: the ec_batch job on core ${lane.coreId} is ${lane.job.status}`,
          { coreId: lane.coreId },
        );
      }
      const w = Atomics.waitAsync(i32, doneIdx, done, 50);
      if (w.async) await w.value;
    }
    const failed = view.getUint32(base + ECBJ_FAILED, true);
    if (failed > 0) {
      const status = view.getInt32(base + ECBJ_FIRST_ERROR, true);
      const at = first + view.getUint32(base + ECBJ_FIRST_FAILED, true);
      throw kernelStatusError(
        `EcOffload: stripe ${at} on core ${lane.coreId}`,
        status,
        EC_STATUSES,
        { stripe: at, coreId: lane.coreId },
        `${failed} stripe(s) of the round refused`,
      );
    }
  }
}
