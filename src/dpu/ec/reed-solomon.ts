import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import { SIMD_CHOICES, type SimdChoice, type SimdFlavour } from '../kernels/kernel-flavour.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import { outputArrays } from '../kernels/out-buffers.js';
import { addressIn, align64, stagingFor } from '../kernels/staging.js';
import { CoderState } from './coder-state.js';
import { DecodePlans, type DecodePlan } from './decode-plans.js';
import { checkStatus, ecKernel, type EcKernel } from './ec-kernel.js';
import { isalRsMaxDataShards } from './isal-rs-limits.js';
import { encodeMatrix, MATRIX_KINDS, type Matrix, type MatrixKind } from './matrices.js';
import {
  address,
  addressArray,
  invalid,
  shardArray,
  shardBytes,
  shardIndex,
  tooManyErasures,
  writeAddresses,
} from './shard-args.js';
import { EC_MAX_SHARDS } from '../../generated/ec.js';

/** Options of {@link ReedSolomon}. Unknown keys are refused. */
export interface ReedSolomonOptions {
  /** k: data shards, 1-254. */
  dataShards: number;
  /** m: parity shards, 1-254, with k + m <= 255. */
  parityShards: number;
  /** The encode matrix (byte-compatibility with ISA-L or klauspost). Default 'isal-cauchy'. */
  matrix?: MatrixKind | undefined;
  /** Where state and staging live and the kernel runs. Default: defaultRuntime(); in a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
  /** Kernel flavour: 'auto' (relaxed SIMD when the engine has it), 'portable' or 'relaxed'. */
  simd?: SimdChoice | undefined;
  /** Erasure patterns whose decode tables are kept (LRU), 1-1024. Default 16. */
  decodeCacheSize?: number | undefined;
}

const optionsSchema = z.object({
  dataShards: intIn(1, 254),
  parityShards: intIn(1, 254),
  matrix: oneOf(MATRIX_KINDS).optional(),
  runtime: z
    .custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'memory' in v && 'kernel' in v, {
      error: 'a KernelRuntime',
    })
    .optional(),
  simd: oneOf(SIMD_CHOICES).optional(),
  decodeCacheSize: intIn(1, 1024).optional(),
});

/** Staging is used in column chunks of at most this many bytes (all shards of the chunk together). */
const STAGING_CHUNK_BYTES = 8 << 20;

const registry = new FinalizationRegistry<CoderState>((state) => state.free());

/** One output of a staged pass: where its result goes, and what it starts from (update) if anything. */
interface Output {
  out: Uint8Array;
  init?: Uint8Array;
}

/**
 * Reed-Solomon erasure coding over GF(2^8) (polynomial 0x11D, generator 2 — the field of ISA-L,
 * klauspost/reedsolomon, Backblaze and rust reed-solomon-erasure), byte-compatible with Intel
 * ISA-L ('isal-cauchy', 'isal-rs') and klauspost/reedsolomon / Backblaze ('klauspost'). k data
 * shards and m parity shards of equal length; any m of the k + m may be lost and rebuilt. The
 * encode matrix is (k + m) × k and systematic (top k rows = identity); see {@link MatrixKind}.
 *
 * The Uint8Array forms copy shards into the runtime's memory (in column chunks of at most 8 MiB in
 * all) and results out; arrays that are already views over that memory are read in place. Results
 * are views into 4 MiB slabs of uninitialised memory that the kernel has written in full; a result
 * kept alive keeps its slab alive — `.slice()` one to detach it. The `At` forms work on host
 * addresses with no copy. Each call crosses into Wasm once per chunk: shard addresses travel in
 * pointer arrays in the coder's state region. Reconstruction reads the first k present shards
 * (ISA-L's convention) and produces every missing shard — data or parity — in one pass; its
 * coefficients are cached per erasure pattern as nibble tables.
 *
 * Errors: `QT_INVALID_ARGUMENT` (k + m > 255, a non-MDS `isal-rs` size, shard counts or lengths
 * that differ, addresses outside memory — the message names the field), `QT_TOO_MANY_ERASURES`;
 * nothing is written when a call is refused.
 */
export class ReedSolomon {
  /** k, 1..254. */
  readonly dataShards: number;
  /** m, 1..254 (k + m ≤ 255). */
  readonly parityShards: number;
  /** k + m: shards `reconstruct` takes and returns. */
  readonly totalShards: number;
  /** The encode matrix in use. */
  readonly matrix: MatrixKind;
  /** Where its state and staging live: its `At` methods take addresses in `runtime.memory`. */
  readonly runtime: KernelRuntime;
  /** The kernel build in use. */
  readonly flavour: SimdFlavour;
  private readonly enc: Matrix;
  private readonly kernel: EcKernel;
  private readonly state: CoderState;
  private readonly plans: DecodePlans;
  private readonly life = new Lifetime('ReedSolomon');

