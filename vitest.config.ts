import { defineConfig } from 'vitest/config';

// Node 20's V8 (11.3) has relaxed SIMD only behind a flag; the kernels' "-rlx" flavours are
// tested there with it (from V8 11.4 on it is standard and the flag is not needed).
const [v8Major = 0, v8Minor = 0] = process.versions.v8.split('.').map(Number);
const relaxedSimdFlag = v8Major < 11 || (v8Major === 11 && v8Minor < 4) ? ['--experimental-wasm-relaxed-simd'] : [];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests that run DPU cores spin worker threads; on a 2-CPU machine, files running side by
    // side would only starve each other's cores. One file at a time keeps them honest.
    fileParallelism: false,
    execArgv: relaxedSimdFlag,
  },
});
