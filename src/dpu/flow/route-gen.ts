import { Prng } from '../../common/prng.js';

/**
 * A BGP-like IPv4 table, seeded: about 60 % /24, most of the rest /16–/23, a few shorter, and
 * about 1 % longer than /24 (global tables filter those; operators' own tables carry them).
 * Prefixes cluster inside allocation blocks (/8–/12 regions of unicast space), as real ones do.
 */
const LENGTHS: [number, number][] = [
  [8, 0.0002],
  [9, 0.0002],
  [10, 0.0004],
  [11, 0.001],
  [12, 0.002],
  [13, 0.004],
  [14, 0.007],
  [15, 0.009],
  [16, 0.014],
  [17, 0.009],
  [18, 0.017],
  [19, 0.027],
  [20, 0.045],
  [21, 0.052],
  [22, 0.105],
  [23, 0.1],
  [24, 0.596],
  [25, 0.003],
  [26, 0.003],
  [27, 0.002],
  [28, 0.001],
  [29, 0.001],
  [30, 0.0005],
  [32, 0.0005],
];

export interface Route4 {
  addr: number;
  length: number;
  nextHop: number;
}

export function generateRoutes4(count: number, seed: number): Route4[] {
  const rng = new Prng(seed);
  const total = LENGTHS.reduce((a, [, w]) => a + w, 0);
  const pickLen = (): number => {
    let x = rng.float() * total;
    for (const [l, w] of LENGTHS) if ((x -= w) < 0) return l;
    return 24;
  };
  // Allocation blocks: /10s in 1.0.0.0 – 223.255.255.255 minus 10/8, 127/8.
  const blocks: number[] = [];
  while (blocks.length < 600) {
    const b = (rng.u32() & 0xffc00000) >>> 0;
    const first = b >>> 24;
    if (first === 0 || first === 10 || first === 127 || first >= 224) continue;
    blocks.push(b);
  }
  const seen = new Set<string>();
  const out: Route4[] = [];
  while (out.length < count) {
    const length = pickLen();
    const block = blocks[Math.floor(Math.pow(rng.float(), 1.5) * blocks.length)]!; // some blocks denser
    const a = length <= 10 ? block : (block | (rng.u32() & 0x003fffff)) >>> 0;
    const addr = length === 0 ? 0 : (a & ((0xffffffff << (32 - length)) >>> 0)) >>> 0;
    const k = `${addr}/${length}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ addr, length, nextHop: rng.below(4096) });
  }
  return out;
}

/** Lookup addresses: 90 % inside a random route, 10 % uniform. */
export function routeProbes(routes: readonly Route4[], count: number, seed: number): Uint32Array {
  const rng = new Prng(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    if (rng.float() < 0.1) {
      out[i] = rng.u32();
      continue;
    }
    const r = routes[rng.below(routes.length)]!;
    const host = r.length === 32 ? 0 : rng.u32() & (0xffffffff >>> r.length);
    out[i] = (r.addr | host) >>> 0;
  }
  return out;
}
