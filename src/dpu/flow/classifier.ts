import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { checkKernelStatus, kernelStatusError, statusTable, type StatusTable } from '../../common/kernel-status.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import { parseClassBench } from './classbench.js';
import { normalizeRule, type ClassifierRule, type NormalRule } from './classifier-rule.js';
import { mask4 } from './ip-address.js';
import {
  CLS_E_BUSY,
  CLS_E_FULL,
  CLS_E_RANGE,
  CLS_E_SLOT,
  CLS_E_STATE,
  CLS_E_TABLES,
  CLS_HEADER_WORDS,
  CLS_LAYOUT,
  CLS_MAGIC,
} from '../../generated/flow.js';
import { HDR_BYTES } from '../../generated/common.js';

/** Options of {@link Classifier}. Unknown keys are refused. */
export interface ClassifierOptions {
  /** Most rules held at once, in [1, 2^22]. Default 16384 (or twice a ClassBench set's size). */
  capacity?: number | undefined;
  /** Where state and kernels live. Default: defaultRuntime(); inside a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
  /** Hash seed (u32). Default: a fixed value; pass a secret one where flooding matters. */
  seed?: number | undefined;
  /**
   * TupleMerge collision limit: rules sharing one masked key in one table before a new table is
   * made. Default 32 (with relaxStep 8): fewer tables to probe per lookup, at the price of longer
   * chains.
   */
  collisionLimit?: number | undefined;
  /** Address lengths of new tables are rounded down to a multiple of this (1..32). Default 8. */
  relaxStep?: number | undefined;
}

const optionsSchema = z
  .object({
    capacity: intIn(1, 1 << 22).optional(),
    runtime: z
      .custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'kernel' in v, { error: 'a KernelRuntime' })
      .optional(),
    seed: intIn(0, 0xffffffff).optional(),
    collisionLimit: intIn(1, 4096).optional(),
    relaxStep: intIn(1, 32).optional(),
  })
  .optional();

const OWNER = 'flow-classifier';
const TABLE_CAP = 256;
/** Headers per kernel call from the copying forms (the staging buffer's size). */
const STAGE_HEADERS = 4096;
/** A header: CLS_HEADER_WORDS u32 (src, dst, sport, dport, proto); a result: one i32. */
const HEADER_BYTES = 4 * CLS_HEADER_WORDS;

type ClsInsert = (
  st: number,
  sv: number,
  sm: number,
  dv: number,
  dm: number,
  sp: number,
  dp: number,
  pv: number,
  pm: number,
  prio: number,
  id: number,
) => number;

/**
 * Priority classifier on IPv4 5-tuples (TupleMerge in the `flow` kernel, tables' buckets
 * bloom-filtered), with incremental insert and remove: lookups on other threads (DPU cores) may
 * run during updates. Lower priority value wins; equal priorities go to the lower id.
 *
 * Updates are Left-Right: the rule set is kept twice; an update is applied to the copy no lookup
 * uses, the copies swap, the writer waits for lookups still on the old copy to leave and applies
 * the update there too. A lookup burst (32 headers) pins one copy and sees one whole version; it
 * never waits for a writer and never fails because of one, even a writer preempted in the middle
 * of an update. The cost is on the writer's side: each update is applied twice, and the state
 * region holds two copies (about 2 × (48 B per rule of capacity + 8 B per hash bucket, the bucket
 * count being the capacity rounded up to a power of two)). `insert` and `remove` throw
 * `QT_TIMEOUT`, having changed nothing, only when a lookup stays on the idle copy for the writer's
 * whole bounded wait.
 *
 * ```ts
 * const c = Classifier.fromClassBench(readFileSync('acl1_1k', 'utf8'));
 * const ids = c.classify(new Uint32Array([src, dst, sport, dport, proto]));  // rule index or -1
 * const id = c.insert({ src: '10.0.0.0/8', dstPorts: [80, 80], proto: 6, priority: 0 });
 * c.remove(id);
 * ```
 */
export class Classifier {
  private readonly region: StateRegion;
  /** The `flow` kernel version it calls. */
  readonly kernel: LoadedKernel;
  /** Most rules it holds at once, in [1, 2^22]. */
  readonly capacity: number;
  private readonly runtime: KernelRuntime;
  private readonly stage: Region;
  private readonly fInsert: ClsInsert;
  private readonly fRemove: (st: number, slot: number) => number;
  private readonly fClassify: (st: number, hdr: number, n: number, out: number) => number;
  private readonly fCount: (st: number) => number;
  private readonly fTables: (st: number) => number;
  /** ruleId → kernel slot. */
  private readonly slots = new Map<number, number>();
  private readonly rulesById = new Map<number, NormalRule>();
  private nextId = 0;
  private nextPriority = 0;
  private readonly statuses: StatusTable;
  private readonly life = new Lifetime('Classifier');

