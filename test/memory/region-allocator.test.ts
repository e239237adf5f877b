import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isQingtianError, type ErrorCode } from '../../src/common/errors.js';
import type { Region } from '../../src/common/host-memory-api.js';
import { PAGE_BYTES, RegionAllocator } from '../../src/memory/region-allocator.js';

function expectCode(fn: () => unknown, code: ErrorCode): Error {
  try {
    fn();
  } catch (e) {
    expect(isQingtianError(e, code), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error(`expected ${code}`);
}

type Cmd = { op: 'alloc'; size: number; alignLog: number } | { op: 'free'; pick: number };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    op: fc.constant('alloc' as const),
    size: fc.integer({ min: 1, max: 3 * 65536 }),
    alignLog: fc.integer({ min: 12, max: 17 }),
  }),
  fc.record({ op: fc.constant('free' as const), pick: fc.nat() }),
);

describe('RegionAllocator', () => {
  const TOTAL = 1 << 20;
  const RESERVED = 65536;

  it('property: no overlap, alignment, bounds, exact accounting, clean exhaustion, reuse after free', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 120 }), (cmds) => {
        const a = new RegionAllocator(TOTAL, RESERVED);
        const live: Region[] = [];
        for (const c of cmds) {
          if (c.op === 'alloc') {
            const align = 2 ** c.alignLog;
            const before = a.stats();
            try {
              const r = a.alloc({ name: 'r', owner: 'o', kind: 'device-state', sizeBytes: c.size, alignBytes: align });
              expect(r.base % align).toBe(0);
              expect(r.sizeBytes % PAGE_BYTES).toBe(0);
              expect(r.sizeBytes).toBeGreaterThanOrEqual(c.size);
              expect(r.sizeBytes).toBeLessThan(c.size + PAGE_BYTES);
              expect(r.base).toBeGreaterThanOrEqual(RESERVED);
              expect(r.base + r.sizeBytes).toBeLessThanOrEqual(TOTAL);
              live.push(r);
            } catch (e) {
              // Exhaustion is the only acceptable failure, it names the sizes, and changes nothing.
              expect(isQingtianError(e, 'QT_OUT_OF_MEMORY')).toBe(true);
              expect((e as Error).message).toMatch(/of \d+ bytes aligned to \d+ .* largest free block is \d+ bytes/);
              expect(a.stats().freeBytes).toBe(before.freeBytes);
              expect(a.stats().regionCount).toBe(before.regionCount);
            }
          } else if (live.length > 0) {
            const [r] = live.splice(c.pick % live.length, 1);
            a.free(r!.id, 'o');
          }
          const sorted = [...live].sort((x, y) => x.base - y.base);
          for (let i = 1; i < sorted.length; i++)
            expect(sorted[i - 1]!.base + sorted[i - 1]!.sizeBytes).toBeLessThanOrEqual(sorted[i]!.base);
          const s = a.stats();
          expect(s.usedBytes).toBe(live.reduce((n, r) => n + r.sizeBytes, 0));
          expect(s.usedBytes + s.freeBytes + s.reservedBytes).toBe(TOTAL);
        }
        for (const r of live) a.free(r.id, 'o');
        // Everything coalesced back: the whole space is one block again.
        const s = a.stats();
        expect(s.freeBlocks).toBe(1);
        expect(s.largestFreeBytes).toBe(TOTAL - RESERVED);
        expect(a.alloc({ name: 'all', owner: 'o', kind: 'guest-ram', sizeBytes: TOTAL - RESERVED }).base).toBe(
          RESERVED,
        );
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('exhaustion, double free, foreign free and unknown ids are errors with stable codes', () => {
    const a = new RegionAllocator(TOTAL, RESERVED);
    const r = a.alloc({ name: 'ram', owner: 'vm1', kind: 'guest-ram', sizeBytes: 512 * 1024 });
    const e = expectCode(
      () => a.alloc({ name: 'big', owner: 'vm2', kind: 'guest-ram', sizeBytes: 512 * 1024 }),
      'QT_OUT_OF_MEMORY',
    );
    expect(e.message).toContain(`of ${512 * 1024} bytes`);
    expect(e.message).toContain(`largest free block is ${TOTAL - RESERVED - 512 * 1024} bytes`);
    expect(expectCode(() => a.free(r.id, 'vm2'), 'QT_NOT_OWNER').message).toContain("belongs to 'vm1', not 'vm2'");
    a.free(r.id, 'vm1');
    expect(expectCode(() => a.free(r.id, 'vm1'), 'QT_DOUBLE_FREE').message).toContain(
      `region #${r.id} was already freed`,
    );
    expectCode(() => a.free(999, 'vm1'), 'QT_UNKNOWN_REGION');
    expect(a.stats()).toMatchObject({ allocs: 1, frees: 1, failures: 1, regionCount: 0 });
  });

  it('rejects bad requests naming the field and range', () => {
    const a = new RegionAllocator(TOTAL, RESERVED);
    expect(
      expectCode(() => a.alloc({ name: 'x', owner: 'o', kind: 'guest-ram', sizeBytes: 0 }), 'QT_INVALID_ARGUMENT')
        .message,
    ).toBe(`alloc.sizeBytes: expected an integer in [1, ${TOTAL}], got 0`);
    expect(
      expectCode(
        () => a.alloc({ name: 'x', owner: 'o', kind: 'guest-ram', sizeBytes: 4096, alignBytes: 3000 }),
        'QT_INVALID_ARGUMENT',
      ).message,
    ).toMatch(/alignBytes: expected a power of two/);
    expect(
      expectCode(
        () => a.alloc({ name: 'x', owner: 'o', kind: 'nonsense' as 'guest-ram', sizeBytes: 4096 }),
        'QT_INVALID_ARGUMENT',
      ).message,
    ).toMatch(/^alloc\.kind: expected one of 'reserved', 'guest-ram'/);
    expect(a.stats().regionCount).toBe(0);
  });

  it('reports statistics by kind and owner', () => {
    const a = new RegionAllocator(TOTAL, RESERVED);
    a.alloc({ name: 'ram', owner: 'vm1', kind: 'guest-ram', sizeBytes: 8192 });
    a.alloc({ name: 'st', owner: 'vm1', kind: 'device-state', sizeBytes: 100 });
    a.alloc({ name: 'st2', owner: 'dpu', kind: 'device-state', sizeBytes: 100 });
    const s = a.stats();
    expect(s.byKind).toEqual({ 'guest-ram': { count: 1, bytes: 8192 }, 'device-state': { count: 2, bytes: 8192 } });
    expect(s.byOwner).toEqual({ vm1: { count: 2, bytes: 12288 }, dpu: { count: 1, bytes: 4096 } });
  });
});
