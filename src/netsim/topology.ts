import { readFileSync } from 'node:fs';
import { ErrorCode, QingtianError } from '../common/errors.js';

/** A network: hosts and switches joined by full-duplex links. Rates in bit/s, delays in ps. */
export interface Topology {
  /** Its name (`fattree:8`, a file's name): incast:N and dumbbell:N add traffic of their own. */
  name: string;
  /** Per node: 'host' or 'switch'. Node ids are indices into this array. */
  kinds: ('host' | 'switch')[];
  /** The links. */
  links: TopoLink[];
}

/** A full-duplex link between two nodes. */
export interface TopoLink {
  /** One end (node id). */
  a: number;
  /** The other end. */
  b: number;
  /** Rate each way, bit/s. */
  rateBps: number;
  /** Propagation delay, ps. */
  delayPs: number;
}

const G = 1e9;
const US = 1_000_000; // ps

function bad(message: string, details: Record<string, unknown> = {}): never {
  throw new QingtianError(ErrorCode.InvalidArgument, message, details);
}

/**
 * The HPCC authors' topology format: `<nodes> <switches> <links>`, then the switch ids, then
 * `<a> <b> <rate> <delay> <error rate>` per link (rate like `100Gbps`, delay like `1000ns`).
 */
export function parseTopologyFile(text: string, name: string): Topology {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const head = (lines[0] ?? '').split(/\s+/).map(Number);
  const [nodes, switches, links] = head;
  if (
    head.length < 3 ||
    !Number.isInteger(nodes) ||
    !Number.isInteger(switches) ||
    !Number.isInteger(links) ||
    nodes! < 2 ||
    nodes! > 1_000_000
  ) {
    bad(`topology ${name}: first line must be '<nodes> <switches> <links>', got '${lines[0] ?? ''}'`);
  }
  const kinds: ('host' | 'switch')[] = new Array<'host' | 'switch'>(nodes!).fill('host');
  const ids = (lines[1] ?? '').split(/\s+/).map(Number);
  if (ids.length !== switches) bad(`topology ${name}: line 2 must list ${switches} switch ids, found ${ids.length}`);
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= nodes!)
      bad(`topology ${name}: switch id ${id} outside [0, ${nodes! - 1}]`);
    kinds[id] = 'switch';
  }
  const out: TopoLink[] = [];
  for (let i = 0; i < links!; i++) {
    const f = (lines[2 + i] ?? '').split(/\s+/);
    const a = Number(f[0]);
    const b = Number(f[1]);
    const rateBps = parseQuantity(f[2] ?? '', { gbps: G, mbps: 1e6, kbps: 1e3, bps: 1 });
    const delayPs = parseQuantity(f[3] ?? '', { ns: 1000, us: US, ms: 1e9, ps: 1, s: 1e12 });
    if (
      !Number.isInteger(a) ||
      !Number.isInteger(b) ||
      a < 0 ||
      b < 0 ||
      a >= nodes! ||
      b >= nodes! ||
      a === b ||
      !(rateBps > 0) ||
      !(delayPs >= 0)
    ) {
      bad(
        `topology ${name}: link line ${i + 3} '${lines[2 + i] ?? ''}' is not '<a> <b> <rate> <delay> <error rate>' with node ids in [0, ${nodes! - 1}]`,
      );
    }
    out.push({ a, b, rateBps, delayPs: Math.round(delayPs) });
  }
  return { name, kinds, links: out };
}

function parseQuantity(s: string, units: Record<string, number>): number {
  const m = /^([0-9.]+)([a-zA-Z]*)$/.exec(s);
  if (!m) return NaN;
  const scale = units[m[2]!.toLowerCase()];
  return scale === undefined ? NaN : Number(m[1]) * scale;
}

