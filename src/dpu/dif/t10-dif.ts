import { ErrorCode, QingtianError } from '../../common/errors.js';
import { kernelStatusError } from '../../common/kernel-status.js';
import type { SimdFlavour } from '../kernels/kernel-flavour.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import { outputArray } from '../kernels/out-buffers.js';
import { addressIn, align64, stagingFor } from '../kernels/staging.js';
import {
  DIF_MISMATCH,
  DIF_PI_BYTES,
  DIF_RES_ACTUAL,
  DIF_RES_BLOCK,
  DIF_RES_EXPECTED,
  DIF_RES_TAG,
  DIF_RESULT_BYTES,
} from '../../generated/dif.js';
import { parseDifOptions, refTagAt, TAG_NAMES, withRefTag, type DifConfig, type T10DifOptions } from './dif-config.js';
import { difKernel, type DifKernel } from './dif-kernel.js';

/** A PI field: the guard (CRC), the application tag, the reference tag. */
export type DifTag = 'guard' | 'appTag' | 'refTag';

/** The first block that failed: which tag, the value expected and the value found. */
export interface DifFailure {
  /** Always false. */
  ok: false;
  /** Index of the block, from the buffer's start (0-based). */
  block: number;
  /** The first field that did not match, checked in the order guard, appTag, refTag. */
  tag: DifTag;
  /** What verify computed or expected. */
  expected: number;
  /** What the PI held. */
  actual: number;
}
/** Every block checked out, or the first that did not. */
export type DifVerifyResult = { ok: true } | DifFailure;
/** Every block checked out (with the data, PI stripped), or the first that did not. */
export type DifVerifyCopyResult = { ok: true; data: Uint8Array } | DifFailure;

/** Staged work is done this many bytes at a time. */
const CHUNK_BYTES = 4 << 20;

/**
 * T10 protection information (T10 SBC; SPDK lib/util/dif.c semantics): 8 bytes per 512- or
 * 4096-byte block — guard (CRC-16/T10-DIF of the data), application tag, reference tag — all
 * big-endian. DIF interleaves them with the data (520 / 4104-byte units); DIX keeps them in a
 * separate metadata buffer. The configuration is validated once here; the operations trust it.
 *
 * Escapes: a block whose app tag is 0xFFFF (type 3: and ref tag 0xFFFFFFFF) is not checked.
 * Generate always writes all three fields; `checks` only selects what verify compares.
 *
 * Uint8Array forms copy through the runtime's memory in chunks of up to 4 MiB (generate, insert
 * and strip read views over that memory in place); the *At forms take host addresses and block
 * counts and copy nothing.
 */
export class T10Dif {
  /** The validated configuration. */
  readonly config: DifConfig;
  /** Where staging lives: the `At` methods take addresses in `runtime.memory`. */
  readonly runtime: KernelRuntime;
  /** The kernel build in use. */
  readonly flavour: SimdFlavour;
  private readonly k: DifKernel;

  constructor(options: T10DifOptions) {
    const { runtime, simd, ...config } = parseDifOptions(options);
    this.config = config;
    this.runtime = runtime ?? defaultRuntime();
    this.k = difKernel(this.runtime, simd);
    this.flavour = this.k.flavour;
  }

