import { Prng } from '../../common/prng.js';
import type { NormalRule } from './classifier-rule.js';
import { mask4 } from './ip-address.js';

/**
 * ClassBench-shaped rule sets of any size, grown from the structure of a seed set (as
 * ClassBench's own db_generator grows sets from a parameter file):
 *  - the joint distribution of (protocol, source-port class, destination-port class), where a
 *    port class is WC (0:65535), HI (1024:65535), LO (0:1023), EM (one port) or AR (other range);
 *  - per joint class, the (source length, destination length) pairs;
 *  - exact ports and arbitrary ranges drawn from those of the seed;
 *  - address clustering: a new address copies the leading bits of a seed address and draws the
 *    rest, where the number of copied bits follows the seed's own nesting (for each seed
 *    address, its longest common prefix with another seed address);
 *  - the priority order: ClassBench sets list specific rules first and wildcard-heavy ones
 *    last, so each new rule takes the place in the order of the seed rule it was modelled on.
 * Seeded: the same (seed set, size, seed) always gives the same rules.
 */

type PortClass = 'WC' | 'HI' | 'LO' | 'EM' | 'AR';

function portClass(lo: number, hi: number): PortClass {
  if (lo === 0 && hi === 65535) return 'WC';
  if (lo === 1024 && hi === 65535) return 'HI';
  if (lo === 0 && hi === 1023) return 'LO';
  return lo === hi ? 'EM' : 'AR';
}

function commonPrefix(a: number, b: number): number {
  const x = (a ^ b) >>> 0;
  return x === 0 ? 32 : Math.clz32(x);
}

/** For each address, its longest common prefix with any other address of the list. */
function nesting(addrs: number[]): number[] {
  const s = [...new Set(addrs)].sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const l = i > 0 ? commonPrefix(s[i - 1]!, s[i]!) : 0;
    const r = i + 1 < s.length ? commonPrefix(s[i]!, s[i + 1]!) : 0;
    out.push(Math.max(l, r));
  }
  return out.length ? out : [0];
}

export interface GeneratedSet {
  rules: NormalRule[];
  /** Distinct (srcLen, dstLen) pairs used, as a figure of the set's structure. */
  lengthPairs: number;
}

export function generateClassBench(seed: readonly NormalRule[], count: number, prngSeed: number): GeneratedSet {
  const rng = new Prng(prngSeed);
  const classes = seed.map(
    (r) => `${r.protoValue}/${r.protoMask}|${portClass(r.spLo, r.spHi)}|${portClass(r.dpLo, r.dpHi)}`,
  );
  const pairsByClass = new Map<string, [number, number][]>();
  seed.forEach((r, i) => {
    const k = classes[i]!;
    const list = pairsByClass.get(k) ?? [];
    list.push([r.srcLen, r.dstLen]);
    pairsByClass.set(k, list);
  });
  const exactPorts = seed
    .flatMap((r) => [r.spLo === r.spHi ? r.spLo : -1, r.dpLo === r.dpHi ? r.dpLo : -1])
    .filter((p) => p >= 0);
  const ranges = seed
    .flatMap(
      (r) =>
        [
          [r.spLo, r.spHi],
          [r.dpLo, r.dpHi],
        ] as [number, number][],
    )
    .filter(([lo, hi]) => portClass(lo, hi) === 'AR');
  const srcSeeds = seed.map((r) => r.srcAddr);
  const dstSeeds = seed.map((r) => r.dstAddr);
  const srcNest = nesting(srcSeeds);
  const dstNest = nesting(dstSeeds);

  const address = (seeds: number[], nest: number[], len: number): number => {
    const base = rng.pick(seeds);
    const keep = Math.min(len, rng.pick(nest));
    const fresh = rng.u32();
    const m = mask4(keep);
    return (((base & m) | (fresh & ~m)) & mask4(len)) >>> 0;
  };
  const ports = (cls: PortClass): [number, number] => {
    switch (cls) {
      case 'WC':
        return [0, 65535];
      case 'HI':
        return [1024, 65535];
      case 'LO':
        return [0, 1023];
      case 'EM': {
        const p = exactPorts.length ? rng.pick(exactPorts) : rng.below(65536);
        return [p, p];
      }
      case 'AR':
        return ranges.length ? rng.pick(ranges) : [1024, 65535];
    }
  };

  const rules: NormalRule[] = [];
  const seen = new Set<string>();
  const usedPairs = new Set<string>();
  let guard = 0;
  const order: number[] = [];
  while (rules.length < count && guard++ < count * 20) {
    // Model the new rule on a seed rule: its class and length pair, and its place in the order.
    const j = rng.below(seed.length);
    const cls = classes[j]!;
    const [proto, spc, dpc] = cls.split('|') as [string, PortClass, PortClass];
    const [pv, pm] = proto.split('/').map(Number) as [number, number];
    const [srcLen, dstLen] = rng.float() < 0.5 ? [seed[j]!.srcLen, seed[j]!.dstLen] : rng.pick(pairsByClass.get(cls)!);
    const [spLo, spHi] = ports(spc);
    const [dpLo, dpHi] = ports(dpc);
    const r: NormalRule = {
      srcAddr: address(srcSeeds, srcNest, srcLen),
      srcLen,
      dstAddr: address(dstSeeds, dstNest, dstLen),
      dstLen,
      spLo,
      spHi,
      dpLo,
      dpHi,
      protoValue: pv,
      protoMask: pm,
      priority: 0,
    };
    const key = `${r.srcAddr}/${srcLen} ${r.dstAddr}/${dstLen} ${spLo}:${spHi} ${dpLo}:${dpHi} ${pv}/${pm}`;
    if (seen.has(key)) continue;
    seen.add(key);
    usedPairs.add(`${srcLen}-${dstLen}`);
    rules.push(r);
    order.push(j + rng.float());
  }
  const idx = rules.map((_, i) => i).sort((a, b) => order[a]! - order[b]!);
  const sorted = idx.map((i, p) => ({ ...rules[i]!, priority: p }));
  rules.length = 0;
  rules.push(...sorted);
  return { rules, lengthPairs: usedPairs.size };
}

/**
 * Headers for a rule set, as ClassBench's trace generator makes them: mostly a point inside a
 * randomly chosen rule (so lookups hit rules all over the priority order), the rest uniformly
 * random. 5 u32 words per header.
 */
export function generateTrace(
  rules: readonly NormalRule[],
  count: number,
  prngSeed: number,
  randomFraction = 0.05,
): Uint32Array {
  const rng = new Prng(prngSeed);
  const out = new Uint32Array(count * 5);
  const inRange = (lo: number, hi: number): number => lo + rng.below(hi - lo + 1);
  for (let i = 0; i < count; i++) {
    if (rules.length === 0 || rng.float() < randomFraction) {
      out.set([rng.u32(), rng.u32(), rng.below(65536), rng.below(65536), rng.pick([6, 17, 1, rng.below(256)])], i * 5);
      continue;
    }
    const r = rng.pick(rules);
    const src = ((r.srcAddr & mask4(r.srcLen)) | (rng.u32() & ~mask4(r.srcLen))) >>> 0;
    const dst = ((r.dstAddr & mask4(r.dstLen)) | (rng.u32() & ~mask4(r.dstLen))) >>> 0;
    const proto = (r.protoValue & r.protoMask) | (rng.below(256) & ~r.protoMask & 0xff);
    out.set([src, dst, inRange(r.spLo, r.spHi), inRange(r.dpLo, r.dpHi), proto], i * 5);
  }
  return out;
}
