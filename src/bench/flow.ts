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
import { median, spreadOf } from './lib/stats.js';
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
 *                    (acl1_1k and the real 10k sets fw2, ipc1, acl3, fw4 with their own traces,
 *                    checked exact against their linear-scan answers; a generated acl1-shaped 10k)
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

/** Zipf exponent of the skewed flow-cache case (the YCSB default). */
const ZIPF_S = 0.99;

/**
 * Items per second of `pass` (which handles `items` items) over passes totalling at least
 * `minMs` of timed work; `between` runs untimed before each pass (a fresh probe order).
 */
function ratePerPass(items: number, between: () => void, pass: () => void, minMs: number): number {
  between();
  pass(); // warm-up
  let done = 0;
  let ms = 0;
  while (ms < minMs) {
    between();
    const t0 = performance.now();
    pass();
    ms += performance.now() - t0;
    done += items;
  }
  return done / (ms / 1000);
}

/** Fisher–Yates over `count` records of `words` u32 each. */
function shuffleRecords(w: Uint32Array, first: number, count: number, words: number, rng: Prng): void {
  for (let i = count - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const a = (first + i) * words;
    const b = (first + j) * words;
    for (let k = 0; k < words; k++) {
      const t = w[a + k]!;
      w[a + k] = w[b + k]!;
      w[b + k] = t;
    }
  }
}

/** `count` flow indexes in [0, n) drawn from Zipf(s) over ranks, each rank mapped to a random flow. */
function zipfDraws(n: number, count: number, s: number, rng: Prng): Uint32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cdf[r] = sum += 1 / Math.pow(r + 1, s);
  const flowOfRank = new Uint32Array(n);
  for (let i = 0; i < n; i++) flowOfRank[i] = i;
  shuffleRecords(flowOfRank, 0, n, 1, rng);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const u = rng.next() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = flowOfRank[lo]!;
  }
  return out;
}

/**
 * The flow cache at n flows, the table's real clock (a hit writes its flow's LRU stamp when the
 * millisecond changed), three probe mixes, each against the JS Map peer:
 *   lookups-hit            every one of the n flows once per pass, a fresh permutation each pass
 *   lookups-hit-zipf<s>    2^20 draws from Zipf(s) over the flows (1M flows only)
 *   lookups-miss           keys not in the table
 * and lookups-hit-sampled-frozen-clock: the suite's earlier method (4 × min(n, 65536) draws with
 * replacement, the clock frozen so hits never write), kept so the two can be compared in one run.
 */