  /** The same configuration starting at another reference tag (e.g. the next command's LBA). */
  withRefTag(refTag: number): T10Dif {
    if (!Number.isInteger(refTag) || refTag < 0 || refTag > 0xffffffff) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `withRefTag: refTag: expected an integer in [0, 4294967295], got ${refTag}`,
        { field: 'refTag' },
      );
    }
    const next = Object.create(T10Dif.prototype) as T10Dif;
    Object.assign(next, this, { config: withRefTag(this.config, refTag) });
    return next;
  }

  /** Bytes of one interleaved unit: blockSize + 8. */
  get unitBytes(): number {
    return this.config.blockSize + DIF_PI_BYTES;
  }

  // ---- DIF: PI interleaved with the data ------------------------------------------------------

  /** Writes the PI of every block of an interleaved buffer (n x (blockSize + 8) bytes), in place. */
  generate(buf: Uint8Array): void {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const blocks = this.count('generate', 'buf', buf, u);
    this.inPlace('generate', buf, blocks, u, (b0, nb, at) =>
      this.k.generate(at, u, at + bs, u, nb, bs, this.config.cfg, this.config.app, refTagAt(this.config, b0)),
    );
  }

  /** Checks every block of an interleaved buffer; reports the first failure. */
  verify(buf: Uint8Array): DifVerifyResult {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const blocks = this.count('verify', 'buf', buf, u);
    return this.stagedVerify(buf, blocks, u, 0, null, (b0, nb, src, _dst, res) =>
      this.k.verify(src, u, src + bs, u, nb, bs, this.config.cfg, this.config.app, refTagAt(this.config, b0), res),
    );
  }

  /** Data-only blocks -> a new interleaved buffer with generated PI. */
  insert(data: Uint8Array): Uint8Array {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const blocks = this.count('insert', 'data', data, bs);
    const out = outputArray(blocks * u);
    this.stagedCopy('insert', data, out, blocks, bs, u, (b0, nb, src, dst) =>
      this.k.insert(src, dst, nb, bs, this.config.cfg, this.config.app, refTagAt(this.config, b0)),
    );
    return out;
  }

  /** Interleaved -> a new data-only buffer, without checks. */
  strip(buf: Uint8Array): Uint8Array {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const blocks = this.count('strip', 'buf', buf, u);
    const out = outputArray(blocks * bs);
    this.stagedCopy('strip', buf, out, blocks, u, bs, (_b0, nb, src, dst) => this.k.strip(src, dst, nb, bs));
    return out;
  }

  /** Interleaved -> data-only, checking every block on the way (one pass over the data). */
  verifyCopy(buf: Uint8Array): DifVerifyCopyResult {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const blocks = this.count('verifyCopy', 'buf', buf, u);
    const out = outputArray(blocks * bs);
    const r = this.stagedVerify(buf, blocks, u, bs, out, (b0, nb, src, dst, res) =>
      this.k.verifyCopy(src, dst, nb, bs, this.config.cfg, this.config.app, refTagAt(this.config, b0), res),
    );
    return r.ok ? { ok: true, data: out } : r;
  }

  // ---- DIX: PI in a separate metadata buffer (8 bytes per block) --------------------------------

  /** Writes the PI of every data block into `md` (blocks x 8 bytes). */
  dixGenerate(data: Uint8Array, md: Uint8Array): void {
    const bs = this.config.blockSize;
    const blocks = this.count('dixGenerate', 'data', data, bs);
    this.metadata('dixGenerate', md, blocks);
    const mdStaged = outputArray(blocks * DIF_PI_BYTES);
    this.stagedCopy('dixGenerate', data, mdStaged, blocks, bs, DIF_PI_BYTES, (b0, nb, src, dst) =>
      this.k.generate(src, bs, dst, DIF_PI_BYTES, nb, bs, this.config.cfg, this.config.app, refTagAt(this.config, b0)),
    );
    md.set(mdStaged);
  }

  /** Checks data blocks against their PI in `md`. */
  dixVerify(data: Uint8Array, md: Uint8Array): DifVerifyResult {
    const bs = this.config.blockSize;
    const blocks = this.count('dixVerify', 'data', data, bs);
    this.metadata('dixVerify', md, blocks);
    // Each chunk is staged as [its data blocks][their 8-byte PI].
    return this.stagedVerify(
      data,
      blocks,
      bs,
      0,
      null,
      (b0, nb, src, _dst, res) => {
        const pi = src + nb * bs;
        this.runtime.memory.u8.set(md.subarray(b0 * DIF_PI_BYTES, (b0 + nb) * DIF_PI_BYTES), pi);
        return this.k.verify(
          src,
          bs,
          pi,
          DIF_PI_BYTES,
          nb,
          bs,
          this.config.cfg,
          this.config.app,
          refTagAt(this.config, b0),
          res,
        );
      },
      DIF_PI_BYTES,
    );
  }

  // ---- zero-copy forms ----------------------------------------------------------------------------

  /** {@link T10Dif.generate} in place on `blocks` interleaved units at host address `buf`. */
  generateAt(buf: number, blocks: number): void {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    this.status(
      'generateAt',
      this.k.generate(
        this.addr('generateAt', 'buf', buf, blocks, u),
        u,
        buf + bs,
        u,
        blocks,
        bs,
        this.config.cfg,
        this.config.app,
        this.config.refTag,
      ),
    );
  }

  /** {@link T10Dif.verify} on `blocks` interleaved units at `buf`. */
  verifyAt(buf: number, blocks: number): DifVerifyResult {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const res = this.resultSlot();
    const a = this.addr('verifyAt', 'buf', buf, blocks, u);
    return this.outcome(
      this.k.verify(a, u, a + bs, u, blocks, bs, this.config.cfg, this.config.app, this.config.refTag, res),
      res,
      0,
      'verifyAt',
    );
  }

  /** {@link T10Dif.insert}: `blocks` data blocks at `src` → interleaved units at `dst`. */
  insertAt(src: number, dst: number, blocks: number): void {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const s = this.addr('insertAt', 'src', src, blocks, bs);
    const d = this.addr('insertAt', 'dst', dst, blocks, u);
    this.status('insertAt', this.k.insert(s, d, blocks, bs, this.config.cfg, this.config.app, this.config.refTag));
  }

  /** {@link T10Dif.strip}: `blocks` interleaved units at `src` → data blocks at `dst`, no checks. */
  stripAt(src: number, dst: number, blocks: number): void {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    this.status(
      'stripAt',
      this.k.strip(
        this.addr('stripAt', 'src', src, blocks, u),
        this.addr('stripAt', 'dst', dst, blocks, bs),
        blocks,
        bs,
      ),
    );
  }

  /** {@link T10Dif.verifyCopy}: units at `src` → data at `dst`, checking every block. */
  verifyCopyAt(src: number, dst: number, blocks: number): DifVerifyResult {
    const u = this.unitBytes,
      bs = this.config.blockSize;
    const s = this.addr('verifyCopyAt', 'src', src, blocks, u);
    const d = this.addr('verifyCopyAt', 'dst', dst, blocks, bs);
    const res = this.resultSlot();
    return this.outcome(
      this.k.verifyCopy(s, d, blocks, bs, this.config.cfg, this.config.app, this.config.refTag, res),
      res,
      0,
      'verifyCopyAt',
    );
  }

  /** {@link T10Dif.dixGenerate}: PI of `blocks` data blocks at `data` into 8-byte records at `md`. */
  dixGenerateAt(data: number, md: number, blocks: number): void {
    const bs = this.config.blockSize;
    const d = this.addr('dixGenerateAt', 'data', data, blocks, bs);
    const m = this.addr('dixGenerateAt', 'md', md, blocks, DIF_PI_BYTES);
    this.status(
      'dixGenerateAt',
      this.k.generate(d, bs, m, DIF_PI_BYTES, blocks, bs, this.config.cfg, this.config.app, this.config.refTag),
    );
  }

  /** {@link T10Dif.dixVerify}: data blocks at `data` against their PI at `md`. */
  dixVerifyAt(data: number, md: number, blocks: number): DifVerifyResult {
    const bs = this.config.blockSize;
    const d = this.addr('dixVerifyAt', 'data', data, blocks, bs);
    const m = this.addr('dixVerifyAt', 'md', md, blocks, DIF_PI_BYTES);
    const res = this.resultSlot();
    return this.outcome(
      this.k.verify(d, bs, m, DIF_PI_BYTES, blocks, bs, this.config.cfg, this.config.app, this.config.refTag, res),
      res,
      0,
      'dixVerifyAt',
    );
  }

  // ---- plumbing -------------------------------------------------------------------------------------

  private count(op: string, field: string, buf: Uint8Array, unit: number): number {
    if (!(buf instanceof Uint8Array)) throw invalid(op, field, `expected a Uint8Array, got ${typeof buf}`);
    if (buf.length % unit !== 0) {
      throw invalid(
        op,
        field,
        `expected a whole number of ${unit}-byte ${unit === this.config.blockSize ? 'blocks' : `units (${this.config.blockSize} data + 8 PI)`}, got ${buf.length} bytes (${Math.floor(buf.length / unit)} units and ${buf.length % unit} bytes)`,
      );
    }
    return buf.length / unit;
  }

  private metadata(op: string, md: Uint8Array, blocks: number): void {
    if (!(md instanceof Uint8Array) || md.length !== blocks * DIF_PI_BYTES) {
      throw invalid(
        op,
        'md',
        `expected a Uint8Array of ${blocks * DIF_PI_BYTES} bytes (8 per block), got ${md instanceof Uint8Array ? `${md.length} bytes` : typeof md}`,
      );
    }
  }

  private addr(op: string, field: string, a: number, blocks: number, unit: number): number {
    const mem = this.runtime.memory.sizeBytes;
    if (!Number.isInteger(blocks) || blocks < 0 || blocks * unit > mem)
      throw invalid(op, 'blocks', `expected an integer in [0, ${Math.floor(mem / unit)}], got ${blocks}`);
    if (!Number.isInteger(a) || a < 1 || a + blocks * unit > mem)
      throw invalid(
        op,
        field,
        `expected a host address in [1, ${mem - blocks * unit}] (${blocks} x ${unit} bytes inside the runtime's memory), got ${a}`,
      );
    return a;
  }

  private resultSlot(): number {
    return stagingFor(this.runtime).reserve(DIF_RESULT_BYTES);
  }

  /**
   * Runs an in-place operation over chunks of blocks: staged in runtime memory and copied back,
   * or directly when `buf` is a view over that memory.
   */
  private inPlace(
    op: string,
    buf: Uint8Array,
    blocks: number,
    unit: number,
    fn: (b0: number, nb: number, at: number) => number,
  ): void {
    const at = addressIn(this.runtime.memory.memory, buf);
    if (at >= 0) return this.status(op, fn(0, blocks, at));
    const per = Math.max(1, Math.floor(CHUNK_BYTES / unit));
    const base = stagingFor(this.runtime).reserve(Math.min(per, blocks) * unit);
    const u8 = this.runtime.memory.u8;
    for (let b0 = 0; b0 < blocks; b0 += per) {
      const nb = Math.min(per, blocks - b0);
      u8.set(buf.subarray(b0 * unit, (b0 + nb) * unit), base);
      this.status(op, fn(b0, nb, base));
      buf.set(u8.subarray(base, base + nb * unit), b0 * unit);
    }
  }

  /**
   * Runs a copying operation (src units in, out units out) over staged chunks;
   * views over runtime memory are read in place.
   */
  private stagedCopy(
    op: string,
    src: Uint8Array,
    out: Uint8Array,
    blocks: number,
    inUnit: number,
    outUnit: number,
    fn: (b0: number, nb: number, src: number, dst: number) => number,
  ): void {
    const per = Math.max(1, Math.floor(CHUNK_BYTES / (inUnit + outUnit)));
    const inAt = addressIn(this.runtime.memory.memory, src);
    const base = stagingFor(this.runtime).reserve(
      align64(Math.min(per, blocks) * inUnit) + Math.min(per, blocks) * outUnit,
    );
    const u8 = this.runtime.memory.u8;
    for (let b0 = 0; b0 < blocks; b0 += per) {
      const nb = Math.min(per, blocks - b0);
      let s = inAt + b0 * inUnit;
      if (inAt < 0) {
        u8.set(src.subarray(b0 * inUnit, (b0 + nb) * inUnit), base);
        s = base;
      }
      const d = base + align64(nb * inUnit);
      this.status(op, fn(b0, nb, s, d));
      out.set(u8.subarray(d, d + nb * outUnit), b0 * outUnit);
    }
  }

  private stagedVerify(
    buf: Uint8Array,
    blocks: number,
    inUnit: number,
    outUnit: number,
    out: Uint8Array | null,
    fn: (b0: number, nb: number, src: number, dst: number, res: number) => number,
    extraPerBlock = 0,
  ): DifVerifyResult {
    const per = Math.max(1, Math.floor(CHUNK_BYTES / (inUnit + outUnit + extraPerBlock)));
    const first = Math.min(per, blocks);
    // The verify result first, on a line of its own; then the input, then the output.
    const inAt = align64(DIF_RESULT_BYTES);
    const base = stagingFor(this.runtime).reserve(inAt + align64(first * (inUnit + extraPerBlock)) + first * outUnit);
    const res = base;
    const u8 = this.runtime.memory.u8;
    for (let b0 = 0; b0 < blocks; b0 += per) {
      const nb = Math.min(per, blocks - b0);
      const s = base + inAt;
      u8.set(buf.subarray(b0 * inUnit, (b0 + nb) * inUnit), s);
      const d = s + align64(nb * (inUnit + extraPerBlock));
      const r = this.outcome(fn(b0, nb, s, d, res), res, b0, 'verify');
      if (out) out.set(u8.subarray(d, d + nb * outUnit), b0 * outUnit);
      if (!r.ok) return r;
    }
    return { ok: true };
  }

  private outcome(status: number, res: number, b0: number, op: string): DifVerifyResult {
    if (status === 0) return { ok: true };
    if (status !== DIF_MISMATCH) this.status(op, status);
    const v = this.runtime.memory.view;
    const code = v.getUint32(res + DIF_RES_TAG, true);
    const tag = TAG_NAMES[code];
    if (!tag) throw new QingtianError(ErrorCode.BadHeader, `T10Dif.${op}: the dif kernel reported tag ${code}`);
    return {
      ok: false,
      block: b0 + v.getUint32(res + DIF_RES_BLOCK, true),
      tag,
      expected: v.getUint32(res + DIF_RES_EXPECTED, true),
      actual: v.getUint32(res + DIF_RES_ACTUAL, true),
    };
  }

  private status(op: string, status: number): void {
    if (status < 0) throw kernelStatusError(`T10Dif.${op}`, status, this.k.statuses);
  }
}

function invalid(op: string, field: string, message: string): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `T10Dif.${op}: ${field}: ${message}`, { field });
}
