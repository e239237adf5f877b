import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import {
  DIF_APP_MASK_SHIFT,
  DIF_CFG_SEED_SHIFT,
  DIF_CHECK_APP,
  DIF_CHECK_GUARD,
  DIF_CHECK_REF,
  DIF_TAG_APP,
  DIF_TAG_GUARD,
  DIF_TAG_REF,
} from '../../generated/dif.js';
import { SIMD_CHOICES, type SimdChoice } from '../kernels/kernel-flavour.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';

/** Data bytes per protected block; each carries 8 bytes of PI (interleaved units of 520 / 4104). */
export const DIF_BLOCK_SIZES = [512, 4096] as const;

/** The tag a verify result names, by the kernel's DIF_TAG_* code. */
export const TAG_NAMES: Record<number, 'guard' | 'appTag' | 'refTag'> = {
  [DIF_TAG_GUARD]: 'guard',
  [DIF_TAG_APP]: 'appTag',
  [DIF_TAG_REF]: 'refTag',
};

/** What {@link T10Dif} verify compares (generate always writes all three fields). */
export interface DifChecks {
  /** Compare the guard (CRC16 of the block's data). Default true. */
  guard?: boolean | undefined;
  /** Compare the application tag under appTagMask. Default false. */
  appTag?: boolean | undefined;
  /** Compare the reference tag (types 1 and 2 only). Default true for types 1 and 2. */
  refTag?: boolean | undefined;
}

/** Options of {@link T10Dif}. Unknown keys are refused. */
export interface T10DifOptions {
  /** Data bytes per block: 512 or 4096 (interleaved units of 520 or 4104 bytes). */
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
  /**
   * What verify compares: guard (default true), appTag (default false), refTag (default true for
   * types 1 and 2; refused for type 3).
   */
  checks?: DifChecks | undefined;
  /** Initial value of the guard CRC (SPDK guard_seed), 0..0xFFFF. Default 0. */
  guardSeed?: number | undefined;
  /** Where staging lives and which kernels it calls. Default: defaultRuntime(); in a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
  /** Kernel flavour: 'auto' (relaxed SIMD when the engine has it), 'portable' or 'relaxed'. Default 'auto'. */
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
  /** Data bytes per block, 512 or 4096. */
  readonly blockSize: number;
  /** T10 protection type. */
  readonly type: 1 | 2 | 3;
  /** The first block's reference tag. */
  readonly refTag: number;
  /** The application tag written and (if checked) compared. */
  readonly appTag: number;
  /** Bits of the application tag compared. */
  readonly appTagMask: number;
  /** What verify compares, defaults applied. */
  readonly checks: Readonly<Required<DifChecks>>;
  /** The guard CRC's initial value. */
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
    (c.checks.guard ? DIF_CHECK_GUARD : 0) |
    (c.checks.appTag ? DIF_CHECK_APP : 0) |
    (c.checks.refTag ? DIF_CHECK_REF : 0);
  const cfg = c.type | checks | (c.guardSeed << DIF_CFG_SEED_SHIFT) | 0;
  return { ...c, refTag, cfg, app: c.appTag | (c.appTagMask << DIF_APP_MASK_SHIFT) | 0 };
}

/** Reference tag of block `i` of a run (wrapping at 2^32 for types 1 and 2). */
export function refTagAt(c: DifConfig, i: number): number {
  return c.type === 3 ? c.refTag : (c.refTag + i) >>> 0;
}