  constructor(options: ReedSolomonOptions) {
    const o = parseArgs(optionsSchema, options, 'ReedSolomon options');
    const k = o.dataShards;
    const m = o.parityShards;
    if (k + m > EC_MAX_SHARDS) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `ReedSolomon options: dataShards + parityShards: expected at most ${EC_MAX_SHARDS} (GF(2^8) has 255 non-zero elements), got ${k} + ${m} = ${k + m}`,
        { field: 'dataShards' },
      );
    }
    this.matrix = o.matrix ?? 'isal-cauchy';
    if (this.matrix === 'isal-rs' && k > isalRsMaxDataShards(m)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `ReedSolomon options: matrix 'isal-rs' with ${m} parity shards can rebuild every erasure pattern only for dataShards <= ${isalRsMaxDataShards(m)}, got ${k}; use 'isal-cauchy' or 'klauspost'`,
        { field: 'matrix' },
      );
    }
    this.dataShards = k;
    this.parityShards = m;
    this.totalShards = k + m;
    this.runtime = o.runtime ?? defaultRuntime();
    this.kernel = ecKernel(this.runtime, o.simd ?? 'auto');
    this.flavour = this.kernel.flavour;
    this.enc = encodeMatrix(this.matrix, k, m);
    this.state = new CoderState(this.runtime.memory, k, m, o.decodeCacheSize ?? 16);
    try {
      this.state.setBytes(this.state.scratch, this.enc.data.subarray(k * k));
      checkStatus(
        this.kernel,
        'encode tables',
        this.kernel.initTables(k, m, this.state.scratch, this.state.encodeTables),
      );
    } catch (e) {
      this.state.free();
      throw e;
    }
    this.plans = new DecodePlans(this.enc, this.state, this.kernel);
    registry.register(this, this.state, this);
  }

  /** The (k + m) x k encode matrix, row-major (a copy). Rows k.. are the coding rows. */
  encodeMatrix(): Uint8Array {
    this.life.check('encodeMatrix');
    return this.enc.data.slice();
  }

  /** Host address of the parity rows' nibble tables (for jobs that run passes themselves). */
  get encodeTablesAddress(): number {
    this.life.check('encodeTablesAddress');
    return this.state.encodeTables;
  }

  /** Decode-cache counters. */
  decodeCacheStats(): { hits: number; misses: number } {
    this.life.check('decodeCacheStats');
    return { hits: this.plans.hits, misses: this.plans.misses };
  }

  /** The parity shards of k data shards of one length. */
  encode(data: Uint8Array[]): Uint8Array[] {
    this.life.check('encode');
    const len = shardArray('encode', 'data', `the ${this.dataShards} data shards`, data, this.dataShards);
    const parity = outputArrays(this.parityShards, len);
    this.encodeStaged('encode', len, data, parity);
    return parity;
  }

  /** The same, written into the caller's m arrays (reusable: no allocation per call). */
  encodeInto(data: Uint8Array[], parity: Uint8Array[]): void {
    this.life.check('encodeInto');
    const len = shardArray('encodeInto', 'data', `the ${this.dataShards} data shards`, data, this.dataShards);
    const plen = shardArray(
      'encodeInto',
      'parity',
      `the ${this.parityShards} parity shards`,
      parity,
      this.parityShards,
    );
    if (plen !== len)
      throw invalid('encodeInto', `parity: expected shards of ${len} bytes (the data shards' length), got ${plen}`, {
        field: 'parity',
      });
    this.encodeStaged('encodeInto', len, data, parity);
  }

  private encodeStaged(op: string, len: number, data: readonly Uint8Array[], parity: readonly Uint8Array[]): void {
    this.stagedPass(
      op,
      len,
      data,
      parity.map((out) => ({ out })),
      (n, src, dst) => this.kernel.encode(n, this.dataShards, this.parityShards, this.state.encodeTables, src, dst),
    );
  }

  /**
   * All k + m shards from the present ones (null or undefined = missing). Present shards are
   * returned as given; missing ones are rebuilt into new arrays. At most m may be missing.
   */
  reconstruct(shards: (Uint8Array | null | undefined)[]): Uint8Array[] {
    this.life.check('reconstruct');
    const n = this.totalShards;
    if (!Array.isArray(shards) || shards.length !== n) {
      throw invalid(
        'reconstruct',
        `shards: expected an array of ${n} entries (Uint8Array, or null for a missing shard), got ${Array.isArray(shards) ? `${shards.length} entries` : typeof shards}`,
        { field: 'shards' },
      );
    }
    const missing: number[] = [];
    let len = -1;
    let first = -1;
    shards.forEach((s, i) => {
      if (s === null || s === undefined) return void missing.push(i);
      if (!(s instanceof Uint8Array))
        throw invalid('reconstruct', `shards[${i}]: expected a Uint8Array or null, got ${typeof s}`, {
          field: `shards[${i}]`,
        });
      if (len < 0) [len, first] = [s.length, i];
      else if (s.length !== len) {
        throw invalid(
          'reconstruct',
          `shards[${i}]: expected ${len} bytes (the length of shards[${first}]; all shards have one length), got ${s.length}`,
          { field: `shards[${i}]` },
        );
      }
    });
    if (missing.length > this.parityShards) throw tooManyErasures('reconstruct', missing, this.parityShards);
    const out = shards.slice() as Uint8Array[];
    if (missing.length === 0) return out;
    const plan = this.plans.plan(missing);
    const rebuilt = outputArrays(missing.length, len);
    this.stagedPass(
      'reconstruct',
      len,
      plan.sources.map((i) => shards[i]!),
      rebuilt.map((o) => ({ out: o })),
      (c, src, dst) => this.kernel.encode(c, this.dataShards, missing.length, plan.tables, src, dst),
    );
    missing.forEach((i, r) => (out[i] = rebuilt[r]!));
    return out;
  }

  /**
   * New parity after data shard `index` changed from `oldData` to `newData` (a partial-stripe
   * write): parity ^ C[.][index] * (old ^ new), equal to re-encoding the whole stripe. The
   * inputs are not modified.
   */
  update(parity: Uint8Array[], index: number, oldData: Uint8Array, newData: Uint8Array): Uint8Array[] {
    this.life.check('update');
    const len = shardArray('update', 'parity', `the ${this.parityShards} parity shards`, parity, this.parityShards);
    const j = shardIndex('update', 'index', index, this.dataShards);
    for (const [field, d] of [
      ['oldData', oldData],
      ['newData', newData],
    ] as const) {
      if (!(d instanceof Uint8Array) || d.length !== len) {
        throw invalid(
          'update',
          `${field}: expected a Uint8Array of ${len} bytes (the shard length), got ${d instanceof Uint8Array ? `${d.length} bytes` : typeof d}`,
          { field },
        );
      }
    }
    const next = outputArrays(this.parityShards, len);
    this.stagedPass(
      'update',
      len,
      [oldData, newData],
      next.map((out, r) => ({ out, init: parity[r]! })),
      (c, src, dst) => {
        const view = this.runtime.memory.view;
        return this.kernel.update(
          c,
          this.dataShards,
          this.parityShards,
          j,
          this.state.encodeTables,
          view.getUint32(src, true),
          view.getUint32(src + 4, true),
          dst,
        );
      },
    );
    return next;
  }

  // ---- zero-copy forms: shards are host addresses in this coder's runtime memory ----------

  /** Writes the m parity shards at `parity` from the k data shards at `data`. */
  encodeAt(data: readonly number[], parity: readonly number[], shardLength: number): void {
    this.life.check('encodeAt');
    const mem = this.runtime.memory.sizeBytes;
    const len = shardBytes('encodeAt', shardLength, mem);
    const view = this.runtime.memory.view;
    writeAddresses('encodeAt', 'data', data, this.dataShards, len, mem, view, this.state.srcPtrs);
    writeAddresses('encodeAt', 'parity', parity, this.parityShards, len, mem, view, this.state.dstPtrs);
    checkStatus(
      this.kernel,
      'encodeAt',
      this.kernel.encode(
        len,
        this.dataShards,
        this.parityShards,
        this.state.encodeTables,
        this.state.srcPtrs,
        this.state.dstPtrs,
      ),
    );
  }

  /** Rebuilds the shards listed in `missing` in place; `shards` holds all k + m addresses. */
  reconstructAt(shards: readonly number[], missing: readonly number[], shardLength: number): void {
    this.life.check('reconstructAt');
    const mem = this.runtime.memory.sizeBytes;
    const len = shardBytes('reconstructAt', shardLength, mem);
    const addrs = addressArray('reconstructAt', 'shards', shards, this.totalShards, len, mem);
    const gone = this.missingList('reconstructAt', missing);
    if (gone.length === 0) return;
    const plan = this.plans.plan(gone);
    this.runPlan('reconstructAt', plan, addrs, len);
  }

  /** Updates the m parity shards at `parity` in place after data shard `index` changed. */
  updateAt(parity: readonly number[], index: number, oldData: number, newData: number, shardLength: number): void {
    this.life.check('updateAt');
    const mem = this.runtime.memory.sizeBytes;
    const len = shardBytes('updateAt', shardLength, mem);
    const j = shardIndex('updateAt', 'index', index, this.dataShards);
    const a = address('updateAt', 'oldData', oldData, len, mem);
    const b = address('updateAt', 'newData', newData, len, mem);
    writeAddresses(
      'updateAt',
      'parity',
      parity,
      this.parityShards,
      len,
      mem,
      this.runtime.memory.view,
      this.state.dstPtrs,
    );
    checkStatus(
      this.kernel,
      'updateAt',
      this.kernel.update(len, this.dataShards, this.parityShards, j, this.state.encodeTables, a, b, this.state.dstPtrs),
    );
  }

  /** The decode plan of an erasure pattern (built and cached on first use). */
  decodePlan(missing: readonly number[]): DecodePlan {
    this.life.check('decodePlan');
    return this.plans.plan(this.missingList('decodePlan', missing));
  }

  /** Frees the coder's state region. Using it afterwards throws QT_DISPOSED. */
  dispose(): void {
    if (!this.life.end()) return;
    registry.unregister(this);
    this.state.free();
  }

  private runPlan(op: string, plan: DecodePlan, addrs: readonly number[], len: number): void {
    this.state.setPointers(
      this.state.srcPtrs,
      plan.sources.map((i) => addrs[i]!),
    );
    this.state.setPointers(
      this.state.dstPtrs,
      plan.targets.map((i) => addrs[i]!),
    );
    checkStatus(
      this.kernel,
      op,
      this.kernel.encode(
        len,
        this.dataShards,
        plan.targets.length,
        plan.tables,
        this.state.srcPtrs,
        this.state.dstPtrs,
      ),
    );
  }

  private missingList(where: string, missing: unknown): number[] {
    if (!Array.isArray(missing))
      throw invalid(where, `missing: expected an array of shard indices, got ${typeof missing}`, { field: 'missing' });
    const set = new Set<number>();
    missing.forEach((v: unknown, i) => set.add(shardIndex(where, `missing[${i}]`, v, this.totalShards)));
    const list = [...set].sort((x, y) => x - y);
    if (list.length > this.parityShards) throw tooManyErasures(where, list, this.parityShards);
    return list;
  }

  /**
   * Runs `call(n, srcPtrs, dstPtrs)` over the shards in column chunks: sources that are not views
   * over the runtime's memory are copied into staging, outputs are staged (from `init` if given)
   * and copied out afterwards. The parity of bytes [a, b) depends only on bytes [a, b), so
   * chunks are independent.
   */
  private stagedPass(
    op: string,
    len: number,
    sources: readonly Uint8Array[],
    outputs: readonly Output[],
    call: (n: number, src: number, dst: number) => number,
  ): void {
    if (len === 0) return;
    const mem = this.runtime.memory;
    const u8 = mem.u8;
    const view = mem.view;
    const ns = sources.length;
    const no = outputs.length;
    const srcAt = new Array<number>(ns);
    let staged = no;
    for (let i = 0; i < ns; i++) if ((srcAt[i] = addressIn(mem.memory, sources[i]!)) < 0) staged++;
    const chunk = Math.min(len, Math.max(64, Math.floor(STAGING_CHUNK_BYTES / staged / 64) * 64));
    const slot = align64(chunk);
    const base = stagingFor(this.runtime).reserve(slot * staged);
    const { srcPtrs, dstPtrs } = this.state;
    for (let off = 0; off < len; off += chunk) {
      const n = Math.min(chunk, len - off);
      let next = base;
      for (let i = 0; i < ns; i++) {
        let at = srcAt[i]!;
        if (at >= 0) at += off;
        else {
          at = next;
          next += slot;
          u8.set(off === 0 && n === len ? sources[i]! : sources[i]!.subarray(off, off + n), at);
        }
        view.setUint32(srcPtrs + 4 * i, at, true);
      }
      const dst0 = next;
      for (let r = 0; r < no; r++) {
        const init = outputs[r]!.init;
        if (init) u8.set(off === 0 && n === len ? init : init.subarray(off, off + n), next);
        view.setUint32(dstPtrs + 4 * r, next, true);
        next += slot;
      }
      checkStatus(this.kernel, op, call(n, srcPtrs, dstPtrs));
      for (let r = 0; r < no; r++) outputs[r]!.out.set(u8.subarray(dst0 + r * slot, dst0 + r * slot + n), off);
    }
  }
}
