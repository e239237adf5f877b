import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests that run DPU cores spin worker threads; on a 2-CPU machine, files running side by
    // side would only starve each other's cores. One file at a time keeps them honest.
    fileParallelism: false,
  },
});
