/*
 * Queue-length histograms as the netsim kernel bins them (`histBin` in assembly/netsim/port.ts,
 * HIST_BINS bins): 1 KiB bins below 16 KiB, then 8 bins per power of two, the last one open.
 * test/netsim/simulator.test.ts holds binRange to the kernel's binning.
 */

/** [lo, hi) bytes of a bin. */
export function binRange(bin: number): [number, number] {
  if (bin < 16) return [bin * 1024, (bin + 1) * 1024];
  const e = 4 + Math.floor((bin - 16) / 8);
  const sub = (bin - 16) % 8;
  const step = 2 ** (e - 3);
  return [(8 + sub) * step * 1024, (9 + sub) * step * 1024];
}

/** The p-th percentile (0..100) of a histogram, as the upper edge of the bin it falls in. */
export function histPercentile(counts: ArrayLike<number>, p: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= rank) return i === 0 && counts[0] === seen ? 0 : binRange(i)[1];
  }
  return binRange(counts.length - 1)[1];
}
