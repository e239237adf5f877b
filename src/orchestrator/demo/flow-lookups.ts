import { Prng } from '../../common/prng.js';
import { Classifier } from '../../dpu/flow/classifier.js';
import { FLOW_KEY_BYTES, FlowTable } from '../../dpu/flow/flow-table.js';
import { PacketParser } from '../../dpu/flow/packet-parser.js';
import { RouteTable } from '../../dpu/flow/route-table.js';
import { generateRoutes4, routeProbes } from '../../dpu/flow/route-gen.js';
import type { DemoChapter } from './demo-context.js';
import { CLS_HEADER_WORDS } from '../../generated/flow.js';

const BURST = 32;

/** A TCP/IPv4 Ethernet frame (optionally inside VXLAN), enough for the parser to key it. */
function frame(src: number, dst: number, sport: number, dport: number, vni?: number): Uint8Array {
  const be16 = (n: number): number[] => [(n >> 8) & 255, n & 255];
  const be32 = (n: number): number[] => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const tcp = [...be16(sport), ...be16(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0];
  // prettier-ignore
  const ip = (s: number, d: number, proto: number, body: number[]): number[] => [
    0x45, 0, ...be16(20 + body.length),
    0, 0, 0x40, 0,
    64, proto, 0, 0,
    ...be32(s),
    ...be32(d),
    ...body,
  ];
  const eth = (body: number[]): number[] => [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00, ...body];
  let f = eth(ip(src, dst, 6, tcp));
  if (vni !== undefined) {
    const vx = [0x08, 0, 0, 0, ...be32(vni << 8)];
    // prettier-ignore
    f = eth(ip(0x0a000001, 0x0a000002, 17, [
      ...be16(49152), ...be16(4789), ...be16(8 + vx.length + f.length), 0, 0, ...vx, ...f,
    ]));
  }
  return Uint8Array.from(f);
}

function rate(items: number, ms: number): string {
  return `${(items / (ms / 1000) / 1e6).toFixed(1)} M/s`;
}

/**
 * Chapter "flow lookups": the three lookups of the network fast path, in host memory where DPU
 * cores can run them zero-copy — packet parsing into flow keys, the exact-match flow cache, a
 * security-group classifier with live rule updates, and a BGP-sized routing table.
 */
export const flowLookups: DemoChapter = {
  title: 'Flow lookups: parser, exact-match flow cache, classifier, LPM routing table',
  async run({ host, say, record }) {
    const runtime = host.runtime;
    const mem = runtime.memory;
    const rng = new Prng(0xf10);

    // Parser → flow keys (one VXLAN frame among them), then the flow cache.
    const parser = new PacketParser({ runtime });
    const flows = 50_000;
    const frames = Array.from({ length: flows }, (_, i) =>
      frame(
        0xc0a80000 | (i & 0xffff),
        0x0a000000 | rng.below(1 << 20),
        1024 + (i % 50000),
        [80, 443, 22][i % 3]!,
        i === 7 ? 5001 : undefined,
      ),
    );
    let t0 = performance.now();
    const parsed = parser.parseBurst(frames);
    const parseMs = performance.now() - t0;
    const vx = parsed[7]!;
    say(
      `parsed ${flows} frames in ${parseMs.toFixed(0)} ms; frame 7 is VXLAN: VNI ${vx.vni}, inner ${vx.src}:${vx.srcPort} → ${vx.dst}:${vx.dstPort}`,
    );
    const table = new FlowTable({ runtime, capacity: 2 * flows });
    const keys = mem.alloc({
      name: 'demo:flow-keys',
      owner: 'demo',
      kind: 'core-scratch',
      sizeBytes: flows * FLOW_KEY_BYTES + 4096,
    });
    try {
      parsed.forEach((p, i) => {
        table.insert(p.key, i);
        mem.u8.set(p.key, keys.base + i * FLOW_KEY_BYTES);
      });
      const out = keys.base + flows * FLOW_KEY_BYTES;
      t0 = performance.now();
      for (let rep = 0; rep < 20; rep++) {
        for (let b = 0; b + BURST <= flows; b += BURST) table.lookupAt(keys.base + b * FLOW_KEY_BYTES, BURST, out);
      }
      const ms = performance.now() - t0;
      say(
        `flow cache: ${table.size} flows installed; ${20 * flows} lookups in bursts of 32 (zero-copy from host memory): ${rate(20 * flows, ms)}`,
      );
      record('flow cache lookups (50k flows, burst 32)', rate(20 * flows, ms));
    } finally {
      table.dispose();
      parser.dispose();
      mem.free(keys, 'demo');
    }

    // Security groups: 2000 rules, classify, then change rules while classifying.
    const cls = new Classifier({ runtime, capacity: 8192 });
    const hdrCount = 100_000;
    const W = CLS_HEADER_WORDS;
    const hdr = mem.alloc({
      name: 'demo:headers',
      owner: 'demo',
      kind: 'core-scratch',
      sizeBytes: hdrCount * (4 * W + 4),
    });
    try {
      const services = [22, 80, 443, 3306, 5432, 6379, 8080, 9000];
      for (let i = 0; i < 2000; i++) {
        const len = [16, 20, 24, 28, 32][i % 5]!;
        const port = services[i % services.length]!;
        cls.insert({
          src: { addr: (0x0a000000 | rng.below(1 << 24)) >>> 0, length: len },
          dst: { addr: (0xac100000 | rng.below(1 << 16)) >>> 0, length: 16 + (i % 3) * 8 },
          dstPorts: [port, port],
          proto: 6,
          priority: i,
        });
      }
      cls.insert({ priority: 100_000 }); // default deny, lowest priority
      const h = new Uint32Array(mem.memory.buffer, hdr.base, hdrCount * W);
      for (let i = 0; i < hdrCount; i++)
        h.set(
          [
            (0x0a000000 | rng.below(1 << 24)) >>> 0,
            (0xac100000 | rng.below(1 << 16)) >>> 0,
            1024 + rng.below(60000),
            services[rng.below(services.length)]!,
            6,
          ],
          i * W,
        );
      const out = hdr.base + hdrCount * 4 * W;
      t0 = performance.now();
      for (let b = 0; b < hdrCount; b += BURST) cls.classifyAt(hdr.base + b * 4 * W, BURST, out + b * 4);
      const clsMs = performance.now() - t0;
      t0 = performance.now();
      const ids = cls.ruleIds();
      for (let k = 0; k < 20_000; k++) {
        const at = k % 2000;
        const rule = cls.rule(ids[at]!)!;
        cls.remove(ids[at]!);
        ids[at] = cls.insertNormal(rule);
      }
      const updMs = performance.now() - t0;
      say(
        `classifier (TupleMerge, ${cls.size} rules in ${cls.tableCount} tables): ${rate(hdrCount, clsMs)} lookups, ${rate(40_000, updMs)} rule updates (remove + insert)`,
      );
      record(
        'security-group classifier (2k rules)',
        `${rate(hdrCount, clsMs)} lookups, ${rate(40_000, updMs)} updates`,
      );
    } finally {
      cls.dispose();
      mem.free(hdr, 'demo');
    }

    // A BGP-sized routing table, changed while it serves.
    const routes = generateRoutes4(200_000, 0xb6b);
    const rt = new RouteTable({ runtime, maxGroups: 8192 });
    const probes = routeProbes(routes, 1 << 20, 0x9e);
    const pr = mem.alloc({ name: 'demo:probes', owner: 'demo', kind: 'core-scratch', sizeBytes: probes.length * 8 });
    try {
      t0 = performance.now();
      rt.update({ insert: routes.map((r) => [{ addr: r.addr, length: r.length }, r.nextHop] as const) });
      const buildMs = performance.now() - t0;
      new Uint32Array(mem.memory.buffer, pr.base, probes.length).set(probes);
      const out = pr.base + probes.length * 4;
      t0 = performance.now();
      for (let b = 0; b < probes.length; b += BURST) rt.lookupAt(pr.base + b * 4, BURST, out + b * 4);
      const lookMs = performance.now() - t0;
      rt.insert('203.0.113.0/24', 7);
      const nh = rt.lookup('203.0.113.9');
      say(
        `routing table: ${rt.size} IPv4 routes (DIR-24-8, ${rt.groupsUsed} long-prefix groups, lookups through ${(rt.nodeBytesUsed / 2 ** 20).toFixed(1)} MiB of compact nodes) built in ${buildMs.toFixed(0)} ms; ${rate(probes.length, lookMs)} lookups; route 203.0.113.0/24 added live → next hop ${nh}`,
      );
      record('IPv4 LPM (200k routes, burst 32)', rate(probes.length, lookMs));
    } finally {
      rt.dispose();
      mem.free(pr, 'demo');
    }
  },
};