  constructor(options?: ClassifierOptions) {
    const o = parseArgs(optionsSchema, options, 'Classifier options');
    this.runtime = o?.runtime ?? defaultRuntime();
    this.capacity = o?.capacity ?? 16384;
    this.kernel = this.runtime.kernel('flow');
    const k = this.kernel;
    let buckets = 1;
    while (buckets < this.capacity) buckets *= 2;
    const bytes = k.fn<(r: number, t: number, b: number) => number>('flow_cls_bytes')(
      this.capacity,
      TABLE_CAP,
      buckets,
    );
    const mem = this.runtime.memory;
    this.region = mem.allocState({
      name: 'flow:classifier',
      owner: OWNER,
      kind: 'device-state',
      magic: CLS_MAGIC,
      layoutVersion: CLS_LAYOUT,
      payloadBytes: bytes - HDR_BYTES,
    });
    try {
      this.stage = mem.alloc({
        name: 'flow:classifier-stage',
        owner: OWNER,
        kind: 'core-scratch',
        sizeBytes: STAGE_HEADERS * (HEADER_BYTES + 4),
      });
    } catch (e) {
      mem.free(this.region, OWNER);
      throw e;
    }
    const status = k.fn<(...a: number[]) => number>('flow_cls_init')(
      this.region.base,
      this.capacity,
      TABLE_CAP,
      buckets,
      o?.seed ?? 0x5eed_c1a5,
      o?.collisionLimit ?? 32,
      o?.relaxStep ?? 8,
    );
    this.statuses = statusTable([
      [CLS_E_STATE, 'state'],
      [CLS_E_RANGE, 'range', 'a header or result range lies outside host memory'],
      [CLS_E_FULL, 'full', `all ${this.capacity} rule slots are in use`],
      [CLS_E_TABLES, 'full', `all ${TABLE_CAP} tables are in use`],
      [CLS_E_SLOT, 'missing', 'the rule slot holds no live rule'],
      [CLS_E_BUSY, 'busy', 'a lookup stayed on the copy being updated for too long; nothing was changed, try again'],
    ]);
    if (status !== 0) {
      mem.free(this.stage, OWNER);
      mem.free(this.region, OWNER);
      throw kernelStatusError('Classifier', status, this.statuses);
    }
    this.fInsert = k.fn<ClsInsert>('flow_cls_insert');
    this.fRemove = k.fn('flow_cls_remove');
    this.fClassify = k.fn('flow_cls_classify');
    this.fCount = k.fn('flow_cls_rule_count');
    this.fTables = k.fn('flow_cls_table_count');
  }

