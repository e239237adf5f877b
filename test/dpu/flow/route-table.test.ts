import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isQingtianError, RouteTable } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { lrCopies, lrCopiesEqual } from '../../helpers/left-right-copies.js';
import { RefTrie } from '../../helpers/ref-trie.js';
import { LR_ACTIVE, LR_READERS0, LR_READER_STRIDE } from '../../../src/generated/flow.js';

const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 512 << 20 }));

describe('RouteTable IPv4 (DIR-24-8)', () => {
  it('finds the longest prefix, including /25+ routes in second-level groups', () => {
    const t = new RouteTable({ runtime, maxGroups: 64 });
    try {
      t.insert('10.0.0.0/8', 1);
      t.insert('10.1.0.0/16', 2);
      t.insert('10.1.2.0/24', 3);
      t.insert('10.1.2.128/25', 4);
      t.insert('10.1.2.200/32', 5);
      t.insert('0.0.0.0/0', 9);
      expect(t.lookup('10.9.9.9')).toBe(1);
      expect(t.lookup('10.1.9.9')).toBe(2);
      expect(t.lookup('10.1.2.3')).toBe(3);
      expect(t.lookup('10.1.2.129')).toBe(4);
      expect(t.lookup('10.1.2.200')).toBe(5);
      expect(t.lookup('11.0.0.1')).toBe(9);
      expect(t.groupsUsed).toBe(1);
      expect(t.delete('10.1.2.128/25')).toBe(true);
      expect(t.lookup('10.1.2.129')).toBe(3);
      expect(t.delete('10.1.2.200/32')).toBe(true);
      expect(t.groupsUsed).toBe(0); // the group folded back into its /24 entry
      expect(t.delete('10.1.2.200/32')).toBe(false);
      expect(t.delete('10.1.0.0/16')).toBe(true);
      expect(t.lookup('10.1.9.9')).toBe(1);
      expect(t.lookup('10.1.2.3')).toBe(3);
      expect(t.size).toBe(3);
    } finally {
      t.dispose();
    }
  });

  it('rejects invalid routes with the field and the accepted range', () => {
    const t = new RouteTable({ runtime, maxGroups: 4 });
    try {
      const err = (f: () => void): unknown => {
        try {
          f();
        } catch (e) {
          return e;
        }
        return undefined;
      };
      const e1 = err(() => t.insert('10.0.0.0/33', 1));
      expect(isQingtianError(e1, 'QT_INVALID_ARGUMENT')).toBe(true);
      expect((e1 as Error).message).toMatch(/prefix length in \[0, 32\]/);
      const e2 = err(() => t.insert({ addr: 1, length: 40 }, 1));
      expect((e2 as Error).message).toMatch(/insert\[0\]\.length: expected an integer in \[0, 32\]/);
      const e3 = err(() => t.insert('10.0.0.0/8', 1 << 22));
      expect((e3 as Error).message).toMatch(/nextHop: expected an integer in \[0, 4194303\]/);
      expect(t.size).toBe(0);
    } finally {
      t.dispose();
    }
  });

  it('reports group exhaustion and keeps the table consistent', () => {
    const t = new RouteTable({ runtime, maxGroups: 2 });
    try {
      t.insert('1.0.0.0/25', 1);
      t.insert('2.0.0.0/25', 2);
      let err: unknown;
      try {
        t.insert('3.0.0.0/25', 3);
      } catch (e) {
        err = e;
      }
      expect(isQingtianError(err, 'QT_CAPACITY_EXCEEDED')).toBe(true);
      expect(t.size).toBe(2);
      expect(t.lookup('3.0.0.1')).toBe(-1);
      expect(t.lookup('2.0.0.1')).toBe(2);
      t.delete('1.0.0.0/25');
      t.insert('3.0.0.0/25', 3);
      expect(t.lookup('3.0.0.1')).toBe(3);
    } finally {
      t.dispose();
    }
  });

  it('a lookup that never leaves its copy costs the writer: the swapped-in batch stays, the next update times out having changed nothing, then all resumes level', () => {
    const t = new RouteTable({ runtime, maxGroups: 8 });
    const mem = runtime.memory;
    const st = t.state.base;
    // Left-Right control words (assembly/flow/left-right.ts): the active copy, the reader counts.
    const active = (): number => Atomics.load(mem.i32, (st + LR_ACTIVE) / 4) & 1;
    const readers = (c: number): number => (st + LR_READERS0 + c * LR_READER_STRIDE) / 4;
    const copy = (c: number): Uint8Array => lrCopies(mem.memory, st)[c]!.slice();
    try {
      t.insert('10.0.0.0/8', 1);
      const pinned = active();
      Atomics.add(mem.i32, readers(pinned), 1); // a reader that died inside a burst, say
      // Applied to the idle copy and swapped in; the pinned copy is left as it was.
      const before = copy(pinned);
      t.insert('10.1.0.0/16', 2);
      expect(active()).toBe(pinned ^ 1);
      expect(t.lookup('10.1.2.3')).toBe(2);
      expect(t.size).toBe(2);
      expect(Buffer.compare(copy(pinned), before)).toBe(0);
      // The next update must first bring the pinned copy level, and cannot while the reader stays.
      let err: unknown;
      try {
        t.update({ insert: [['10.2.0.0/16', 3]], delete: ['10.1.0.0/16'] });
      } catch (e) {
        err = e;
      }
      expect(isQingtianError(err, 'QT_TIMEOUT')).toBe(true);
      expect((err as Error).message).toMatch(/a reader kept a table copy pinned; 0 of 2 changes applied/);
      expect(t.size).toBe(2);
      expect([t.lookup('10.1.2.3'), t.lookup('10.2.2.3')]).toEqual([2, 1]);
      Atomics.sub(mem.i32, readers(pinned), 1);
      t.update({ insert: [['10.2.0.0/16', 3]], delete: ['10.1.0.0/16'] });
      expect([t.lookup('10.1.2.3'), t.lookup('10.2.2.3'), t.size]).toEqual([1, 3, 2]);
      expect(lrCopiesEqual(mem.memory, st), 'the copies are level again').toBe(true);
    } finally {
      t.dispose();
    }
  });

  it('model: random inserts and deletes interleaved with lookups agree with a reference trie', () => {
    const t = new RouteTable({ runtime, maxGroups: 512 });
    try {
      // Prefixes cluster under a few bases so that they nest and overlap.
      const prefix = fc
        .record({
          base: fc.constantFrom(0x0a000000, 0x0a010200, 0xc0a80000, 0x08080800),
          noise: fc.integer({ min: 0, max: 0xffffffff }),
          spread: fc.integer({ min: 0, max: 32 }),
          // Short prefixes rewrite up to 2^24 entries twice: keep them rare so the test stays quick.
          length: fc.oneof(
            { arbitrary: fc.integer({ min: 14, max: 32 }), weight: 9 },
            { arbitrary: fc.constantFrom(0, 4, 8, 12), weight: 1 },
          ),
        })
        .map(({ base, noise, spread, length }) => ({ addr: (base ^ (noise >>> spread)) >>> 0, length }));
      const op = fc.oneof(
        fc.record({ kind: fc.constant('add' as const), p: prefix, nh: fc.integer({ min: 0, max: 1000 }) }),
        fc.record({ kind: fc.constant('del' as const), p: prefix, nh: fc.constant(0) }),
      );
      fc.assert(
        fc.property(
          fc.array(op, { minLength: 1, maxLength: 60 }),
          fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 8, maxLength: 8 }),
          (ops, probes) => {
            const ref = new RefTrie(32);
            t.update({
              delete: [...new Set(t['rib'].keys())].map((k) => {
                const [len, hex] = k.split('/');
                return { addr: parseInt(hex!, 16), length: Number(len) };
              }),
            });
            const added: { addr: number; length: number }[] = [];
            for (const o of ops) {
              if (o.kind === 'add') {
                t.insert(o.p, o.nh);
                ref.insert(BigInt(o.p.addr), o.p.length, o.nh);
                added.push(o.p);
              } else {
                const victim = added.length ? added[o.p.addr % added.length]! : o.p;
                t.delete(victim);
                ref.delete(BigInt(victim.addr), victim.length);
              }
              const addrs = [...probes, ...added.slice(-4).map((p) => (p.addr | (probes[0]! >>> p.length)) >>> 0)];
              const got = t.lookupBurst(new Uint32Array(addrs));
              addrs.forEach((a, i) => expect(got[i], `addr ${a}`).toBe(ref.lookup(BigInt(a))));
            }
          },
        ),
        { seed: 0x5eed, numRuns: 60 },
      );
    } finally {
      t.dispose();
    }
  });
});

