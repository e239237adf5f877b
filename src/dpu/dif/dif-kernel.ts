import { statusTable, type StatusTable } from '../../common/kernel-status.js';
import { flavouredFamily, resolveFlavour, type SimdChoice, type SimdFlavour } from '../kernels/kernel-flavour.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { DIF_E_ARGS, DIF_E_RANGE } from '../../generated/dif.js';

type Crc = (seed: number, p: number, n: number) => number;
type Generate = (
  data: number,
  dataStride: number,
  pi: number,
  piStride: number,
  blocks: number,
  bs: number,
  cfg: number,
  app: number,
  ref: number,
) => number;
type Verify = (
  data: number,
  dataStride: number,
  pi: number,
  piStride: number,
  blocks: number,
  bs: number,
  cfg: number,
  app: number,
  ref: number,
  res: number,
) => number;
type Insert = (src: number, dst: number, blocks: number, bs: number, cfg: number, app: number, ref: number) => number;
type Strip = (src: number, dst: number, blocks: number, bs: number) => number;
type VerifyCopy = (
  src: number,
  dst: number,
  blocks: number,
  bs: number,
  cfg: number,
  app: number,
  ref: number,
  res: number,
) => number;

/** The "dif" kernel's exports (assembly/dif/index.ts). */
export interface DifKernel {
  readonly kernel: LoadedKernel;
  readonly flavour: SimdFlavour;
  readonly crc16: Crc;
  readonly crc16Scalar: Crc;
  readonly generate: Generate;
  readonly verify: Verify;
  readonly insert: Insert;
  readonly strip: Strip;
  readonly verifyCopy: VerifyCopy;
  /** What the kernel's negative statuses mean. */
  readonly statuses: StatusTable;
}

const bound = new WeakMap<KernelRuntime, Map<SimdChoice, DifKernel>>();

/** The bound exports for a runtime and a flavour choice ('auto' is resolved on first use per runtime). */
export function difKernel(runtime: KernelRuntime, simd: SimdChoice): DifKernel {
  let byChoice = bound.get(runtime);
  if (!byChoice) bound.set(runtime, (byChoice = new Map<SimdChoice, DifKernel>()));
  let k = byChoice.get(simd);
  if (!k) {
    const flavour = resolveFlavour(simd);
    const kernel = runtime.kernel(flavouredFamily('dif', flavour));
    k = {
      kernel,
      flavour,
      crc16: kernel.fn<Crc>('dif_crc16'),
      crc16Scalar: kernel.fn<Crc>('dif_crc16_scalar'),
      generate: kernel.fn<Generate>('dif_generate'),
      verify: kernel.fn<Verify>('dif_verify'),
      insert: kernel.fn<Insert>('dif_insert'),
      strip: kernel.fn<Strip>('dif_strip'),
      verifyCopy: kernel.fn<VerifyCopy>('dif_verify_copy'),
      statuses: statusTable([
        [DIF_E_ARGS, 'args', 'a block size, count or configuration out of range'],
        [DIF_E_RANGE, 'range', 'a buffer range lies outside host memory'],
      ]),
    };
    byChoice.set(simd, k);
  }
  return k;
}
