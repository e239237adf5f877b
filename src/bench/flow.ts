import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, QingtianError } from '../common/errors.js';
import { packageRoot } from '../common/package-paths.js';
import { Prng } from '../common/prng.js';
import { LoaderRuntime, type KernelRuntime } from '../dpu/kernels/kernel-runtime.js';
import { parseClassBench, parseTrace } from '../dpu/flow/classbench.js';
import { generateClassBench, generateTrace } from '../dpu/flow/classbench-gen.js';
import { Classifier } from '../dpu/flow/classifier.js';
import type { NormalRule } from '../dpu/flow/classifier-rule.js';
import { FLOW_KEY_BYTES, FlowTable } from '../dpu/flow/flow-table.js';
import { formatIPv4 } from '../dpu/flow/ip-address.js';
import { RouteTable } from '../dpu/flow/route-table.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { generateRoutes4, routeProbes } from '../dpu/flow/route-gen.js';
import { median } from './lib/stats.js';
import { JsFlowMap } from './peers/js-flow-map.js';
import { LinearClassifier } from './peers/linear-classifier.js';
import { CLS_HEADER_WORDS } from '../generated/flow.js';

/**
 * Suite "flow": the network fast path's lookups, single thread, bursts of 32, each against a
 * peer measured in the same run (medians of ctx.runs runs):
 *   flow-cache-<n>   exact-match lookups at n flows, hits and misses    peer: JS Map on string keys
 *                    entry-line-reads: an upper bound for hits on this machine (one read of each
 *                    hit's entry line, nothing else), measured on the same table
 *   classifier-<set> classification of a ClassBench trace; updates      peer: plain-JS linear scan
 *   lpm4-<n>         IPv4 longest-prefix match on a BGP-like table       peer: npm longest-prefix-match
 */
export async function run(ctx: BenchContext): Promise<void> {
  const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 1 << 30 }));
  for (const n of ctx.quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000])
    if (ctx.wants(`flow-cache-${label(n)}`)) flowCache(ctx, runtime, n);
  classifier(ctx, runtime);
  for (const n of ctx.quick ? [100_000] : [100_000, 900_000]) if (ctx.wants(`lpm4-${label(n)}`)) lpm4(ctx, runtime, n);
}

const BURST = 32;

/** Calls `pass` (which handles `items` items) until `minMs` have passed; items per second. */
function rate(items: number, pass: () => void, minMs: number): number {
  pass(); // warm-up
  let done = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    pass();
    done += items;
    t = performance.now();
  }
  return done / ((t - t0) / 1000);
}

function label(n: number): string {
  return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
}