function flowCache(ctx: BenchContext, runtime: KernelRuntime, n: number): void {
  ctx.progress(`flow cache: ${label(n)} flows`);
  const mem = runtime.memory;
  const rng = new Prng(n);
  const K = FLOW_KEY_BYTES;
  const W = K / 4;
  const sampled = Math.min(n, 1 << 16) * 4;
  const zipfN = n >= 1_000_000 ? 1 << 20 : 0;
  // Region: n inserted keys | n permuted hit probes | sampled hits | Zipf hits | misses | out | slots.
  const keysBytes = (2 * n + 2 * sampled + zipfN) * K;
  const region = mem.alloc({
    name: 'bench:flow-keys',
    owner: 'bench',
    kind: 'core-scratch',
    sizeBytes: keysBytes + 4 * BURST + 4 * n,
  });
  const table = new FlowTable({ runtime, capacity: n });
  try {
    const words = new Uint32Array(mem.memory.buffer, region.base, keysBytes / 4);
    for (let i = 0; i < n * W; i++) words[i] = rng.u32();
    const permFirst = n;
    const sampledFirst = 2 * n;
    const zipfFirst = sampledFirst + sampled;
    const missFirst = zipfFirst + zipfN;
    const copyKey = (to: number, from: number): void => void words.copyWithin(to * W, from * W, (from + 1) * W);
    for (let i = 0; i < n; i++) copyKey(permFirst + i, i);
    for (let i = 0; i < sampled; i++) copyKey(sampledFirst + i, rng.below(n));
    const z = zipfN ? zipfDraws(n, zipfN, ZIPF_S, rng) : new Uint32Array(0);
    for (let i = 0; i < zipfN; i++) copyKey(zipfFirst + i, z[i]!);
    for (let i = missFirst * W; i < (missFirst + sampled) * W; i++) words[i] = rng.u32();
    const addr = (i: number): number => region.base + i * K;
    const out = region.base + keysBytes;
    for (let i = 0; i < n; i++) table.insert(mem.u8.subarray(addr(i), addr(i + 1)), i);
    const peer = new JsFlowMap();
    // The peer reads the same keys (and the same permutation) from host memory.
    const jsKeys = new Uint16Array(mem.memory.buffer, region.base, keysBytes / 2);
    for (let i = 0; i < n; i++) peer.insert(jsKeys, i, i);
    const peerOut = new Int32Array(BURST);
    const minMs = ctx.quick ? 150 : 400;
    const agree = (first: number, count: number): void => {
      for (let b = 0; b + BURST <= count; b += BURST) {
        table.lookupAt(addr(first + b), BURST, out);
        peer.lookupBurst(jsKeys, first + b, BURST, peerOut);
        for (let i = 0; i < BURST; i++)
          if (mem.view.getInt32(out + i * 4, true) !== peerOut[i])
            throw new Error(`flow cache bench: ours and the peer disagree on probe ${first + b + i}`);
      }
    };
    const oursPass = (first: number, count: number, now?: number) => (): void => {
      for (let b = 0; b < count; b += BURST)
        if (now === undefined) table.lookupAt(addr(first + b), Math.min(BURST, count - b), out);
        else table.lookupAt(addr(first + b), Math.min(BURST, count - b), out, now);
    };
    // The peer does ~1 M lookups/s: at most 2^18 probes of a pass (of the current permutation).
    const peerPass = (first: number, count: number) => (): void => {
      for (let b = 0; b + BURST <= count; b += BURST) peer.lookupBurst(jsKeys, first + b, BURST, peerOut);
    };
    const reshuffle = (): void => shuffleRecords(words, permFirst, n, W, rng);
    const none = (): void => undefined;
    const peerCount = (count: number): number => Math.min(count, 1 << 18) & ~(BURST - 1);
    agree(permFirst, n & ~(BURST - 1));
    agree(zipfFirst, zipfN);
    agree(missFirst, sampled);

    // The memory floor of a hit: a hit must read its flow's entry line, so the kernel's loop that
    // reads only those lines (flow_fc_read_entries), called per burst of 32 on the slots of the
    // same permutation, bounds every hit path from above. Real hits stay well below it: a key's
    // entry address is known only after its hash and tag probe, and Wasm has no prefetch.
    const slots = out + 4 * BURST;
    const slotWords = new Uint32Array(mem.memory.buffer, slots, n);
    for (let i = 0; i < n; i++) {
      const slot = table.placement(mem.u8.subarray(addr(i), addr(i + 1))).slot;
      if (slot === null) throw new Error(`flow cache bench: flow ${i} is not in the table`);
      slotWords[i] = slot;
    }
    const readEntries = table.kernel.fn<(st: number, slots: number, n: number) => number>('flow_fc_read_entries');

    const cases: Record<string, { ours: () => number; peer?: () => number }> = {
      hit: {
        ours: () => ratePerPass(n, reshuffle, oursPass(permFirst, n), minMs),
        peer: () => ratePerPass(peerCount(n), reshuffle, peerPass(permFirst, peerCount(n)), minMs),
      },
      ...(zipfN
        ? {
            [`hit-zipf${ZIPF_S}`]: {
              ours: () => ratePerPass(zipfN, none, oursPass(zipfFirst, zipfN), minMs),
              peer: () => ratePerPass(peerCount(zipfN), none, peerPass(zipfFirst, peerCount(zipfN)), minMs),
            },
          }
        : {}),
      miss: {
        ours: () => ratePerPass(sampled, none, oursPass(missFirst, sampled), minMs),
        peer: () => ratePerPass(peerCount(sampled), none, peerPass(missFirst, peerCount(sampled)), minMs),
      },
      'hit-sampled-frozen-clock': {
        ours: () => ratePerPass(sampled, none, oursPass(sampledFirst, sampled, 1), minMs),
      },
      'entry-line-reads': {
        ours: () =>
          ratePerPass(
            n,
            () => shuffleRecords(slotWords, 0, n, 1, rng),
            () => {
              for (let b = 0; b < n; b += BURST)
                if (readEntries(table.state.base, slots + b * 4, Math.min(BURST, n - b)) < 0)
                  throw new Error('flow cache bench: flow_fc_read_entries failed');
            },
            minMs,
          ),
      },
    };
    // Interleaved: every case once per run, so a slow minute of the machine hits all alike.
    const samples: Record<string, { ours: number[]; peer: number[] }> = {};
    for (const k of Object.keys(cases)) samples[k] = { ours: [], peer: [] };
    for (let r = 0; r < ctx.runs; r++)
      for (const [k, c] of Object.entries(cases)) {
        samples[k]!.ours.push(c.ours());
        if (c.peer) samples[k]!.peer.push(c.peer());
      }
    for (const [k, s] of Object.entries(samples)) {
      const metric = k === 'entry-line-reads' ? k : `lookups-${k}`;
      ctx.report({
        case: `flow-cache-${label(n)}`,
        metric,
        value: median(s.ours) / 1e6,
        unit: 'M/s',
        better: 'higher',
        spread: spreadOf(s.ours, 1e6),
        ...(s.peer.length ? { peer: { name: 'js-map', value: median(s.peer) / 1e6 } } : {}),
        ...(n === 1_000_000 && k === 'hit' ? { target: 30 } : {}),
      });
    }
  } finally {
    table.dispose();
    mem.free(region, 'bench');
  }
}

