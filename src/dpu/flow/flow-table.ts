import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { checkKernelStatus, kernelStatusError, statusTable, type StatusTable } from '../../common/kernel-status.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import {
  FC_E_BUSY,
  FC_E_RANGE,
  FC_E_STATE,
  FC_INFO_BUCKET1,
  FC_INFO_BUCKET2,
  FC_INFO_HASH,
  FC_INFO_SLOT,
  FC_INFO_TAG,
  FC_KEY_BYTES,
  FC_LAYOUT,
  FC_MAGIC,
  FC_MAX_VALUE,
  FC_NO_SLOT,
} from '../../generated/flow.js';
import { HDR_BYTES } from '../../generated/common.js';

/** Bytes of a flow key (the packet parser's key layout, see packet-parser.ts). */
export const FLOW_KEY_BYTES = FC_KEY_BYTES;
/** Largest value a flow can carry (lookups return -1 for a miss). */
export const MAX_FLOW_VALUE = FC_MAX_VALUE;

/** Options of {@link FlowTable}. Unknown keys are refused. */
export interface FlowTableOptions {
  /** Most flows held, in [8, 2^24]. Default 65536. Memory: about 73 bytes a flow (72 of entries, 1 of tags). */
  capacity?: number | undefined;
  /** Where its state lives and which kernels it calls. Default: defaultRuntime(); in a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
  /** Hash key (u32). Default: fixed; pass a secret one where flooding matters. */
  seed?: number | undefined;
  /** Tick source for last-hit stamps and aging (u32 ticks, may wrap). Default: milliseconds. */
  clock?: (() => number) | undefined;
}

/** What an insert did: added a flow, changed an existing flow's value, or added it by evicting another. */
export type FlowInsertResult = 'inserted' | 'updated' | 'evicted';

