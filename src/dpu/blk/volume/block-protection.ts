import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { parseDifOptions, TAG_NAMES } from '../../dif/dif-config.js';
import { difKernel, type DifKernel } from '../../dif/dif-kernel.js';
import { DIF_RES_ACTUAL, DIF_RES_BLOCK, DIF_RES_EXPECTED, DIF_RES_TAG, DIF_TAG_APP } from '../../../generated/dif.js';
import type { KernelRuntime } from '../../kernels/kernel-runtime.js';
import { BLOCK_BYTES, UNIT_BYTES } from './geometry.js';

/** A block that failed its check: which tag, and what was expected and found. */
export interface ProtectionFailure {
  block: number;
  tag: 'guard' | 'appTag' | 'refTag';
  expected: number;
  actual: number;
}

/**
 * T10 DIF on every 4096-byte block of a volume, type 1: the guard is the CRC-16/T10-DIF of the
 * data, the reference tag the low 32 bits of the block's LBA, and the application tag the
 * volume's own (volume.json `appTag`, never 0 and never 0xFFFF), checked on every read. With
 * tag 0 and no check (format version 1) a unit of all zeros, a zeroed region of a disk file,
 * passed as LBA 0's block: its CRC is 0 and so were both tags. A unit whose application tag is
 * T10's escape value 0xFFFF (every check off; an all-ones region reads so) is refused too: the
 * volume never writes it. Generated where a block enters the volume, verified wherever one
 * leaves it (a read, the cleaner, a rebuild, a scrub). The configuration is validated once here;
 * the calls go to the dif kernel's exports directly with addresses the volume computed itself
 * (docs/design.md, convention 20).
 */
export class BlockProtection {
  private readonly k: DifKernel;
  private cfg = 0;
  private app = 0;
  private readonly view: DataView;
  private readonly u8: Uint8Array;

  constructor(
    runtime: KernelRuntime,
    /** 16 bytes of host memory for the kernel's failure record. */
    private readonly resultAddr: number,
    /** The volume's application tag (checked on every verify); null: tag 0, not checked (format version 1). */
    appTag: number | null,
  ) {
    this.k = difKernel(runtime, 'auto');
    this.view = runtime.memory.view;
    this.u8 = runtime.memory.u8;
    this.use(appTag ?? 0, appTag !== null);
  }

  /** Sets the application tag that insert writes and whether verify compares it (upgrading a volume). */
  use(appTag: number, check: boolean): void {
    const c = parseDifOptions({ blockSize: BLOCK_BYTES, type: 1, appTag, checks: { appTag: check } });
    this.cfg = c.cfg;
    this.app = c.app;
  }

  /** Copies `blocks` data blocks from src into units at dst (data + PI), generating the PI. */
  insert(src: number, dst: number, blocks: number, lba: number): void {
    this.check('insert', this.k.insert(src, dst, blocks, BLOCK_BYTES, this.cfg, this.app, lba >>> 0));
  }

  /** Verifies `blocks` consecutive units at `units`; -1 when every block passes, else the first failing block. */
  verify(units: number, blocks: number, lba: number): number {
    const s = this.k.verify(
      units,
      UNIT_BYTES,
      units + BLOCK_BYTES,
      UNIT_BYTES,
      blocks,
      BLOCK_BYTES,
      this.cfg,
      this.app,
      lba >>> 0,
      this.resultAddr,
    );
    return this.outcome('verify', s, units, blocks);
  }

  /** Verifies units at src and copies their data to dst; -1 when all pass, else the first failing block. */
  verifyCopy(src: number, dst: number, blocks: number, lba: number): number {
    const s = this.k.verifyCopy(src, dst, blocks, BLOCK_BYTES, this.cfg, this.app, lba >>> 0, this.resultAddr);
    return this.outcome('verifyCopy', s, src, blocks);
  }

  /** The details of the last failure reported by verify / verifyCopy. */
  lastFailure(): ProtectionFailure {
    const v = this.view;
    const r = this.resultAddr;
    return {
      block: v.getUint32(r + DIF_RES_BLOCK, true),
      tag: TAG_NAMES[v.getUint32(r + DIF_RES_TAG, true)] ?? 'guard',
      expected: v.getUint32(r + DIF_RES_EXPECTED, true),
      actual: v.getUint32(r + DIF_RES_ACTUAL, true),
    };
  }

  private outcome(op: string, s: number, units: number, blocks: number): number {
    if (s === 0) return this.escaped(units, blocks);
    if (s === 1) return this.view.getUint32(this.resultAddr, true);
    return this.check(op, s);
  }

  /** The first of `blocks` units at `units` whose PI carries the escape tag (the kernel skipped it), or -1. */
  private escaped(units: number, blocks: number): number {
    const u8 = this.u8;
    for (let i = 0; i < blocks; i++) {
      // SAFETY: the kernel has just checked these units lie inside memory.
      const tag = units + i * UNIT_BYTES + BLOCK_BYTES + 2;
      if (u8[tag] !== 0xff || u8[tag + 1] !== 0xff) continue;
      const v = this.view;
      const r = this.resultAddr;
      v.setUint32(r + DIF_RES_BLOCK, i, true);
      v.setUint32(r + DIF_RES_TAG, DIF_TAG_APP, true);
      v.setUint32(r + DIF_RES_EXPECTED, this.app & 0xffff, true);
      v.setUint32(r + DIF_RES_ACTUAL, 0xffff, true);
      return i;
    }
    return -1;
  }

  private check(op: string, s: number): never | -1 {
    if (s >= 0) return -1;
    throw new QingtianError(ErrorCode.InvalidArgument, `volume: the dif kernel refused ${op} (status ${s})`, {
      status: s,
    });
  }
}