describe('RouteTable IPv6', () => {
  it('finds the longest prefix across levels', () => {
    const t = new RouteTable({ runtime, family: 'ipv6', maxGroups: 256 });
    try {
      t.insert('2001:db8::/32', 1);
      t.insert('2001:db8:1::/48', 2);
      t.insert('2001:db8:1:2::/64', 3);
      t.insert('2001:db8:1:2::1/128', 4);
      t.insert('::/0', 7);
      expect(t.lookup('2001:db8:ffff::1')).toBe(1);
      expect(t.lookup('2001:db8:1:ff::1')).toBe(2);
      expect(t.lookup('2001:db8:1:2::2')).toBe(3);
      expect(t.lookup('2001:db8:1:2::1')).toBe(4);
      expect(t.lookup('fe80::1')).toBe(7);
      t.delete('2001:db8:1:2::1/128');
      t.delete('2001:db8:1:2::/64');
      expect(t.lookup('2001:db8:1:2::1')).toBe(2);
      const e = (() => {
        try {
          t.insert('2001:db8::/129', 1);
        } catch (x) {
          return x;
        }
        return undefined;
      })();
      expect((e as Error).message).toMatch(/prefix length in \[0, 128\]/);
    } finally {
      t.dispose();
    }
  });

  it('model: random IPv6 inserts and deletes agree with a reference trie', () => {
    const t = new RouteTable({ runtime, family: 'ipv6', maxGroups: 4096 });
    const bases = [0x20010db8n << 96n, 0xfe80n << 112n, (0x2a00n << 112n) | (0x1450n << 96n)];
    try {
      const prefix = fc
        .record({
          base: fc.constantFrom(...bases),
          noise: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
          spread: fc.integer({ min: 0, max: 128 }),
          length: fc.integer({ min: 0, max: 128 }),
        })
        .map(({ base, noise, spread, length }) => {
          const a = base ^ (noise >> BigInt(spread));
          const m = length === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - length)) - 1n);
          return { addr: a & m, length };
        });
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.boolean(), prefix, fc.integer({ min: 0, max: 999 })), { minLength: 1, maxLength: 30 }),
          fc.array(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), { minLength: 4, maxLength: 4 }),
          (ops, probes) => {
            const ref = new RefTrie(128);
            t.update({
              delete: [...t['rib'].keys()].map((k) => ({
                addr: BigInt('0x' + k.split('/')[1]),
                length: Number(k.split('/')[0]),
              })),
            });
            const added: { addr: bigint; length: number }[] = [];
            for (const [add, p, nh] of ops) {
              if (add || added.length === 0) {
                t.insert(p, nh);
                ref.insert(p.addr, p.length, nh);
                added.push(p);
              } else {
                const v = added[nh % added.length]!;
                t.delete(v);
                ref.delete(v.addr, v.length);
              }
            }
            const addrs = [...probes, ...added.map((p) => p.addr | (probes[0]! >> BigInt(p.length)))];
            const words = new Uint32Array(addrs.length * 4);
            addrs.forEach((a, i) => {
              for (let w = 0; w < 4; w++) words[i * 4 + w] = Number((a >> BigInt(96 - 32 * w)) & 0xffffffffn);
            });
            const got = t.lookupBurst(words);
            addrs.forEach((a, i) => expect(got[i], `addr ${a.toString(16)}`).toBe(ref.lookup(a)));
          },
        ),
        { seed: 0x6eed, numRuns: 150 },
      );
    } finally {
      t.dispose();
    }
  });
});
