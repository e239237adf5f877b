import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Classifier, isQingtianError, type NormalRule } from '../../../src/index.js';
import { HostMemory, LoaderRuntime, normalizeRule, ruleMatches } from '../../../src/internals.js';
import { lrCopiesEqual } from '../../helpers/left-right-copies.js';

const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 64 << 20 }));

/** The model: highest priority (lowest value, then lowest id) matching rule by a linear scan. */
function linear(rules: Map<number, NormalRule>, h: number[]): number {
  let best = -1;
  let bestPrio = Infinity;
  for (const [id, r] of rules) {
    if (!ruleMatches(r, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!)) continue;
    if (r.priority < bestPrio || (r.priority === bestPrio && id < best)) {
      best = id;
      bestPrio = r.priority;
    }
  }
  return best;
}

// Addresses and ports drawn from small pools so that rules overlap and headers hit them.
const addrPool = [0x0a000000, 0x0a000100, 0x0a0001f0, 0xc0a80000, 0xc0a80101, 0x01020304];
const addr = fc.tuple(fc.constantFrom(...addrPool), fc.integer({ min: 0, max: 255 })).map(([a, x]) => (a ^ x) >>> 0);
const prefix = fc.record({ addr, length: fc.constantFrom(0, 8, 16, 23, 24, 28, 30, 31, 32) });
const port = fc.constantFrom(0, 22, 53, 80, 443, 1024, 8080, 65535);
const range = fc.oneof(
  fc.constant(undefined),
  port.map((p) => [p, p] as [number, number]),
  fc.tuple(port, port).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]),
);
const rule = fc.record({
  src: fc.option(prefix, { nil: undefined }),
  dst: fc.option(prefix, { nil: undefined }),
  srcPorts: range,
  dstPorts: range,
  proto: fc.option(
    fc.oneof(
      fc.constantFrom(6, 17, 1),
      fc.record({ value: fc.constantFrom(6, 17), mask: fc.constantFrom(0xff, 0xf0, 0) }),
    ),
    { nil: undefined },
  ),
  priority: fc.integer({ min: 0, max: 50 }),
});
const header = fc.tuple(addr, addr, port, port, fc.constantFrom(6, 17, 1, 0));

describe('Classifier', () => {
  it('model: random rule sets with inserts and removes interleaved with lookups agree with a linear scan; both copies stay identical', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { arbitrary: rule.map((r) => ({ op: 'insert' as const, r })), weight: 5 },
            { arbitrary: fc.nat().map((i) => ({ op: 'remove' as const, i })), weight: 2 },
            {
              arbitrary: fc
                .array(header, { minLength: 1, maxLength: 40 })
                .map((hs) => ({ op: 'classify' as const, hs })),
              weight: 3,
            },
          ),
          { maxLength: 120 },
        ),
        fc.constantFrom(1, 2, 16),
        (ops, collisionLimit) => {
          const c = new Classifier({
            runtime,
            capacity: 256,
            collisionLimit,
            relaxStep: collisionLimit === 2 ? 4 : 16,
          });
          const model = new Map<number, NormalRule>();
          try {
            for (const o of ops) {
              if (o.op === 'insert') {
                const id = c.insert(o.r);
                model.set(id, normalizeRule(o.r, 0));
                // The second copy gets the insert replayed (same slot, same table): byte for byte the first.
                expect(lrCopiesEqual(runtime.memory.memory, c.state.base), `copies after inserting ${id}`).toBe(true);
              } else if (o.op === 'remove') {
                const ids = [...model.keys()];
                if (!ids.length) continue;
                const id = ids[o.i % ids.length]!;
                c.remove(id);
                model.delete(id);
                expect(lrCopiesEqual(runtime.memory.memory, c.state.base), `copies after removing ${id}`).toBe(true);
              } else {
                const got = c.classify(Uint32Array.from(o.hs.flat()));
                o.hs.forEach((h, i) => expect(got[i], `header ${h.join(',')}`).toBe(linear(model, h)));
              }
            }
            expect(c.size).toBe(model.size);
          } finally {
            c.dispose();
          }
        },
      ),
      { seed: 0xc1a5, numRuns: 250 },
    );
  });

  it('many rules alike in every hashed field still classify right (collision limit exceeded)', () => {
    const c = new Classifier({ runtime, capacity: 512, collisionLimit: 2 });
    try {
      const rules = Array.from({ length: 200 }, (_, i) => ({
        src: '10.0.0.0/8',
        dstPorts: [i, i + 5] as [number, number],
        proto: 6,
        priority: 200 - i,
      }));
      const ids = rules.map((r) => c.insert(r));
      const got = c.classify(
        Uint32Array.from([0x0a010203, 1, 0, 100, 6, 0x0a010203, 1, 0, 199, 6, 0x0b000000, 1, 0, 100, 6]),
      );
      // dport 100 is in rules 95..100; the lowest priority value among them is rule 100's.
      expect(Array.from(got)).toEqual([ids[100], ids[199], -1]);
    } finally {
      c.dispose();
    }
  });

  it('rejects invalid rules and unknown ids with clear errors; a full classifier says so', () => {
    const c = new Classifier({ runtime, capacity: 2 });
    try {
      const msg = (f: () => void): string => {
        try {
          f();
        } catch (e) {
          return `${(e as { code: string }).code} ${(e as Error).message}`;
        }
        return 'no error';
      };
      expect(msg(() => c.insert({ src: '10.0.0.0/33' }))).toMatch(
        /QT_INVALID_ARGUMENT rule\.src: expected a prefix length in \[0, 32\]/,
      );
      expect(msg(() => c.insert({ dstPorts: [90, 80] }))).toMatch(
        /rule\.dstPorts: expected a range with lo <= hi, got \[90,80\]/,
      );
      expect(msg(() => c.insert({ srcPorts: [0, 70000] }))).toMatch(
        /rule\.srcPorts\[1\]: expected an integer in \[0, 65535\]/,
      );
      expect(msg(() => c.insert({ proto: 300 }))).toMatch(/rule\.proto: expected an integer in \[0, 255\]/);
      expect(msg(() => c.remove(99))).toMatch(/QT_NOT_FOUND/);
      expect(msg(() => c.insertNormal({ ...normalizeRule({}, 0), srcLen: 40 }))).toMatch(
        /QT_INVALID_ARGUMENT insertNormal: expected a checked rule/,
      );
      c.insert({ proto: 6 });
      c.insert({ proto: 17 });
      expect(msg(() => c.insert({ proto: 1 }))).toMatch(/QT_CAPACITY_EXCEEDED/);
      expect(c.size).toBe(2);
      expect(isQingtianError(new Error('x'))).toBe(false);
    } finally {
      c.dispose();
    }
  });
});
