/**
 * The core's clock: process.hrtime (the monotonic clock every thread shares, what the control
 * plane stamps commands with) read through performance.now(), which returns a double instead of
 * allocating a BigInt. performance.now() + originMs() = process.hrtime in ms.
 *
 * Both read the same monotonic clock, so the offset is fixed; it is taken from the narrowest of
 * several hrtime / now / hrtime brackets, because a thread preempted between two reads (a busy
 * machine) would otherwise be off by the whole preemption.
 */
export function originMs(): number {
  let best = Infinity;
  let origin = 0;
  for (let i = 0; i < 64; i++) {
    const a = process.hrtime.bigint();
    const p = performance.now();
    const b = process.hrtime.bigint();
    const width = Number(b - a);
    if (width < best) {
      best = width;
      origin = Number(a + b) / 2e6 - p;
    }
  }
  return origin;
}
