import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import { SIMD_CHOICES, type SimdChoice } from '../kernels/kernel-flavour.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';

/** Data bytes per protected block; each carries 8 bytes of PI (interleaved units of 520 / 4104). */
export const DIF_BLOCK_SIZES = [512, 4096] as const;
export const PI_BYTES = 8;

// Mirrors of the kernel's packing (assembly/dif/protection-info.ts); test/dpu/dif/t10-dif.test.ts
// checks them against the kernel's exported constants.
export const CFG_CHECK_GUARD = 1 << 4;
export const CFG_CHECK_APP = 1 << 5;
export const CFG_CHECK_REF = 1 << 6;
export const TAG_NAMES = { 1: 'guard', 2: 'appTag', 3: 'refTag' } as const;
export const RESULT_BYTES = 16;

export interface DifChecks {
  /** Compare the guard (CRC16 of the block's data). Default true. */
  guard?: boolean | undefined;
  /** Compare the application tag under appTagMask. Default false. */
  appTag?: boolean | undefined;
  /** Compare the reference tag (types 1 and 2 only). Default true for types 1 and 2. */
  refTag?: boolean | undefined;
}

export interface T10DifOptions {
  blockSize: 512 | 4096;
  /**
   * T10 protection type. 1: ref tag = low 32 bits of the LBA, +1 per block; 2: the command's initial ref tag, +1 per
   * block; 3: ref tag not checked.
   */
  type: 1 | 2 | 3;
  /** Ref tag of the first block (type 1: the LBA's low 32 bits; type 3: the value written). Default 0. */
  refTag?: number | undefined;
  /** App tag written by generate and compared by verify. Default 0. */
  appTag?: number | undefined;
  /** Bits of the app tag that verify compares. Default 0xFFFF. */
  appTagMask?: number | undefined;
  checks?: DifChecks | undefined;
  /** Initial value of the guard CRC (SPDK guard_seed). Default 0. */
  guardSeed?: number | undefined;
  runtime?: KernelRuntime | undefined;
  simd?: SimdChoice | undefined;
}

const schema = z.object({
  blockSize: z.union([z.literal(512), z.literal(4096)], { error: 'one of 512, 4096' }),
  type: z.union([z.literal(1), z.literal(2), z.literal(3)], { error: 'one of 1, 2, 3' }),
  refTag: intIn(0, 0xffffffff).optional(),
  appTag: intIn(0, 0xffff).optional(),
  appTagMask: intIn(0, 0xffff).optional(),
  checks: z
    .object({ guard: z.boolean().optional(), appTag: z.boolean().optional(), refTag: z.boolean().optional() })
    .optional(),
  guardSeed: intIn(0, 0xffff).optional(),
  runtime: z
    .custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'memory' in v && 'kernel' in v, {
      error: 'a KernelRuntime',
    })
    .optional(),
  simd: oneOf(SIMD_CHOICES).optional(),
});

/** A validated configuration, packed the way the kernel takes it (assembly/dif/protection-info.ts). */
export interface DifConfig {
  readonly blockSize: number;
  readonly type: 1 | 2 | 3;
  readonly refTag: number;
  readonly appTag: number;
  readonly appTagMask: number;
  readonly checks: Readonly<Required<DifChecks>>;
  readonly guardSeed: number;
  /** cfg argument: type | check bits << 4 | guardSeed << 16. */
  readonly cfg: number;
  /** app argument: appTag | appTagMask << 16. */
  readonly app: number;
}

export function parseDifOptions(
  options: T10DifOptions,
): DifConfig & { runtime?: KernelRuntime | undefined; simd: SimdChoice } {
  const o = parseArgs(schema, options, 'T10Dif options');
  const checks = {
    guard: o.checks?.guard ?? true,
    appTag: o.checks?.appTag ?? false,
    refTag: o.checks?.refTag ?? o.type !== 3,
  };
  if (o.type === 3 && checks.refTag) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      'T10Dif options.checks.refTag: type 3 reference tags are not checked (T10); expected false or nothing, got true',
      { field: 'checks.refTag' },
    );
  }
  return withRefTag(
    {
      blockSize: o.blockSize,
      type: o.type,
      refTag: 0,
      appTag: o.appTag ?? 0,
      appTagMask: o.appTagMask ?? 0xffff,
      checks,
      guardSeed: o.guardSeed ?? 0,
      runtime: o.runtime,
      simd: o.simd ?? 'auto',
    },
    o.refTag ?? 0,
  );
}

export function withRefTag<C extends Omit<DifConfig, 'cfg' | 'app'>>(c: C, refTag: number): C & DifConfig {
  const checks =
    (c.checks.guard ? CFG_CHECK_GUARD : 0) |
    (c.checks.appTag ? CFG_CHECK_APP : 0) |
    (c.checks.refTag ? CFG_CHECK_REF : 0);
  return { ...c, refTag, cfg: c.type | checks | (c.guardSeed << 16) | 0, app: c.appTag | (c.appTagMask << 16) | 0 };
}

/** Reference tag of block `i` of a run (wrapping at 2^32 for types 1 and 2). */
export function refTagAt(c: DifConfig, i: number): number {
  return c.type === 3 ? c.refTag : (c.refTag + i) >>> 0;
}
