import { kernelStatusError, statusTable, type StatusTable } from '../../common/kernel-status.js';
import { flavouredFamily, resolveFlavour, type SimdChoice, type SimdFlavour } from '../kernels/kernel-flavour.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { EC_E_ARGS, EC_E_RANGE, EC_E_STATE } from '../../generated/ec.js';

type Encode = (len: number, k: number, rows: number, tbls: number, src: number, dst: number) => number;
type Update = (
  len: number,
  k: number,
  rows: number,
  j: number,
  tbls: number,
  oldData: number,
  newData: number,
  parity: number,
) => number;
type InitTables = (k: number, rows: number, coeffs: number, out: number) => number;

/** The "ec" kernel's exports, bound once per coder (assembly/ec/index.ts). */
export interface EcKernel {
  readonly kernel: LoadedKernel;
  readonly flavour: SimdFlavour;
  readonly encode: Encode;
  readonly update: Update;
  readonly initTables: InitTables;
  readonly gfMul: (a: number, b: number) => number;
  /** What the kernel's negative statuses mean. */
  readonly statuses: StatusTable;
}

/** The ec kernel's statuses (assembly/ec/checks.ts), for every API that calls it. */
export const EC_STATUSES: StatusTable = statusTable([
  [EC_E_ARGS, 'args', 'k, rows, a source index or a length out of range'],
  [EC_E_RANGE, 'range', 'a shard or table range lies outside host memory'],
  [EC_E_STATE, 'state'],
]);

export function ecKernel(runtime: KernelRuntime, simd: SimdChoice): EcKernel {
  const flavour = resolveFlavour(simd);
  const kernel = runtime.kernel(flavouredFamily('ec', flavour));
  return {
    kernel,
    flavour,
    encode: kernel.fn<Encode>('ec_encode'),
    update: kernel.fn<Update>('ec_update'),
    initTables: kernel.fn<InitTables>('ec_init_tables'),
    gfMul: kernel.fn<(a: number, b: number) => number>('ec_gf_mul'),
    statuses: EC_STATUSES,
  };
}

/**
 * A kernel status after the TS side validated everything: anything but 0 is a bug or a region
 * freed under the call, never a user error that slipped through.
 */
export function checkStatus(kernel: EcKernel, op: string, status: number): void {
  if (status !== 0) throw kernelStatusError(op, status, kernel.statuses);
}
