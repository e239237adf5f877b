import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FC_E_RANGE, FC_E_STATE } from '../../../src/generated/flow.js';
import { FLOW_KEY_BYTES, FlowTable, isQingtianError } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { Prng } from '../../../src/common/prng.js';

const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 128 << 20 }));

/** A key from an integer: distinct integers give distinct keys (word 0 and word 7 carry it). */
function key(i: number): Uint8Array {
  const k = new Uint8Array(FLOW_KEY_BYTES);
  const v = new DataView(k.buffer);
  v.setUint32(0, i, true);
  v.setUint32(28, Math.imul(i, 0x9e3779b1) >>> 0, true);
  k[36] = 6;
  return k;
}

function keys(ids: number[]): Uint8Array {
  const out = new Uint8Array(ids.length * FLOW_KEY_BYTES);
  ids.forEach((id, i) => out.set(key(id), i * FLOW_KEY_BYTES));
  return out;
}

describe('FlowTable', () => {
  it('inserts, updates, looks up and deletes', () => {
    const t = new FlowTable({ runtime, capacity: 64, clock: () => 0 });
    try {
      expect(t.insert(key(1), 10)).toBe('inserted');
      expect(t.insert(key(2), 20)).toBe('inserted');
      expect(t.insert(key(1), 11)).toBe('updated');
      expect(t.lookup(key(1))).toBe(11);
      expect(Array.from(t.lookupBurst(keys([2, 3, 1])))).toEqual([20, -1, 11]);
      expect(t.delete(key(2))).toBe(true);
      expect(t.delete(key(2))).toBe(false);
      expect(t.lookup(key(2))).toBe(-1);
      expect(t.size).toBe(1);
    } finally {
      t.dispose();
    }
  });

  it('rejects bad keys and values with the accepted range', () => {
    const t = new FlowTable({ runtime, capacity: 64 });
    try {
      const e = (f: () => void): QingtianErrorLike => {
        try {
          f();
        } catch (x) {
          return x as QingtianErrorLike;
        }
        throw new Error('no error');
      };
      expect(e(() => t.insert(new Uint8Array(40), 1)).message).toMatch(/1 key\(s\) of 48 bytes/);
      expect(e(() => t.insert(key(1), -1)).message).toMatch(/value: expected an integer in \[0, 2147483647\]/);
      expect(
        isQingtianError(
          e(() => new FlowTable({ runtime, capacity: 4 })),
          'QT_INVALID_ARGUMENT',
        ),
      ).toBe(true);
    } finally {
      t.dispose();
    }
  });

  it('model: random inserts, updates, deletes and burst lookups agree with a Map', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('ins', 'del', 'get'),
            fc.integer({ min: 0, max: 2000 }),
            fc.integer({ min: 0, max: 1e9 }),
          ),
          { maxLength: 300 },
        ),
        (ops) => {
          // A table per run: a run that failed half-way (as fast-check shrinks) leaves no entries behind.
          const t = new FlowTable({ runtime, capacity: 4096, clock: () => 1 });
          try {
            const model = new Map<number, number>();
            for (const [op, id, v] of ops) {
              if (op === 'ins') {
                expect(t.insert(key(id), v)).toBe(model.has(id) ? 'updated' : 'inserted');
                model.set(id, v);
              } else if (op === 'del') {
                expect(t.delete(key(id))).toBe(model.delete(id));
              } else {
                const probe = [id, id + 1, id + 2, id + 3];
                expect(Array.from(t.lookupBurst(keys(probe)))).toEqual(probe.map((p) => model.get(p) ?? -1));
              }
            }
            expect(t.size).toBe(model.size);
            const all = [...model.keys()];
            expect(Array.from(t.lookupBurst(keys(all)))).toEqual(all.map((k) => model.get(k)));
            for (const id of all) t.delete(key(id));
            expect(t.size).toBe(0);
          } finally {
            t.dispose();
          }
        },
      ),
      { seed: 0xf10, numRuns: 60 },
    );
  });

  it('under churn, flows hit recently survive a stream of one-shot flows through a full table', () => {
    let now = 0;
    const t = new FlowTable({ runtime, capacity: 1024, clock: () => now });
    try {
      const hot = Array.from({ length: 256 }, (_, i) => i);
      for (const id of hot) t.insert(key(id), id);
      const hotKeys = keys(hot);
      const rng = new Prng(7);
      let hotMisses = 0;
      for (let round = 0; round < 400; round++) {
        now++;
        const got = t.lookupBurst(hotKeys);
        got.forEach((v, i) => {
          if (v !== i) hotMisses++;
        });
        for (let j = 0; j < 32; j++) t.insert(key(1_000_000 + rng.below(1 << 30)), 1);
      }
      expect(t.size).toBeLessThanOrEqual(1024);
      expect(t.evictions).toBeGreaterThan(10_000);
      expect(hotMisses).toBe(0);
    } finally {
      t.dispose();
    }
  });

  it('a table filled past capacity keeps at most capacity flows, each with its right value', () => {
    const t = new FlowTable({ runtime, capacity: 500, clock: () => 5 });
    try {
      const ids = Array.from({ length: 2000 }, (_, i) => i * 7 + 3);
      const res = t.insertBurst(keys(ids), ids);
      expect(res.inserted + res.evicted).toBe(2000);
      expect(t.size).toBe(500);
      const got = t.lookupBurst(keys(ids));
      let present = 0;
      got.forEach((v, i) => {
        if (v !== -1) {
          present++;
          expect(v).toBe(ids[i]);
        }
      });
      expect(present).toBe(500);
    } finally {
      t.dispose();
    }
  });

  it('ages out flows idle longer than the limit, and only those', () => {
    let now = 100;
    const t = new FlowTable({ runtime, capacity: 256, clock: () => now });
    try {
      t.insertBurst(keys([1, 2, 3, 4]), [1, 2, 3, 4]);
      now = 150;
      t.lookupBurst(keys([2, 4]));
      now = 180;
      expect(t.age(50)).toBe(2);
      expect(Array.from(t.lookupBurst(keys([1, 2, 3, 4])))).toEqual([-1, 2, -1, 4]);
      now = (2 ** 32 - 10) >>> 0; // the tick counter wraps: ages are u32 differences
      t.insert(key(9), 9);
      now = 20;
      expect(t.age(100)).toBe(2); // 2 and 4 (idle ~2^32) go; 9 (idle 30 across the wrap) stays
      expect(t.lookup(key(9))).toBe(9);
    } finally {
      t.dispose();
    }
  });

  it('a key sharing bucket and tag with a resident one is told apart by the full key compare', () => {
    const t = new FlowTable({ runtime, capacity: 64, seed: 1, clock: () => 1 });
    try {
      // A birthday search for two keys with the same primary bucket and tag (9 × 65535 pairs).
      const seen = new Map<string, number>();
      let pair: [number, number] | undefined;
      for (let id = 0; id < 1 << 16 && !pair; id++) {
        const p = t.placement(key(id));
        const where = `${p.buckets[0]}:${p.tag}`;
        const other = seen.get(where);
        if (other !== undefined) pair = [other, id];
        else seen.set(where, id);
      }
      expect(pair).toBeDefined();
      const [a, b] = pair!;
      t.insert(key(a), 1);
      expect(Array.from(t.lookupBurst(keys([b, a, b])))).toEqual([-1, 1, -1]);
      t.insert(key(b), 2);
      const pa = t.placement(key(a));
      const pb = t.placement(key(b));
      expect(pa.tag).toBe(pb.tag);
      expect(Math.floor(pa.slot! / 8)).toBe(Math.floor(pb.slot! / 8));
      // One of the two is found past the other's matching tag.
      expect(Array.from(t.lookupBurst(keys([a, b, a, b])))).toEqual([1, 2, 1, 2]);
      expect(t.delete(key(a))).toBe(true);
      expect(Array.from(t.lookupBurst(keys([a, b])))).toEqual([-1, 2]);
      t.verify();
    } finally {
      t.dispose();
    }
  });

  it('fills to capacity without evicting; cuckoo moves keep every flow findable in one of its buckets', () => {
    for (const capacity of [8, 100, 4096]) {
      const t = new FlowTable({ runtime, capacity, seed: capacity, clock: () => 1 });
      try {
        const ids = Array.from({ length: capacity }, (_, i) => i * 3 + 1);
        expect(t.insertBurst(keys(ids), ids)).toEqual({ inserted: capacity, updated: 0, evicted: 0 });
        expect(Array.from(t.lookupBurst(keys(ids)))).toEqual(ids);
        for (const id of ids.slice(0, 300)) {
          const p = t.placement(key(id));
          expect(p.buckets).toContain(Math.floor(p.slot! / 8));
        }
        t.verify();
        if (capacity === 4096) expect(t.cuckooMoves).toBeGreaterThan(20);
      } finally {
        t.dispose();
      }
    }
  });

  it('at capacity, a flow whose two buckets are full evicts the candidate hit least recently', () => {
    let now = 0;
    const t = new FlowTable({ runtime, capacity: 64, seed: 3, clock: () => now });
    try {
      const ids = Array.from({ length: 64 }, (_, i) => i);
      for (const id of ids) {
        now = id + 1;
        t.insert(key(id), id);
      }
      now = 100;
      t.lookupBurst(keys(ids.filter((id) => id % 2 === 0)));
      const stamp = (id: number): number => (id % 2 === 0 ? 100 : id + 1);
      const bucketOf = new Map(ids.map((id) => [id, Math.floor(t.placement(key(id)).slot! / 8)]));
      const residents = (b: number): number[] => ids.filter((id) => bucketOf.get(id) === b);
      // A newcomer whose buckets are both full, with a unique oldest flow among its candidates.
      let newcomer = -1;
      let oldest = -1;
      for (let k = 1000; k < 200_000 && newcomer < 0; k++) {
        const [b1, b2] = t.placement(key(k)).buckets;
        if (residents(b1).length < 8 || residents(b2).length < 8) continue;
        const candidates = b1 === b2 ? residents(b1) : [...residents(b1), ...residents(b2)];
        const min = Math.min(...candidates.map(stamp));
        if (min === 100) continue;
        newcomer = k;
        oldest = candidates.find((id) => stamp(id) === min)!;
      }
      expect(newcomer).toBeGreaterThan(0);
      now = 200;
      expect(t.insert(key(newcomer), 7)).toBe('evicted');
      expect(t.size).toBe(64);
      expect(t.evictions).toBe(1);
      const got = t.lookupBurst(keys(ids));
      expect(ids.filter((id) => got[id] !== id)).toEqual([oldest]);
      expect(t.lookup(key(newcomer))).toBe(7);
      t.verify();
    } finally {
      t.dispose();
    }
  });

  it('ages a slice of buckets per call, and a whole lap takes every idle flow once', () => {
    let now = 0;
    const t = new FlowTable({ runtime, capacity: 512, clock: () => now });
    try {
      const ids = Array.from({ length: 300 }, (_, i) => i * 5);
      t.insertBurst(keys(ids), ids);
      now = 1000;
      const removed = Array.from({ length: t.bucketCount }, () => t.age(10, 1));
      expect(Math.max(...removed)).toBeLessThanOrEqual(8);
      expect(removed.reduce((x, y) => x + y, 0)).toBe(300);
      expect(t.size).toBe(0);
      expect(t.age(10)).toBe(0);
      t.verify();
    } finally {
      t.dispose();
    }
  });

  it('churn at capacity (inserts, updates, deletes, evictions) keeps every answer right and the layout whole', () => {
    let now = 0;
    const t = new FlowTable({ runtime, capacity: 256, seed: 5, clock: () => now });
    try {
      const rng = new Prng(11);
      const live = new Map<number, number>();
      for (let step = 0; step < 20_000; step++) {
        now++;
        const id = rng.below(3000);
        if (rng.below(10) < 8) {
          t.insert(key(id), step);
          live.set(id, step);
        } else {
          const present = t.lookup(key(id)) !== -1;
          expect(t.delete(key(id))).toBe(present);
          live.delete(id);
        }
      }
      const all = Array.from({ length: 3000 }, (_, i) => i);
      const got = t.lookupBurst(keys(all));
      let hits = 0;
      got.forEach((v, id) => {
        if (v === -1) return;
        hits++;
        expect(v).toBe(live.get(id));
      });
      expect(hits).toBe(t.size);
      expect(t.size).toBeLessThanOrEqual(256);
      expect(t.evictions).toBeGreaterThan(1000);
      t.verify();
    } finally {
      t.dispose();
    }
  });

  it("flow_fc_read_entries (the bench's memory floor) reads the entry of each listed slot, and only inside the table", () => {
    const t = new FlowTable({ runtime, capacity: 256, clock: () => 0 });
    const mem = runtime.memory;
    const scratch = mem.alloc({ name: 'test:slots', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      const ids = [3, 77, 1000, 123456];
      for (const id of ids) t.insert(key(id), id);
      const read = t.kernel.fn<(st: number, slots: number, n: number) => number>('flow_fc_read_entries');
      ids.forEach((id, i) => mem.view.setUint32(scratch.base + i * 4, t.placement(key(id)).slot!, true));
      // An entry starts with its key, whose first word is the id.
      expect(read(t.state.base, scratch.base, ids.length)).toBe(ids.reduce((a, b) => a + b, 0));
      // A slot past the table reads the last slot (zero when it is empty).
      const last = t.bucketCount * 8 - 1;
      mem.view.setUint32(scratch.base, 0xffffffff, true);
      expect(read(t.state.base, scratch.base, 1)).toBe(ids.find((id) => t.placement(key(id)).slot === last) ?? 0);
      expect(read(t.state.base, scratch.base, -1)).toBe(FC_E_RANGE);
      expect(read(scratch.base, scratch.base, 1)).toBe(FC_E_STATE);
    } finally {
      t.dispose();
      mem.free(scratch, 'test');
    }
  });
});

interface QingtianErrorLike {
  message: string;
  code?: string;
}
