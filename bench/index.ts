import type { BenchContext } from './lib/report.js';

/** Benchmark suites by name. Each module exports `run(ctx)`. */
export const SUITES: Record<string, { describe: string; load: () => Promise<{ run(ctx: BenchContext): Promise<void> }> }> = {
  core: { describe: 'DPU core runtime: poll round trip, interrupt wake-up, control command, idle CPU', load: () => import('./core.js') },
  ec: { describe: 'Reed-Solomon encode / reconstruct / update, ours vs @ronomon/reed-solomon, reed-solomon-erasure.wasm, plain JS', load: () => import('./ec.js') },
  dif: { describe: 'CRC-16/T10-DIF and T10 PI generate+verify, ours vs js-crc, plain JS', load: () => import('./dif.js') },
};
