import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../common/package-paths.js';

/** The kernel's transparent-huge-page mode (/sys/kernel/mm/transparent_hugepage/enabled). */
export type ThpMode = 'always' | 'madvise' | 'never' | 'unknown';

/** What became of a request to put host memory on 2 MiB pages. */
export interface HugePageStatus {
  /** True when the memory's 2 MiB-aligned part is eligible for huge pages. */
  readonly huge: boolean;
  /** Bytes madvise(MADV_HUGEPAGE) was applied to (0 when not needed or not possible). */
  readonly advisedBytes: number;
  /** The kernel's THP mode at the time. */
  readonly thp: ThpMode;
  /** Why the memory stays on 4 KiB pages, or how it got huge ones. */
  readonly reason: string;
}

interface Helper {
  adviseHuge(buffer: SharedArrayBuffer): number;
}

let helper: Helper | string | undefined;

/** The native helper (native/huge-pages, built at install), or why there is none. */
function loadHelper(): Helper | string {
  if (helper !== undefined) return helper;
  const file = join(packageRoot(), 'native', 'huge-pages', 'build', 'Release', 'qt_huge_pages.node');
  try {
    helper = createRequire(import.meta.url)(file) as Helper;
  } catch (e) {
    helper = `native helper not loaded (${(e as Error).message.split('\n')[0]}); \`npm run install\` builds it`;
  }
  return helper;
}

/** The kernel's THP mode, read from sysfs (`unknown` off Linux or when unreadable). */
export function thpMode(): ThpMode {
  try {
    const m = /\[(always|madvise|never)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
    return (m?.[1] as ThpMode | undefined) ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Makes the pages of `buffer` (a WebAssembly.Memory's, not yet touched) eligible for 2 MiB
 * transparent huge pages, as DPDK puts its memory on huge pages: random lookups over tables of
 * tens of MiB otherwise pay a TLB miss each. Never throws; the status says what happened.
 */
export function adviseHugePages(buffer: SharedArrayBuffer): HugePageStatus {
  const thp = thpMode();
  if (thp === 'never') return { huge: false, advisedBytes: 0, thp, reason: 'transparent huge pages are off (never)' };
  if (process.platform !== 'linux')
    return { huge: false, advisedBytes: 0, thp, reason: `${process.platform} has no transparent huge pages` };
  const h = loadHelper();
  if (typeof h === 'string')
    return { huge: thp === 'always', advisedBytes: 0, thp, reason: thp === 'always' ? 'THP mode always' : h };
  const r = h.adviseHuge(buffer);
  if (r < 0)
    return { huge: thp === 'always', advisedBytes: 0, thp, reason: `madvise(MADV_HUGEPAGE) failed, errno ${-r}` };
  return {
    huge: r > 0 || thp === 'always',
    advisedBytes: r,
    thp,
    reason: r > 0 ? 'madvise(MADV_HUGEPAGE)' : 'smaller than one 2 MiB page',
  };
}

/** One phrase on what host memory will get here, e.g. for a bench's machine line. */
export function hugePageSupport(): string {
  const thp = thpMode();
  if (thp === 'never' || thp === 'always' || process.platform !== 'linux') return `transparent huge pages ${thp}`;
  const h = loadHelper();
  return typeof h === 'string'
    ? `transparent huge pages ${thp}, host memory on 4 KiB pages: ${h}`
    : `transparent huge pages ${thp}, host memory advised onto them`;
}

/** The status of huge pages when they were not asked for. */
export function hugePagesOff(): HugePageStatus {
  const thp = thpMode();
  return {
    huge: thp === 'always',
    advisedBytes: 0,
    thp,
    reason: thp === 'always' ? 'THP mode always' : 'not requested (hugePages: false)',
  };
}
