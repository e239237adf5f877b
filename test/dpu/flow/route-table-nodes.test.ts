import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isQingtianError, RouteTable } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { LPM_MAX_NEXT_HOP, LPM_NODE_MIN_UNITS } from '../../../src/generated/flow.js';
import { Prng } from '../../../src/common/prng.js';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { lrCopiesEqual } from '../../helpers/left-right-copies.js';
import { RefTrie } from '../../helpers/ref-trie.js';

/**
 * The IPv4 lookup structure (lpm4-nodes.ts): a direct table per /16 and a node per /16 whose
 * routes are not uniform, rebuilt by every update. Lookups must agree with a reference trie
 * through node creation, growth, width changes and release, and the node heap must neither leak
 * nor refuse what fits.
 */
const mem = new HostMemory({ sizeBytes: 512 << 20 });
const runtime = new LoaderRuntime(mem);
/** Heap bytes of an empty table: the dummy node. */
const DUMMY_BYTES = 40;

function withTable(
  options: { maxGroups?: number; maxNodeBytes?: number },
  body: (t: RouteTable, ref: RefTrie) => void,
): void {
  const t = new RouteTable({
    runtime,
    maxGroups: options.maxGroups ?? 64,
    ...(options.maxNodeBytes !== undefined ? { maxNodeBytes: options.maxNodeBytes } : {}),
  });
  try {
    body(t, new RefTrie(32));
  } finally {
    t.dispose();
  }
}

function prefix(text: string): { addr: number; length: number } {
  const [a, l] = text.split('/');
  return { addr: parseIPv4(a!), length: Number(l) };
}

function add(t: RouteTable, ref: RefTrie, text: string, nh: number): void {
  t.insert(text, nh);
  const p = prefix(text);
  ref.insert(BigInt(p.addr), p.length, nh);
}

function del(t: RouteTable, ref: RefTrie, text: string): void {
  t.delete(text);
  const p = prefix(text);
  ref.delete(BigInt(p.addr), p.length);
}

/** Every address in `addrs` (odd burst sizes too: the SIMD stages and the scalar tail) agrees. */
function agree(t: RouteTable, ref: RefTrie, addrs: number[]): void {
  const got = t.lookupBurst(new Uint32Array(addrs));
  addrs.forEach((a, i) => expect(got[i], `addr ${(a >>> 0).toString(16)}`).toBe(ref.lookup(BigInt(a >>> 0))));
}

/** Addresses around the edges of the /16s of `texts` and inside them. */
function probesAround(texts: string[]): number[] {
  const out: number[] = [];
  for (const t of texts) {
    const { addr, length } = prefix(t);
    const size = length === 0 ? 2 ** 32 : 2 ** (32 - length);
    for (const a of [
      addr - 1,
      addr,
      addr + 1,
      addr + size / 2,
      addr + size - 1,
      addr + size,
      (addr & 0xffff0000) - 1,
      addr | 0xffff,
      (addr | 0xffff) + 1,
    ])
      out.push(a >>> 0);
  }
  return out;
}

/** The two Left-Right copies hold the same bytes (the second copy's nodes are copied, not rebuilt). */
function copiesEqual(t: RouteTable): void {
  expect(lrCopiesEqual(mem.memory, t.state.base), 'the two copies differ').toBe(true);
}