function flowCache(ctx: BenchContext, runtime: KernelRuntime, n: number): void {
  ctx.progress(`flow cache: ${label(n)} flows`);
  const mem = runtime.memory;
  const rng = new Prng(n);
  const probes = Math.min(n, 1 << 16) * 4;
  // Region: n inserted keys | probe keys (hits) | probe keys (misses) | out | hits' slots.
  const region = mem.alloc({
    name: 'bench:flow-keys',
    owner: 'bench',
    kind: 'core-scratch',
    sizeBytes: (n + 2 * probes) * FLOW_KEY_BYTES + 4 * BURST + 4 * probes,
  });
  const table = new FlowTable({ runtime, capacity: n, clock: () => 1 });
  try {
    const words = new Uint32Array(mem.memory.buffer, region.base, ((n + 2 * probes) * FLOW_KEY_BYTES) / 4);
    for (let i = 0; i < words.length; i++) words[i] = rng.u32();
    const keyBytes = (i: number): Uint8Array =>
      mem.u8.subarray(region.base + i * FLOW_KEY_BYTES, region.base + (i + 1) * FLOW_KEY_BYTES);
    const hitBase = region.base + n * FLOW_KEY_BYTES;
    const missBase = hitBase + probes * FLOW_KEY_BYTES;
    const out = missBase + probes * FLOW_KEY_BYTES;
    for (let i = 0; i < probes; i++) {
      const k = rng.below(n);
      mem.u8.copyWithin(
        hitBase + i * FLOW_KEY_BYTES,
        region.base + k * FLOW_KEY_BYTES,
        region.base + (k + 1) * FLOW_KEY_BYTES,
      );
    }
    for (let i = 0; i < n; i++) table.insert(keyBytes(i), i);
    const peer = new JsFlowMap();
    const jsKeys = new Uint16Array(mem.u8.slice(region.base, out).buffer);
    for (let i = 0; i < n; i++) peer.insert(jsKeys, i, i);
    const peerOut = new Int32Array(BURST);
    const minMs = ctx.quick ? 150 : 400;
    for (const kind of ['hit', 'miss'] as const) {
      const base = kind === 'hit' ? hitBase : missBase;
      const first = kind === 'hit' ? n : n + probes;
      // Sanity: ours and the peer agree on every probe before anything is timed.
      for (let b = 0; b < probes; b += BURST) {
        table.lookupAt(base + b * FLOW_KEY_BYTES, BURST, out, 1);
        peer.lookupBurst(jsKeys, first + b, BURST, peerOut);
        for (let i = 0; i < BURST; i++)
          if (mem.view.getInt32(out + i * 4, true) !== peerOut[i])
            throw new Error(`flow cache bench: ours and the peer disagree on probe ${b + i}`);
      }
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        ours.push(
          rate(
            probes,
            () => {
              for (let b = 0; b < probes; b += BURST) table.lookupAt(base + b * FLOW_KEY_BYTES, BURST, out, 1);
            },
            minMs,
          ),
        );
        theirs.push(
          rate(
            probes,
            () => {
              for (let b = 0; b < probes; b += BURST) peer.lookupBurst(jsKeys, first + b, BURST, peerOut);
            },
            minMs,
          ),
        );
      }
      ctx.report({
        case: `flow-cache-${label(n)}`,
        metric: `lookups-${kind}`,
        value: median(ours) / 1e6,
        unit: 'M/s',
        better: 'higher',
        peer: { name: 'js-map', value: median(theirs) / 1e6 },
        ...(n === 1_000_000 ? { target: 30 } : {}),
      });
    }
    // The memory floor of a hit, on the same table and probes: a hit must read its flow's entry
    // line, so the kernel's loop that reads only those lines (flow_fc_read_entries), called per
    // burst of 32 like the lookups, bounds every hit path from above. Real hits stay well below
    // it: a key's entry address is known only after its hash and tag probe, and Wasm has no
    // prefetch to start the entry read any earlier, so each burst waits for its tag reads and
    // then for its entry reads.
    const slots = out + 4 * BURST;
    const slotWords = new Uint32Array(mem.memory.buffer, slots, probes);
    for (let i = 0; i < probes; i++) {
      const slot = table.placement(
        mem.u8.subarray(hitBase + i * FLOW_KEY_BYTES, hitBase + (i + 1) * FLOW_KEY_BYTES),
      ).slot;
      if (slot === null) throw new Error(`flow cache bench: hit probe ${i} is not in the table`);
      slotWords[i] = slot;
    }
    const readEntries = table.kernel.fn<(st: number, slots: number, n: number) => number>('flow_fc_read_entries');
    const floor: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      floor.push(
        rate(
          probes,
          () => {
            for (let b = 0; b < probes; b += BURST)
              if (readEntries(table.state.base, slots + b * 4, BURST) < 0)
                throw new Error('flow cache bench: flow_fc_read_entries failed');
          },
          minMs,
        ),
      );
    }
    ctx.report({
      case: `flow-cache-${label(n)}`,
      metric: 'entry-line-reads',
      value: median(floor) / 1e6,
      unit: 'M/s',
      better: 'higher',
    });
  } finally {
    table.dispose();
    mem.free(region, 'bench');
  }
}

