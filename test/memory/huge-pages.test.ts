import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../src/common/errors.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { thpMode } from '../../src/memory/huge-pages.js';

const MIB = 1 << 20;

/** This process's anonymous memory on transparent huge pages, bytes. */
function anonHuge(): number {
  const m = /^AnonHugePages:\s+(\d+) kB/m.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'));
  return Number(m![1]) * 1024;
}

/** Bytes of huge pages that touching every 4 KiB page of a fresh memory brought in. */
function hugeAfterTouch(m: HostMemory): number {
  const before = anonHuge();
  for (let i = 0; i < m.u8.length; i += 4096) m.u8[i] = 1;
  return anonHuge() - before;
}

const linuxThp = process.platform === 'linux' && (thpMode() === 'madvise' || thpMode() === 'always');

describe.runIf(linuxThp)('host memory on 2 MiB pages (Linux, THP madvise or always)', () => {
  it('advises the whole 2 MiB-aligned part, and touching the memory brings in huge pages', () => {
    const m = new HostMemory({ sizeBytes: 64 * MIB });
    expect(m.hugePages.huge).toBe(true);
    if (thpMode() === 'madvise') {
      // The native helper is part of the install here: its absence is a failure, not a skip.
      expect(m.hugePages.reason).toBe('madvise(MADV_HUGEPAGE)');
      expect(m.hugePages.advisedBytes).toBeGreaterThanOrEqual(62 * MIB);
      expect(m.hugePages.advisedBytes % (2 * MIB)).toBe(0);
    }
    // Compaction may fail for a page or two on a fragmented machine; most must be huge.
    expect(hugeAfterTouch(m)).toBeGreaterThanOrEqual(32 * MIB);
  });

  it('hugePages: false leaves the memory on 4 KiB pages where THP is madvise-only', () => {
    const m = new HostMemory({ sizeBytes: 64 * MIB, hugePages: false });
    expect(m.hugePages.advisedBytes).toBe(0);
    if (thpMode() === 'madvise') {
      expect(m.hugePages).toMatchObject({ huge: false, reason: 'not requested (hugePages: false)' });
      expect(hugeAfterTouch(m)).toBeLessThan(8 * MIB);
    }
  });
});

describe('host memory huge-page option', () => {
  it('rejects a non-boolean hugePages, naming the field', () => {
    try {
      new HostMemory({ sizeBytes: 2 * MIB, hugePages: 'yes' as unknown as boolean });
      throw new Error('accepted');
    } catch (e) {
      expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toMatch(/^HostMemory options\.hugePages: /);
    }
  });
});
