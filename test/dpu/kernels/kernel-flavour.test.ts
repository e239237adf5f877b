import { afterEach, describe, expect, it } from 'vitest';
import { flavouredFamily, relaxedSimdSupported, resolveFlavour } from '../../../src/dpu/kernels/kernel-flavour.js';

describe('kernel flavours', () => {
  afterEach(() => {
    delete process.env['QINGTIAN_SIMD'];
  });

  it('detects relaxed SIMD with a probe module, as the engine itself decides', () => {
    const [major = 0, minor = 0] = process.versions.v8.split('.').map(Number);
    const standard = major > 11 || (major === 11 && minor >= 4);
    // vitest passes --experimental-wasm-relaxed-simd on older V8 (vitest.config.ts).
    expect(relaxedSimdSupported()).toBe(standard || process.execArgv.includes('--experimental-wasm-relaxed-simd'));
  });

  it("resolves 'auto' to relaxed when supported, unless QINGTIAN_SIMD=portable", () => {
    expect(resolveFlavour('auto')).toBe(relaxedSimdSupported() ? 'relaxed' : 'portable');
    process.env['QINGTIAN_SIMD'] = 'portable';
    expect(resolveFlavour('auto')).toBe('portable');
    expect(resolveFlavour('portable')).toBe('portable');
    expect(flavouredFamily('ec', 'relaxed')).toBe('ec-rlx');
    expect(flavouredFamily('dif', 'portable')).toBe('dif');
  });
});