  /**
   * A classifier holding a ClassBench filter set: rule i (file order) has id i and priority i
   * (0 highest). Malformed lines are rejected with their line number (QT_BAD_FORMAT).
   */
  static fromClassBench(text: string, options?: ClassifierOptions): Classifier {
    if (typeof text !== 'string')
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `fromClassBench: expected the filter set's text, got ${typeof text}`,
      );
    const rules = parseClassBench(text);
    const c = new Classifier({ capacity: Math.max(1024, rules.length * 2), ...options });
    try {
      for (const r of rules) c.insertNormal(r);
    } catch (e) {
      c.dispose();
      throw e;
    }
    return c;
  }

  /** Adds a rule; returns its id (ids count up from 0 and are never reused). */
  insert(rule: ClassifierRule): number {
    this.life.check('insert');
    return this.insertNormal(normalizeRule(rule, this.nextPriority));
  }

  /** Adds a rule in the checked flat form (from parseClassBench or normalizeRule); re-checked cheaply. */
  insertNormal(r: NormalRule): number {
    this.life.check('insertNormal');
    checkNormal(r);
    const id = this.nextId;
    const slot = this.fInsert(
      this.region.base,
      r.srcAddr,
      mask4(r.srcLen),
      r.dstAddr,
      mask4(r.dstLen),
      r.spLo | (r.spHi << 16),
      r.dpLo | (r.dpHi << 16),
      r.protoValue,
      r.protoMask,
      r.priority,
      id,
    );
    if (slot < 0) throw kernelStatusError('Classifier.insert', slot, this.statuses, { capacity: this.capacity });
    this.nextId++;
    if (r.priority >= this.nextPriority) this.nextPriority = Math.min(r.priority + 1, 0xffffffff);
    this.slots.set(id, slot);
    this.rulesById.set(id, r);
    return id;
  }

  /** Removes a rule by id; QT_NOT_FOUND when no live rule has that id. */
  remove(ruleId: number): void {
    this.life.check('remove');
    const slot = this.slots.get(ruleId);
    if (slot === undefined)
      throw new QingtianError(ErrorCode.NotFound, `classifier: no rule with id ${ruleId}`, { ruleId });
    const st = this.fRemove(this.region.base, slot);
    if (st !== 0) throw kernelStatusError('Classifier.remove', st, this.statuses, { ruleId });
    this.slots.delete(ruleId);
    this.rulesById.delete(ruleId);
  }

  /**
   * Classifies headers given as 5 u32 words each (src, dst, sport, dport, proto): the id of the
   * highest-priority matching rule per header, or -1.
   */
  classify(headers: Uint32Array): Int32Array {
    this.life.check('classify');
    if (!(headers instanceof Uint32Array) || headers.length % 5 !== 0) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `classify: expected a Uint32Array of 5 words per header, got ${headers instanceof Uint32Array ? `${headers.length} words` : typeof headers}`,
      );
    }
    const out = new Int32Array(headers.length / CLS_HEADER_WORDS);
    this.classifyInto(headers, out);
    return out;
  }

  /** As classify, into a caller's array (out.length >= headers.length / 5). */
  classifyInto(headers: Uint32Array, out: Int32Array): void {
    this.life.check('classifyInto');
    const n = headers.length / CLS_HEADER_WORDS;
    if (!Number.isInteger(n) || out.length < n)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `classifyInto: expected ${CLS_HEADER_WORDS} words per header and out.length >= ${n}, got ${headers.length} words and ${out.length}`,
      );
    const mem = this.runtime.memory;
    const hdr = this.stage.base;
    const res = hdr + STAGE_HEADERS * HEADER_BYTES;
    for (let at = 0; at < n; at += STAGE_HEADERS) {
      const m = Math.min(STAGE_HEADERS, n - at);
      const w = CLS_HEADER_WORDS;
      new Uint32Array(mem.memory.buffer, hdr, m * w).set(headers.subarray(at * w, (at + m) * w));
      this.check(this.fClassify(this.region.base, hdr, m, res));
      out.set(new Int32Array(mem.memory.buffer, res, m), at);
    }
  }

  /**
   * Zero-copy form over the runtime's memory: `count` headers at `headersAddr` (5 u32 each),
   * results (i32 each) to `outAddr`. Returns count.
   */
  classifyAt(headersAddr: number, count: number, outAddr: number): number {
    this.life.check('classifyAt');
    return this.check(this.fClassify(this.region.base, headersAddr, count, outAddr));
  }

  /** Live rules. */
  get size(): number {
    this.life.check('size');
    return this.fCount(this.region.base);
  }

  /** Hash tables a lookup may probe (TupleMerge's figure of merit). */
  get tableCount(): number {
    this.life.check('tableCount');
    return this.fTables(this.region.base);
  }

  /** The checked form of a live rule. */
  rule(ruleId: number): NormalRule | undefined {
    this.life.check('rule');
    return this.rulesById.get(ruleId);
  }

  /** Ids of the live rules. */
  ruleIds(): number[] {
    this.life.check('ruleIds');
    return [...this.slots.keys()];
  }

  /** The state region; a DPU core job passes `state.base` to `flow_cls_classify`. */
  get state(): StateRegion {
    this.life.check('state');
    return this.region;
  }

  /** Frees the state region and staging buffer. */
  dispose(): void {
    if (!this.life.end()) return;
    this.runtime.memory.free(this.region, OWNER);
    this.runtime.memory.free(this.stage, OWNER);
  }

  private check(status: number): number {
    return checkKernelStatus('Classifier.classify', status, this.statuses);
  }
}

const u32ok = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** Plain comparisons only: this runs on every update (the target is 500k updates a second). */
function checkNormal(r: NormalRule): void {
  const bad =
    !u32ok(r.srcAddr) ||
    !u32ok(r.dstAddr) ||
    !(r.srcLen >= 0 && r.srcLen <= 32) ||
    !(r.dstLen >= 0 && r.dstLen <= 32) ||
    !(r.spLo >= 0 && r.spLo <= r.spHi && r.spHi <= 65535) ||
    !(r.dpLo >= 0 && r.dpLo <= r.dpHi && r.dpHi <= 65535) ||
    !(r.protoMask >= 0 && r.protoMask <= 255) ||
    !(r.protoValue >= 0 && r.protoValue <= 255) ||
    !u32ok(r.priority);
  if (bad)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `insertNormal: expected a checked rule (lengths 0..32, ports lo <= hi <= 65535, proto 0..255, priority a u32), got ${JSON.stringify(r)}`,
    );
}