function classifier(ctx: BenchContext, runtime: KernelRuntime): void {
  const root = packageRoot();
  const seedText = fixture(root, 'acl1_1k');
  const seed = parseClassBench(seedText);
  type Set = { name: string; rules: NormalRule[]; trace: Uint32Array; expected?: Int32Array; target?: number };
  const real = (file: string, target?: number): Set => ({
    name: file.replace('_', '-'),
    rules: parseClassBench(fixture(root, file)),
    trace: parseTrace(fixture(root, `${file}_trace`)),
    expected: Int32Array.from(fixture(root, `${file}.expected`).trim().split('\n').map(Number)),
    ...(target === undefined ? {} : { target }),
  });
  const sets: (() => Set)[] = [
    () => ({ ...real('acl1_1k'), rules: seed }),
    () => {
      const big = generateClassBench(seed, 10_000, 0xc1a55).rules;
      return { name: 'acl1-10k-generated', rules: big, trace: generateTrace(big, 100_000, 0x7ace), target: 5 };
    },
    // Real ClassBench 10k sets, exact against their linear-scan answers on every header.
    ...(ctx.quick ? [] : ['fw2_10k', 'ipc1_10k', 'acl3_10k', 'fw4_10k'].map((f) => () => real(f, 5))),
  ];
  const mem = runtime.memory;
  for (const make of sets) {
    const set = make();
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
      if (set.expected) {
        const all = new Int32Array(mem.memory.buffer, out, n);
        for (let i = 0; i < n; i++)
          if (all[i] !== set.expected[i])
            throw new Error(
              `classifier bench: ${set.name} header ${i}: ours ${all[i]}, the linear-scan answer ${set.expected[i]}`,
            );
      }
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
        spread: spreadOf(oursRates, 1e6),
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
      spread: spreadOf(oursRates, 1e6),
      peer: { name: 'longest-prefix-match', value: median(peerRates) / 1e6 },
      ...(n >= 900_000 ? { target: 50 } : {}),
    });
  } finally {
    table.dispose();
    mem.free(region, 'bench');
  }
}
