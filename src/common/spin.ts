/** Busy-waits for `us` microseconds (measurement helpers only: keeps the waiting thread hot). */
export function spinMicros(us: number): void {
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < end);
}