/** k-ary fat tree (k even): k pods of k/2 edge + k/2 aggregation switches, (k/2)^2 cores, k^3/4 hosts. */
export function fatTree(k: number, rateBps = 100 * G, delayPs = US): Topology {
  if (!Number.isInteger(k) || k < 2 || k > 48 || k % 2 !== 0)
    bad(`fattree:K: K must be an even integer in [2, 48], got ${k}`);
  const h = k / 2;
  const hosts = (k * k * k) / 4;
  const kinds: ('host' | 'switch')[] = [];
  for (let i = 0; i < hosts; i++) kinds.push('host');
  const edge = (pod: number, i: number) => hosts + pod * k + i;
  const agg = (pod: number, i: number) => hosts + pod * k + h + i;
  const core = (i: number, j: number) => hosts + k * k + i * h + j;
  for (let i = 0; i < k * k + h * h; i++) kinds.push('switch');
  const links: TopoLink[] = [];
  for (let pod = 0; pod < k; pod++) {
    for (let e = 0; e < h; e++) {
      for (let x = 0; x < h; x++) links.push({ a: pod * h * h + e * h + x, b: edge(pod, e), rateBps, delayPs });
      for (let a = 0; a < h; a++) links.push({ a: edge(pod, e), b: agg(pod, a), rateBps, delayPs });
    }
    for (let a = 0; a < h; a++)
      for (let j = 0; j < h; j++) links.push({ a: agg(pod, a), b: core(a, j), rateBps, delayPs });
  }
  return { name: `fattree:${k}`, kinds, links };
}

/** N senders and one receiver on one switch: hosts 0..N-1 send to host N. */
export function incastStar(n: number, rateBps = 100 * G, delayPs = US): Topology {
  if (!Number.isInteger(n) || n < 1 || n > 4096) bad(`incast:N: N must be an integer in [1, 4096], got ${n}`);
  const kinds: ('host' | 'switch')[] = [];
  for (let i = 0; i <= n; i++) kinds.push('host');
  kinds.push('switch');
  const links: TopoLink[] = [];
  for (let i = 0; i <= n; i++) links.push({ a: i, b: n + 1, rateBps, delayPs });
  return { name: `incast:${n}`, kinds, links };
}

/** N hosts on a left switch, N on a right switch, one bottleneck link between the switches. */
export function dumbbell(n: number, rateBps = 100 * G, delayPs = US): Topology {
  if (!Number.isInteger(n) || n < 1 || n > 4096) bad(`dumbbell:N: N must be an integer in [1, 4096], got ${n}`);
  const kinds: ('host' | 'switch')[] = [];
  for (let i = 0; i < 2 * n; i++) kinds.push('host');
  kinds.push('switch', 'switch');
  const left = 2 * n;
  const right = 2 * n + 1;
  const links: TopoLink[] = [];
  for (let i = 0; i < n; i++) links.push({ a: i, b: left, rateBps, delayPs });
  for (let i = 0; i < n; i++) links.push({ a: n + i, b: right, rateBps, delayPs });
  links.push({ a: left, b: right, rateBps, delayPs });
  return { name: `dumbbell:${n}`, kinds, links };
}

/** L leaves of 16 hosts (100 G) and 4 spines, leaf-spine links at 400 G (no oversubscription). */
export function leafSpine(leaves: number): Topology {
  if (!Number.isInteger(leaves) || leaves < 2 || leaves > 256)
    bad(`leafspine:L: L must be an integer in [2, 256], got ${leaves}`);
  const perLeaf = 16;
  const spines = 4;
  const hosts = leaves * perLeaf;
  const kinds: ('host' | 'switch')[] = [];
  for (let i = 0; i < hosts; i++) kinds.push('host');
  for (let i = 0; i < leaves + spines; i++) kinds.push('switch');
  const links: TopoLink[] = [];
  for (let l = 0; l < leaves; l++) {
    for (let x = 0; x < perLeaf; x++) links.push({ a: l * perLeaf + x, b: hosts + l, rateBps: 100 * G, delayPs: US });
    for (let s = 0; s < spines; s++) links.push({ a: hosts + l, b: hosts + leaves + s, rateBps: 400 * G, delayPs: US });
  }
  return { name: `leafspine:${leaves}`, kinds, links };
}

/** `fattree:K`, `incast:N`, `dumbbell:N`, `leafspine:L`, or a topology file in the HPCC format. */
export function resolveTopology(spec: string): Topology {
  const m = /^(fattree|incast|dumbbell|leafspine):(\d+)$/.exec(spec);
  if (m) {
    const n = Number(m[2]);
    switch (m[1]!) {
      case 'fattree':
        return fatTree(n);
      case 'incast':
        return incastStar(n);
      case 'dumbbell':
        return dumbbell(n);
      default:
        return leafSpine(n);
    }
  }
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch {
    throw new QingtianError(
      ErrorCode.NotFound,
      `--topo: '${spec}' is neither fattree:K, incast:N, dumbbell:N, leafspine:L nor a readable topology file`,
      { spec },
    );
  }
  return parseTopologyFile(text, spec);
}
