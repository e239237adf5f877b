import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import { FC_E_BUSY, FC_E_RANGE, FC_KEY_BYTES, FC_LAYOUT, FC_MAGIC, FC_MAX_VALUE } from '../../generated/flow.js';
import { HDR_BYTES } from '../../generated/common.js';

/** Bytes of a flow key (the packet parser's key layout, see packet-parser.ts). */
export const FLOW_KEY_BYTES = FC_KEY_BYTES;
/** Largest value a flow can carry (lookups return -1 for a miss). */
export const MAX_FLOW_VALUE = FC_MAX_VALUE;

export interface FlowTableOptions {
  /** Most flows held, in [8, 2^24]. Default 65536. Memory: about 73 bytes a flow (72 of entries, 1 of tags). */
  capacity?: number | undefined;
  runtime?: KernelRuntime | undefined;
  /** Hash key (u32). Default: fixed; pass a secret one where flooding matters. */
  seed?: number | undefined;
  /** Tick source for last-hit stamps and aging (u32 ticks, may wrap). Default: milliseconds. */
  clock?: (() => number) | undefined;
}

export type FlowInsertResult = 'inserted' | 'updated' | 'evicted';

export interface FlowPlacement {
  /** The key's 32-bit hash under the table's seed. */
  hash: number;
  /** Primary and alternative bucket (equal for the rare key with a single bucket). */
  buckets: [number, number];
  /** The 8-bit tag kept for the key in the tag array (never 0). */
  tag: number;
  /** bucket * 8 + slot where the key is now, or null. */
  slot: number | null;
}

const optionsSchema = z
  .object({
    capacity: intIn(8, 1 << 24).optional(),
    runtime: z
      .custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'kernel' in v, { error: 'a KernelRuntime' })
      .optional(),
    seed: intIn(0, 0xffffffff).optional(),
    clock: z.custom<() => number>((v) => typeof v === 'function', { error: 'a function returning ticks' }).optional(),
  })
  .optional();

const OWNER = 'flow-table';
const STAGE_KEYS = 1024;

/**
 * The exact-match flow cache (bucketised cuckoo hashing with 8-bit tags in a compact array of
 * their own, in the `flow` kernel): 48-byte flow keys → a u31 value (an action or flow id). A
 * lookup reads the tags of two buckets and at most one entry. Full tables evict the flow hit
 * least recently among the candidates, so hot flows survive churn; `age` removes idle flows.
 *
 * Lookups on other threads (DPU cores, through `lookupAt` or the kernel's `flow_fc_lookup`)
 * are safe during updates: a burst that overlaps an update is re-run (seqlock).
 */
export class FlowTable {
  readonly state: StateRegion;
  readonly kernel: LoadedKernel;
  readonly capacity: number;
  private readonly runtime: KernelRuntime;
  private readonly stage: Region;
  private readonly clock: () => number;
  private readonly fLookup: (st: number, keys: number, n: number, out: number, now: number) => number;
  private readonly fInsert: (st: number, key: number, value: number, now: number) => number;
  private readonly fDelete: (st: number, key: number) => number;
  private readonly fAge: (st: number, now: number, idle: number, budget: number) => number;
  private readonly fCount: (st: number) => number;
  /** Buckets of 8 slots (the kernel's choice for `capacity`: slots for 9/8 of it). */
  readonly bucketCount: number;
  private disposed = false;

  constructor(options?: FlowTableOptions) {
    const o = parseArgs(optionsSchema, options, 'FlowTable options');
    this.runtime = o?.runtime ?? defaultRuntime();
    this.capacity = o?.capacity ?? 65536;
    this.clock = o?.clock ?? (() => Math.floor(performance.now()));
    this.kernel = this.runtime.kernel('flow');
    const k = this.kernel;
    // The kernel sizes the table: 8 slots a bucket, 89 % full at capacity, where a cuckoo
    // search still finds room for every insert below capacity.
    const buckets = k.fn<(c: number) => number>('flow_fc_buckets')(this.capacity);
    this.bucketCount = buckets;
    const bytes = k.fn<(c: number, b: number) => number>('flow_fc_bytes')(this.capacity, buckets);
    const mem = this.runtime.memory;
    this.state = mem.allocState({
      name: 'flow:flow-table',
      owner: OWNER,
      kind: 'device-state',
      magic: FC_MAGIC,
      layoutVersion: FC_LAYOUT,
      payloadBytes: bytes - HDR_BYTES,
    });
    try {
      this.stage = mem.alloc({
        name: 'flow:flow-table-stage',
        owner: OWNER,
        kind: 'core-scratch',
        sizeBytes: STAGE_KEYS * (FLOW_KEY_BYTES + 4),
      });
    } catch (e) {
      mem.free(this.state, OWNER);
      throw e;
    }
    const st = k.fn<(s: number, c: number, b: number, seed: bigint) => number>('flow_fc_init')(
      this.state.base,
      this.capacity,
      buckets,
      BigInt(o?.seed ?? 0x0f10_7ab1),
    );
    if (st !== 0) throw new QingtianError(ErrorCode.KernelLoadFailed, `flow_fc_init returned ${st}`);
    this.fLookup = k.fn('flow_fc_lookup');
    this.fInsert = k.fn('flow_fc_insert');
    this.fDelete = k.fn('flow_fc_delete');
    this.fAge = k.fn('flow_fc_age');
    this.fCount = k.fn('flow_fc_count');
  }