function classifier(ctx: BenchContext, runtime: KernelRuntime): void {
  const root = packageRoot();
  const seedText = fixture(root, 'acl1_1k');
  const seed = parseClassBench(seedText);
  const sets: { name: string; rules: NormalRule[]; trace: Uint32Array; target?: number }[] = [
    { name: 'acl1-1k', rules: seed, trace: parseTrace(fixture(root, 'acl1_1k_trace')) },
  ];
  const big = generateClassBench(seed, 10_000, 0xc1a55).rules;
  sets.push({ name: 'acl1-10k', rules: big, trace: generateTrace(big, 100_000, 0x7ace), target: 5 });
  const mem = runtime.memory;
  for (const set of sets) {
    if (!ctx.wants(`classifier-${set.name}`)) continue;
    ctx.progress(`classifier: ${set.name} (${set.rules.length} rules)`);
    const c = new Classifier({ runtime, capacity: set.rules.length * 2 });
    const W = CLS_HEADER_WORDS;
    const n = set.trace.length / W;
    const region = mem.alloc({ name: 'bench:cls', owner: 'bench', kind: 'core-scratch', sizeBytes: n * (4 * W + 4) });
    try {
      for (const r of set.rules) c.insertNormal(r);
      new Uint32Array(mem.memory.buffer, region.base, n * W).set(set.trace);
      const out = region.base + n * 4 * W;
      const lin = new LinearClassifier(set.rules);
      const peerN = Math.min(n, ctx.quick ? 2_000 : 10_000);
      const peerOut = new Int32Array(peerN);
      const peerHdr = set.trace.subarray(0, peerN * W);
      const pass = (): void => {
        for (let b = 0; b < n; b += BURST) c.classifyAt(region.base + b * 4 * W, Math.min(BURST, n - b), out + b * 4);
      };
      pass();
      lin.classify(peerHdr, peerOut);
      const ours = new Int32Array(mem.memory.buffer, out, peerN);
      for (let i = 0; i < peerN; i++)
        if (ours[i] !== peerOut[i])
          throw new Error(
            `classifier bench: ours and the linear scan disagree on header ${i}: ${ours[i]} vs ${peerOut[i]}`,
          );
      const oursRates: number[] = [];
      const peerRates: number[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        oursRates.push(rate(n, pass, ctx.quick ? 150 : 400));
        peerRates.push(rate(peerN, () => lin.classify(peerHdr, peerOut), ctx.quick ? 150 : 400));
      }
      ctx.report({
        case: `classifier-${set.name}`,
        metric: 'lookups',
        value: median(oursRates) / 1e6,
        unit: 'M/s',
        better: 'higher',
        peer: { name: 'js-linear-scan', value: median(peerRates) / 1e6 },
        ...(set.target ? { target: set.target } : {}),
      });
      ctx.report({
        case: `classifier-${set.name}`,
        metric: 'tables-probed-max',
        value: c.tableCount,
        unit: 'tables',
        better: 'lower',
      });

      // Updates: remove a random rule and insert it back (two updates), as a rule churn would.
      const rng = new Prng(3);
      const ids = c.ruleIds();
      const upd: number[] = [];
      const peerUpd: number[] = [];
      const ops = ctx.quick ? 5_000 : 20_000;
      for (let r = 0; r < ctx.runs; r++) {
        upd.push(
          rate(
            ops * 2,
            () => {
              for (let k = 0; k < ops; k++) {
                const at = rng.below(ids.length);
                const id = ids[at]!;
                const rule = c.rule(id)!;
                c.remove(id);
                ids[at] = c.insertNormal(rule);
              }
            },
            ctx.quick ? 100 : 300,
          ),
        );
        peerUpd.push(
          rate(
            2_000,
            () => {
              for (let k = 0; k < 1_000; k++) lin.reinsert(rng.below(set.rules.length));
            },
            ctx.quick ? 100 : 300,
          ),
        );
      }
      ctx.report({
        case: `classifier-${set.name}`,
        metric: 'updates',
        value: median(upd) / 1e6,
        unit: 'M/s',
        better: 'higher',
        peer: { name: 'js-linear-scan', value: median(peerUpd) / 1e6 },
        ...(set.target ? { target: 0.5 } : {}),
      });
    } finally {
      c.dispose();
      mem.free(region, 'bench');
    }
  }
}