describe('RouteTable IPv4 lookup nodes', () => {
  it('refuses a node heap outside the kernel bounds, naming them', () => {
    const e = (() => {
      try {
        new RouteTable({ runtime, maxNodeBytes: 1000 });
      } catch (x) {
        return x;
      }
      return undefined;
    })();
    expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect((e as Error).message).toMatch(/maxNodeBytes: expected a multiple of 8 in \[1104, 69730344\]/);
  });

  it('rebuilds nodes on adds and deletes at /16 boundaries', () => {
    withTable({}, (t, ref) => {
      expect(t.nodeBytesUsed).toBe(DUMMY_BYTES);
      const routes = [
        '10.1.255.0/24',
        '10.2.0.0/24',
        '10.1.0.0/16',
        '10.1.128.0/17',
        '10.2.0.0/15',
        '10.3.255.128/25',
        '10.1.0.0/24',
      ];
      const probes = probesAround(routes);
      routes.forEach((r, i) => {
        add(t, ref, r, 100 + i);
        agree(t, ref, probes);
      });
      expect(t.nodeBytesUsed).toBeGreaterThan(DUMMY_BYTES);
      for (const r of [...routes].reverse()) {
        del(t, ref, r);
        agree(t, ref, probes);
      }
      expect(t.nodeBytesUsed).toBe(DUMMY_BYTES);
      copiesEqual(t);
    });
  });

  it('a /8 over many /16s: leaves change value, nodes keep their more specific routes', () => {
    withTable({}, (t, ref) => {
      const specifics = ['10.0.1.0/24', '10.77.0.0/17', '10.200.3.0/24', '10.255.255.0/24'];
      specifics.forEach((r, i) => add(t, ref, r, 10 + i));
      const probes = [...probesAround([...specifics, '10.0.0.0/8']), 0x0a123456, 0x0a4d8001, 0x0ac80301];
      add(t, ref, '10.0.0.0/8', 1);
      agree(t, ref, probes);
      add(t, ref, '10.0.0.0/8', 2); // next hop change: every leaf under it
      agree(t, ref, probes);
      add(t, ref, '10.128.0.0/9', 3);
      agree(t, ref, probes);
      del(t, ref, '10.0.0.0/8');
      agree(t, ref, probes);
      del(t, ref, '10.128.0.0/9');
      agree(t, ref, probes);
      for (const r of specifics) del(t, ref, r);
      agree(t, ref, probes);
      expect(t.nodeBytesUsed).toBe(DUMMY_BYTES);
      copiesEqual(t);
    });
  });

  it('a delete that makes a /16 uniform again frees its node', () => {
    withTable({}, (t, ref) => {
      add(t, ref, '192.168.0.0/16', 5);
      expect(t.nodeBytesUsed).toBe(DUMMY_BYTES); // one route over the whole /16: a leaf
      add(t, ref, '192.168.7.0/24', 6);
      const withNode = t.nodeBytesUsed;
      expect(withNode).toBeGreaterThan(DUMMY_BYTES);
      add(t, ref, '192.168.7.0/24', 5); // same next hop as the /16: uniform again
      expect(t.nodeBytesUsed).toBe(DUMMY_BYTES);
      add(t, ref, '192.168.7.200/32', 7); // extended entry: a node even though ...
      expect(t.nodeBytesUsed).toBeGreaterThan(DUMMY_BYTES);
      del(t, ref, '192.168.7.200/32');
      expect(t.nodeBytesUsed).toBe(DUMMY_BYTES);
      agree(t, ref, probesAround(['192.168.0.0/16', '192.168.7.0/24', '192.168.7.200/32']));
      copiesEqual(t);
    });
  });

  it('wide nodes: next hops that do not fit 15 bits, mixed with narrow ones', () => {
    withTable({}, (t, ref) => {
      add(t, ref, '172.16.0.0/16', 32766); // the largest narrow next hop
      add(t, ref, '172.16.1.0/24', 32767); // the smallest wide one
      add(t, ref, '172.16.2.0/24', 4194303);
      add(t, ref, '172.16.3.128/25', 4194302);
      add(t, ref, '172.17.9.0/24', 7);
      const probes = probesAround([
        '172.16.0.0/16',
        '172.16.1.0/24',
        '172.16.2.0/24',
        '172.16.3.128/25',
        '172.17.9.0/24',
      ]);
      agree(t, ref, probes);
      del(t, ref, '172.16.1.0/24');
      del(t, ref, '172.16.2.0/24');
      agree(t, ref, probes); // back to narrow (the /25's group stays)
      copiesEqual(t);
    });
  });

  it('a full node heap refuses the change that does not fit and leaves the table unchanged', () => {
    // 1104 B: the dummy (40 B) and 22 nodes of three runs (48 B each).
    withTable({ maxNodeBytes: LPM_NODE_MIN_UNITS * 8 }, (t, ref) => {
      const fits: string[] = [];
      for (let i = 0; i < 22; i++) fits.push(`20.${i}.5.0/24`);
      fits.forEach((r, i) => add(t, ref, r, i));
      const probes = probesAround([...fits, '20.99.5.0/24']);
      agree(t, ref, probes);
      const before = t.nodeBytesUsed;
      let err: unknown;
      try {
        t.insert('20.99.5.0/24', 9);
      } catch (e) {
        err = e;
      }
      expect(isQingtianError(err, 'QT_CAPACITY_EXCEEDED')).toBe(true);
      expect((err as { details: Record<string, unknown> }).details).toMatchObject({ applied: 0, resource: 'nodes' });
      expect((err as Error).message).toMatch(/maxNodeBytes \(1104 bytes per copy\)/);
      expect(t.size).toBe(22);
      expect(t.nodeBytesUsed).toBe(before);
      agree(t, ref, probes);
      copiesEqual(t);
      // A batch: the ops before the first that overflows stay (a delete frees a node first).
      err = undefined;
      try {
        t.update({
          delete: ['20.0.5.0/24'],
          insert: [
            ['20.99.5.0/24', 9],
            ['20.98.5.0/24', 8],
          ],
        });
      } catch (e) {
        err = e;
      }
      expect((err as { details: Record<string, unknown> }).details).toMatchObject({ applied: 2, resource: 'nodes' });
      ref.delete(BigInt(parseIPv4('20.0.5.0')), 24);
      ref.insert(BigInt(parseIPv4('20.99.5.0')), 24, 9);
      expect(t.size).toBe(22);
      agree(t, ref, [...probes, ...probesAround(['20.98.5.0/24'])]);
      copiesEqual(t);
      // Routes inside existing nodes still fit when their node keeps its size class.
      add(t, ref, '20.1.5.0/24', 77);
      agree(t, ref, probes);
    });
  });

  it('long churn keeps the heap at the size of its live nodes (free lists, compaction)', () => {
    const rng = new Prng(0xc4a7);
    const byPrefix = new Map<string, number>();
    while (byPrefix.size < 1200) {
      const len = 17 + rng.below(14);
      const a = (0x2c000000 | (rng.u32() & 0x003fffff)) >>> 0;
      const addr = (a & ((0xffffffff << (32 - len)) >>> 0)) >>> 0;
      byPrefix.set(
        `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}/${len}`,
        rng.below(50_000),
      );
    }
    const pool = [...byPrefix].map(([text, nh]) => ({ text, nh }));
    const liveBytes = (set: typeof pool): number => {
      let bytes = 0;
      withTable({ maxGroups: 1024 }, (t) => {
        t.update({ insert: set.map((r) => [r.text, r.nh] as const) });
        bytes = t.nodeBytesUsed;
      });
      return bytes;
    };
    const live = pool.slice(0, 600);
    const idle = pool.slice(600);
    // A heap half again as large as the live nodes: churn that moves nodes between sizes fills it
    // with free blocks of sizes nobody asks for any more, and must never overflow it.
    withTable({ maxGroups: 1024, maxNodeBytes: Math.ceil((liveBytes(live) * 3) / 2 / 8) * 8 }, (t, ref) => {
      for (const r of live) add(t, ref, r.text, r.nh);
      const probes = probesAround(pool.slice(0, 60).map((r) => r.text));
      for (let k = 0; k < 6000; k++) {
        const out = rng.below(live.length);
        const into = rng.below(idle.length);
        const [gone, come] = [live[out]!, idle[into]!];
        del(t, ref, gone.text);
        add(t, ref, come.text, come.nh);
        [live[out], idle[into]] = [come, gone];
        if (k % 500 === 0) agree(t, ref, probes);
      }
      agree(t, ref, probes);
      expect(t.nodeBytesUsed).toBe(liveBytes(live));
      expect(t.kernel.fn<(s: number) => number>('flow_lpm_compactions')(t.state.base)).toBeGreaterThan(0);
      copiesEqual(t);
    });
  });

  it('model: random changes around /16 edges with wide and narrow next hops agree with a reference trie', () => {
    withTable({ maxGroups: 512 }, (t) => {
      const prefixArb = fc
        .record({
          base: fc.constantFrom(0x0a01ff00, 0x0a020000, 0xc0a80000, 0x7f000000),
          noise: fc.integer({ min: 0, max: 0xffffffff }),
          spread: fc.integer({ min: 12, max: 32 }),
          length: fc.oneof(
            { arbitrary: fc.integer({ min: 14, max: 32 }), weight: 9 },
            { arbitrary: fc.constantFrom(8, 10, 12), weight: 1 },
          ),
        })
        .map(({ base, noise, spread, length }) => {
          const a = (base ^ (noise >>> spread)) >>> 0;
          return { addr: length === 0 ? 0 : (a & ((0xffffffff << (32 - length)) >>> 0)) >>> 0, length };
        });
      const nhArb = fc.oneof(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 32760, max: 32770 }),
        fc.constant(LPM_MAX_NEXT_HOP),
      );
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.boolean(), prefixArb, nhArb), { minLength: 1, maxLength: 40 }),
          fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 3, maxLength: 13 }),
          (ops, extra) => {
            const ref = new RefTrie(32);
            t.update({
              delete: [...t['rib'].keys()].map((k) => ({
                addr: parseInt(k.split('/')[1]!, 16),
                length: Number(k.split('/')[0]),
              })),
            });
            const added: { addr: number; length: number }[] = [];
            for (const [isAdd, p, nh] of ops) {
              if (isAdd || added.length === 0) {
                t.insert(p, nh);
                ref.insert(BigInt(p.addr), p.length, nh);
                added.push(p);
              } else {
                const v = added[nh % added.length]!;
                t.delete(v);
                ref.delete(BigInt(v.addr), v.length);
              }
            }
            const addrs = [
              ...extra,
              ...added.flatMap((p) => [
                p.addr,
                (p.addr - 1) >>> 0,
                (p.addr | (0xffffffff >>> p.length)) >>> 0,
                ((p.addr | (0xffffffff >>> p.length)) + 1) >>> 0,
              ]),
            ];
            const got = t.lookupBurst(new Uint32Array(addrs));
            addrs.forEach((a, i) => expect(got[i], `addr ${a.toString(16)}`).toBe(ref.lookup(BigInt(a))));
          },
        ),
        { seed: 0x16ed, numRuns: 80 },
      );
      copiesEqual(t);
    });
  });
});
