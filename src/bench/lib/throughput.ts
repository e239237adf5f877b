/** Throughput sampling for the kernel suites: bytes per nanosecond = GB/s. */

/** Calls `fn` for about `ms` milliseconds (in growing batches, so the clock is read rarely). */
export function rateSync(fn: () => void, bytesPerCall: number, ms: number): number {
  const budget = BigInt(Math.round(ms * 1e6));
  let calls = 0;
  let batch = 1;
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < batch; i++) fn();
    calls += batch;
    elapsed = process.hrtime.bigint() - t0;
    if (elapsed < budget / 16n) batch *= 2;
  }
  return (calls * bytesPerCall) / Number(elapsed);
}

/** The same for an asynchronous operation, one in flight at a time. */
export async function rateAsync(fn: () => Promise<void>, bytesPerCall: number, ms: number): Promise<number> {
  const budget = BigInt(Math.round(ms * 1e6));
  let calls = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  while (elapsed < budget) {
    await fn();
    calls++;
    elapsed = process.hrtime.bigint() - t0;
  }
  return (calls * bytesPerCall) / Number(elapsed);
}

/**
 * Runs every named sampler once per run, interleaved (noise from a shared machine spreads over
 * all of them alike), and returns each one's samples.
 */
export async function sampleAll(
  runs: number,
  samplers: Record<string, () => number | Promise<number>>,
): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const name of Object.keys(samplers)) out[name] = [];
  for (let r = 0; r < runs; r++) {
    for (const [name, s] of Object.entries(samplers)) out[name]!.push(await s());
  }
  return out;
}