/** The ClassBench data ships with the repository (test/fixtures), not with the npm package. */
function fixture(root: string, name: string): string {
  try {
    return readFileSync(join(root, 'test', 'fixtures', name), 'utf8');
  } catch {
    throw new QingtianError(
      ErrorCode.NotFound,
      `bench flow: ClassBench file test/fixtures/${name} not found under ${root}; run the bench from a clone of the repository`,
    );
  }
}

function lpm4(ctx: BenchContext, runtime: KernelRuntime, n: number): void {
  ctx.progress(`lpm4: building ${label(n)} prefixes`);
  const routes = generateRoutes4(n, 0xb6b + n);
  const table = new RouteTable({ runtime, maxGroups: 32768 });
  const mem = runtime.memory;
  const probes = routeProbes(routes, 1 << 20, 0x9e);
  const region = mem.alloc({ name: 'bench:lpm', owner: 'bench', kind: 'core-scratch', sizeBytes: probes.length * 8 });
  try {
    table.update({ insert: routes.map((r) => [{ addr: r.addr, length: r.length }, r.nextHop] as const) });
    const require = createRequire(import.meta.url);
    const LongestPrefixMatch = require('longest-prefix-match') as new () => {
      addPrefix(p: string, d: unknown): void;
      getMatch(p: string): { nh: number }[];
    };
    const peer = new LongestPrefixMatch();
    for (const r of routes) peer.addPrefix(`${formatIPv4(r.addr)}/${r.length}`, { nh: r.nextHop });
    ctx.progress(
      `lpm4: ${label(n)} prefixes, ${table.groupsUsed} groups, ${(table.nodeBytesUsed / 2 ** 20).toFixed(2)} MiB of lookup nodes; measuring`,
    );
    new Uint32Array(mem.memory.buffer, region.base, probes.length).set(probes);
    const out = region.base + probes.length * 4;
    const peerN = ctx.quick ? 20_000 : 100_000;
    const peerAddrs = Array.from(probes.subarray(0, peerN), (a) => `${formatIPv4(a)}/32`);
    const pass = (): void => {
      for (let b = 0; b < probes.length; b += BURST) table.lookupAt(region.base + b * 4, BURST, out + b * 4);
    };
    pass();
    const ours = new Int32Array(mem.memory.buffer, out, peerN);
    let sink = 0;
    for (let i = 0; i < peerN; i += 97) {
      const m = peer.getMatch(peerAddrs[i]!);
      const theirs = m.length ? m[0]!.nh : -1;
      if (theirs !== ours[i])
        throw new Error(
          `lpm bench: ours and longest-prefix-match disagree on ${peerAddrs[i]}: ${ours[i]} vs ${theirs}`,
        );
    }
    const oursRates: number[] = [];
    const peerRates: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      oursRates.push(rate(probes.length, pass, ctx.quick ? 150 : 400));
      peerRates.push(
        rate(
          peerN,
          () => {
            for (let i = 0; i < peerN; i++) sink += peer.getMatch(peerAddrs[i]!).length;
          },
          ctx.quick ? 150 : 400,
        ),
      );
    }
    if (sink < 0) throw new Error('unreachable');
    ctx.report({
      case: `lpm4-${label(n)}`,
      metric: 'lookups',
      value: median(oursRates) / 1e6,
      unit: 'M/s',
      better: 'higher',
      peer: { name: 'longest-prefix-match', value: median(peerRates) / 1e6 },
      ...(n >= 900_000 ? { target: 50 } : {}),
    });
  } finally {
    table.dispose();
    mem.free(region, 'bench');
  }
}