/** Where a flow goes in a {@link FlowTable} (for tests and diagnostics). */
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
 * their own, in the `flow` kernel): 48-byte flow keys → a u31 value (an action or flow id).
 *
 * Buckets of 8 slots; each flow's tag sits in the tag array (8 bytes a bucket) and its 64-byte
 * entry (key, value, last-hit tick, hash) at its slot's own position; two candidate buckets per
 * key, the second computed from the first and the tag, so cuckoo moves read only tags. Slots for
 * 9/8 of `capacity`: about 73 bytes a flow, 69.7 MiB at 1M flows. A lookup reads the tags of two
 * buckets and at most one entry; a miss reads an entry only on a false tag match (about one miss
 * in 18 at capacity). Full tables evict the flow hit least recently among the candidates, so hot
 * flows survive churn; `age` removes idle flows.
 *
 * Lookups on other threads (DPU cores, through `lookupAt` or the kernel's `flow_fc_lookup`)
 * are safe during updates: a burst that overlaps an update is re-run (seqlock).
 */
export class FlowTable {
  private readonly region: StateRegion;
  /** The `flow` kernel version it calls. */
  readonly kernel: LoadedKernel;
  /** Most flows it holds, in [8, 2^24]. */
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
  private readonly statuses: StatusTable;
  private readonly life = new Lifetime('FlowTable');

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
    this.region = mem.allocState({
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
      mem.free(this.region, OWNER);
      throw e;
    }
    this.statuses = statusTable([
      [FC_E_STATE, 'state'],
      [FC_E_RANGE, 'range', 'a key or result range lies outside host memory'],
      [FC_E_BUSY, 'busy', 'a writer held the table for too long'],
    ]);
    const st = k.fn<(s: number, c: number, b: number, seed: bigint) => number>('flow_fc_init')(
      this.region.base,
      this.capacity,
      buckets,
      BigInt(o?.seed ?? 0x0f10_7ab1),
    );
    if (st !== 0) {
      mem.free(this.stage, OWNER);
      mem.free(this.region, OWNER);
      throw kernelStatusError('FlowTable', st, this.statuses);
    }
    this.fLookup = k.fn('flow_fc_lookup');
    this.fInsert = k.fn('flow_fc_insert');
    this.fDelete = k.fn('flow_fc_delete');
    this.fAge = k.fn('flow_fc_age');
    this.fCount = k.fn('flow_fc_count');
  }

  /**
   * Inserts or updates a flow; value in [0, 2^31 - 1]. At capacity, or with both buckets full
   * and no cuckoo path, the least recently hit of the 16 candidates goes (or of 16 flows sampled
   * at the aging cursor): `'evicted'`.
   */
  insert(key: Uint8Array, value: number): FlowInsertResult {
    this.life.check('insert');
    this.checkKeys(key, 1, 'insert');
    if (!Number.isInteger(value) || value < 0 || value > MAX_FLOW_VALUE)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `insert: value: expected an integer in [0, ${MAX_FLOW_VALUE}], got ${value}`,
      );
    this.runtime.memory.u8.set(key, this.stage.base);
    return this.result(this.fInsert(this.region.base, this.stage.base, value, this.now()));
  }

  /** Inserts many flows: `keys` holds values.length keys back to back. Returns the counts. */
  insertBurst(keys: Uint8Array, values: ArrayLike<number>): Record<FlowInsertResult, number> {
    this.life.check('insertBurst');
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
      counts[this.result(this.fInsert(this.region.base, this.stage.base, v, now))]++;
    }
    return counts;
  }

  /** The flow's value, or -1. */
  lookup(key: Uint8Array): number {
    this.life.check('lookup');
    return this.lookupBurst(key)[0]!;
  }

  /** Burst lookup over keys back to back (48 bytes each): value or -1 each. */
  lookupBurst(keys: Uint8Array, out?: Int32Array): Int32Array {
    this.life.check('lookupBurst');
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
      this.check(this.fLookup(this.region.base, kb, m, ob, now));
      res.set(new Int32Array(mem.memory.buffer, ob, m), at);
    }
    return res;
  }

  /**
   * Zero-copy burst over the runtime's memory: `count` keys at keysAddr → i32 each at outAddr
   * (value or -1), hits stamped with `now`. Staged: hash all, touch all tag lines, probe all,
   * touch all candidate entries, compare all. Returns count.
   */
  lookupAt(keysAddr: number, count: number, outAddr: number, now: number = this.now()): number {
    this.life.check('lookupAt');
    return this.check(this.fLookup(this.region.base, keysAddr, count, outAddr, now >>> 0));
  }

  /** Removes a flow; false when it was not there. */
  delete(key: Uint8Array): boolean {
    this.life.check('delete');
    this.checkKeys(key, 1, 'delete');
    this.runtime.memory.u8.set(key, this.stage.base);
    return this.check(this.fDelete(this.region.base, this.stage.base)) === 1;
  }

  /**
   * Removes flows idle for more than `maxIdleTicks`, over `budgetBuckets` buckets from where the
   * last call stopped (default: the whole table). Returns how many were removed.
   */
  age(maxIdleTicks: number, budgetBuckets: number = this.bucketCount): number {
    this.life.check('age');
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
    return this.check(this.fAge(this.region.base, this.now(), maxIdleTicks, Math.min(budgetBuckets, this.bucketCount)));
  }

  /** Flows held now. */
  get size(): number {
    this.life.check('size');
    return this.fCount(this.region.base);
  }

  /** Flows evicted to make room since creation. */
  get evictions(): number {
    this.life.check('evictions');
    return this.kernel.fn<(s: number) => number>('flow_fc_evictions')(this.region.base);
  }

  /** Entries moved to their other bucket by cuckoo paths since creation. */
  get cuckooMoves(): number {
    this.life.check('cuckooMoves');
    return this.kernel.fn<(s: number) => number>('flow_fc_moves')(this.region.base);
  }

  /** Bytes of the table's state region (header, tags, entries). */
  get footprintBytes(): number {
    this.life.check('footprintBytes');
    return this.region.sizeBytes;
  }

  /**
   * Where a flow goes: its hash, its two candidate buckets, its tag, and its slot (null: absent).
   * For tests and diagnostics.
   */
  placement(key: Uint8Array): FlowPlacement {
    this.life.check('placement');
    this.checkKeys(key, 1, 'placement');
    const mem = this.runtime.memory;
    const out = this.stage.base + FLOW_KEY_BYTES;
    mem.u8.set(key, this.stage.base);
    this.check(
      this.kernel.fn<(s: number, k: number, o: number) => number>('flow_fc_key_info')(
        this.region.base,
        this.stage.base,
        out,
      ),
    );
    const v = mem.view;
    const slot = v.getUint32(out + FC_INFO_SLOT, true);
    return {
      hash: v.getUint32(out + FC_INFO_HASH, true),
      buckets: [v.getUint32(out + FC_INFO_BUCKET1, true), v.getUint32(out + FC_INFO_BUCKET2, true)],
      tag: v.getUint32(out + FC_INFO_TAG, true),
      slot: slot === FC_NO_SLOT ? null : slot,
    };
  }

  /**
   * Checks the table's invariants (every flow sits under its own tag in one of its two buckets
   * and is found there, the count is right); throws QT_BAD_HEADER naming the first bad slot.
   */
  verify(): void {
    this.life.check('verify');
    const r = this.kernel.fn<(s: number) => number>('flow_fc_verify')(this.region.base);
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

  /** The table's state region; a DPU core job passes `state.base` to `flow_fc_lookup`. */
  get state(): StateRegion {
    this.life.check('state');
    return this.region;
  }

  /** Frees its state and staging regions. Using it afterwards throws `QT_DISPOSED`; a second call does nothing. */
  dispose(): void {
    if (!this.life.end()) return;
    this.runtime.memory.free(this.region, OWNER);
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
    return checkKernelStatus('FlowTable', status, this.statuses);
  }
}
