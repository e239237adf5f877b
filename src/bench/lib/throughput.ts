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

/**
 * The same for a callback-style operation run the way a thread-pool library is used: `depth`
 * calls in flight, each completion starting the next (`start(slot, done)`, slot in [0, depth):
 * the caller gives each slot its own output buffers), for about `ms` milliseconds.
 */
export function rateInFlight(
  start: (slot: number, done: (e?: Error | null) => void) => void,
  depth: number,
  bytesPerCall: number,
  ms: number,
): Promise<number> {
  const budget = BigInt(Math.round(ms * 1e6));
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let calls = 0;
    let live = depth;
    let stopped = false;
    const issue = (slot: number): void =>
      start(slot, (e) => {
        if (e) {
          stopped = true;
          reject(e);
          return;
        }
        calls++;
        const elapsed = process.hrtime.bigint() - t0;
        if (!stopped && elapsed < budget) issue(slot);
        else if (--live === 0) resolve((calls * bytesPerCall) / Number(elapsed));
      });
    for (let s = 0; s < depth; s++) issue(s);
  });
}

/** Threads in libuv's pool, where native addons run their async work (UV_THREADPOOL_SIZE, default 4). */
export function libuvPoolSize(): number {
  const n = Number(process.env['UV_THREADPOOL_SIZE']);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : 4;
}
