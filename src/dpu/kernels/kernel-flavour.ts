import { ErrorCode, QingtianError } from '../../common/errors.js';

/**
 * A kernel build. The families that use 16-lane table lookups (`ec`, `dif`) come in two
 * (`assembly/<family>/flavours.json`): `portable` uses `i8x16.swizzle`; `relaxed` (the `-rlx`
 * files) uses relaxed SIMD's `i8x16.relaxed_swizzle`, which V8 lowers to a bare `PSHUFB`, where the
 * portable swizzle costs two more instructions per lookup (common/lut16.ts). Every table index is
 * masked to 0..15, where both agree, so results are identical; the tests run both.
 */
export type SimdFlavour = 'portable' | 'relaxed';
/**
 * The `simd` option of the ec and dif APIs: `'auto'` (default) takes `relaxed` when the engine has
 * it, unless the environment says `QINGTIAN_SIMD=portable`; `'relaxed'` is refused on an engine
 * without it. Relaxed SIMD is standard from Node 22 (V8 11.4+); on Node 20 it needs
 * `--experimental-wasm-relaxed-simd`, which the qingtian CLI turns on at startup (bin/qingtian.js).
 * {@link relaxedSimdSupported} says what the engine has.
 */
export type SimdChoice = 'auto' | SimdFlavour;
/** The accepted values of the `simd` option. */
export const SIMD_CHOICES = ['auto', 'portable', 'relaxed'] as const;

// (module (func (result v128) v128.const 0 v128.const 0 i8x16.relaxed_swizzle))
// prettier-ignore
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
  0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // type: () -> v128
  0x03, 0x02, 0x01, 0x00, // func 0: type 0
  0x0a, 0x2b, 0x01, 0x29, 0x00, // code: one body of 41 bytes, no locals
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x0c, ...new Array<number>(16).fill(0), // v128.const 0
  0xfd, 0x80, 0x02, // i8x16.relaxed_swizzle (0xfd 0x100)
  0x0b, // end
]);

let relaxed: boolean | undefined;

/** Whether this engine accepts relaxed-SIMD modules (checked once). */
export function relaxedSimdSupported(): boolean {
  relaxed ??= WebAssembly.validate(RELAXED_PROBE);
  return relaxed;
}

/**
 * The flavour to use: 'auto' takes relaxed when the engine has it, unless the environment says
 * QINGTIAN_SIMD=portable (to measure or test the portable build).
 */
export function resolveFlavour(choice: SimdChoice): SimdFlavour {
  if (choice === 'auto') {
    const env = process.env['QINGTIAN_SIMD'];
    if (env === 'portable') return 'portable';
    return relaxedSimdSupported() ? 'relaxed' : 'portable';
  }
  if (choice === 'relaxed' && !relaxedSimdSupported()) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      "simd: 'relaxed' needs relaxed SIMD in the engine (Node >= 22, or node --experimental-wasm-relaxed-simd); use 'auto' or 'portable'",
      { field: 'simd' },
    );
  }
  return choice;
}

/** The kernel file name of a family in a flavour: 'ec' / 'ec-rlx'. */
export function flavouredFamily(family: string, flavour: SimdFlavour): string {
  return flavour === 'relaxed' ? `${family}-rlx` : family;
}