  /** Inserts or updates a flow; value in [0, 2^31 - 1]. */
  insert(key: Uint8Array, value: number): FlowInsertResult {
    this.assertLive();
    this.checkKeys(key, 1, 'insert');
    if (!Number.isInteger(value) || value < 0 || value > MAX_FLOW_VALUE)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `insert: value: expected an integer in [0, ${MAX_FLOW_VALUE}], got ${value}`,
      );
    this.runtime.memory.u8.set(key, this.stage.base);
    return this.result(this.fInsert(this.state.base, this.stage.base, value, this.now()));
  }

  /** Inserts many flows: `keys` holds values.length keys back to back. Returns the counts. */
  insertBurst(keys: Uint8Array, values: ArrayLike<number>): Record<FlowInsertResult, number> {
    this.assertLive();
    const n = values.length;
    this.checkKeys(keys, n, 'insertBurst');
    const counts = { inserted: 0, updated: 0, evicted: 0 };
    const u8 = this.runtime.memory.u8;
    const now = this.now();
    for (let i = 0; i < n; i++) {
      const v = values[i]!;
      if (!Number.isInteger(v) || v < 0 || v > MAX_FLOW_VALUE)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `insertBurst: values[${i}]: expected an integer in [0, ${MAX_FLOW_VALUE}], got ${v}`,
        );
      u8.set(keys.subarray(i * FLOW_KEY_BYTES, (i + 1) * FLOW_KEY_BYTES), this.stage.base);
      counts[this.result(this.fInsert(this.state.base, this.stage.base, v, now))]++;
    }
    return counts;
  }

  /** The flow's value, or -1. */
  lookup(key: Uint8Array): number {
    return this.lookupBurst(key)[0]!;
  }

  /** Burst lookup over keys back to back (48 bytes each): value or -1 each. */
  lookupBurst(keys: Uint8Array, out?: Int32Array): Int32Array {
    this.assertLive();
    const n = keys.length / FLOW_KEY_BYTES;
    this.checkKeys(keys, n, 'lookupBurst');
    const res = out ?? new Int32Array(n);
    if (res.length < n)
      throw new QingtianError(ErrorCode.InvalidArgument, `lookupBurst: out.length must be >= ${n}, got ${res.length}`);
    const mem = this.runtime.memory;
    const kb = this.stage.base;
    const ob = kb + STAGE_KEYS * FLOW_KEY_BYTES;
    const now = this.now();
    for (let at = 0; at < n; at += STAGE_KEYS) {
      const m = Math.min(STAGE_KEYS, n - at);
      mem.u8.set(keys.subarray(at * FLOW_KEY_BYTES, (at + m) * FLOW_KEY_BYTES), kb);
      this.check(this.fLookup(this.state.base, kb, m, ob, now));
      res.set(new Int32Array(mem.memory.buffer, ob, m), at);
    }
    return res;
  }

  /** Zero-copy burst over the runtime's memory: `count` keys at keysAddr → i32 each at outAddr. */
  lookupAt(keysAddr: number, count: number, outAddr: number, now: number = this.now()): number {
    this.assertLive();
    return this.check(this.fLookup(this.state.base, keysAddr, count, outAddr, now >>> 0));
  }

  /** Removes a flow; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.assertLive();
    this.checkKeys(key, 1, 'delete');
    this.runtime.memory.u8.set(key, this.stage.base);
    return this.check(this.fDelete(this.state.base, this.stage.base)) === 1;
  }

  /**
   * Removes flows idle for more than `maxIdleTicks`, over `budgetBuckets` buckets from where the
   * last call stopped (default: the whole table). Returns how many were removed.
   */
  age(maxIdleTicks: number, budgetBuckets: number = this.bucketCount): number {
    this.assertLive();
    if (!Number.isInteger(maxIdleTicks) || maxIdleTicks < 0 || maxIdleTicks > 0xffffffff)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `age: maxIdleTicks: expected an integer in [0, 4294967295], got ${maxIdleTicks}`,
      );
    if (!Number.isInteger(budgetBuckets) || budgetBuckets < 1)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `age: budgetBuckets: expected an integer >= 1, got ${budgetBuckets}`,
      );
    return this.check(this.fAge(this.state.base, this.now(), maxIdleTicks, Math.min(budgetBuckets, this.bucketCount)));
  }

  get size(): number {
    return this.fCount(this.state.base);
  }

  /** Flows evicted to make room since creation. */
  get evictions(): number {
    return this.kernel.fn<(s: number) => number>('flow_fc_evictions')(this.state.base);
  }

  /** Entries moved to their other bucket by cuckoo paths since creation. */
  get cuckooMoves(): number {
    return this.kernel.fn<(s: number) => number>('flow_fc_moves')(this.state.base);
  }

  /** Bytes of the table's state region (header, tags, entries). */
  get footprintBytes(): number {
    return this.state.sizeBytes;
  }

  /**
   * Where a flow goes: its hash, its two candidate buckets, its tag, and its slot (null: absent).
   * For tests and diagnostics.
   */
  placement(key: Uint8Array): FlowPlacement {
    this.assertLive();
    this.checkKeys(key, 1, 'placement');
    const mem = this.runtime.memory;
    const out = this.stage.base + FLOW_KEY_BYTES;
    mem.u8.set(key, this.stage.base);
    this.check(
      this.kernel.fn<(s: number, k: number, o: number) => number>('flow_fc_key_info')(
        this.state.base,
        this.stage.base,
        out,
      ),
    );
    const w = new Uint32Array(mem.memory.buffer, out, 5);
    return { hash: w[0]!, buckets: [w[1]!, w[2]!], tag: w[3]!, slot: w[4] === 0xffffffff ? null : w[4]! };
  }

  /**
   * Checks the table's invariants (every flow sits under its own tag in one of its two buckets
   * and is found there, the count is right); throws QT_BAD_HEADER naming the first bad slot.
   */
  verify(): void {
    this.assertLive();
    const r = this.kernel.fn<(s: number) => number>('flow_fc_verify')(this.state.base);
    if (r === 0) return;
    if (r < 0) this.check(r);
    const slots = this.bucketCount * 8;
    throw new QingtianError(
      ErrorCode.BadHeader,
      r > slots
        ? `FlowTable: count ${this.size} is not the number of occupied slots`
        : `FlowTable: slot ${r - 1} (bucket ${Math.floor((r - 1) / 8)}) breaks the layout`,
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.runtime.memory.free(this.state, OWNER);
    this.runtime.memory.free(this.stage, OWNER);
  }

  private now(): number {
    return this.clock() >>> 0;
  }

  private result(status: number): FlowInsertResult {
    switch (status) {
      case 0:
        return 'inserted';
      case 1:
        return 'updated';
      case 2:
        return 'evicted';
      default:
        this.check(status);
        return 'inserted';
    }
  }

  private checkKeys(keys: Uint8Array, n: number, where: string): void {
    if (!(keys instanceof Uint8Array) || !Number.isInteger(n) || keys.length !== n * FLOW_KEY_BYTES) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${where}: expected ${Number.isInteger(n) ? n : 'whole'} key(s) of ${FLOW_KEY_BYTES} bytes in a Uint8Array, got ${keys instanceof Uint8Array ? `${keys.length} bytes` : typeof keys}`,
      );
    }
  }

  private check(status: number): number {
    if (status >= 0) return status;
    if (status === FC_E_RANGE)
      throw new QingtianError(ErrorCode.InvalidArgument, 'FlowTable: key or result range lies outside host memory');
    if (status === FC_E_BUSY)
      throw new QingtianError(ErrorCode.Timeout, 'FlowTable: a writer held the table for too long');
    throw new QingtianError(ErrorCode.BadHeader, `FlowTable: kernel status ${status}`);
  }

  private assertLive(): void {
    if (this.disposed) throw new QingtianError(ErrorCode.NotFound, 'flow table has been disposed');
  }
}
