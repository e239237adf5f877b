import { createRequire } from 'node:module';
import { relaxedSimdSupported } from '../dpu/kernels/kernel-flavour.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { ReedSolomon } from '../dpu/ec/reed-solomon.js';
import { EcOffload } from '../dpu/ec/ec-offload.js';
import { HostMemory } from '../memory/host-memory.js';
import { Host } from '../orchestrator/host.js';
import type { BenchContext } from './lib/report.js';
import { median, spreadOf } from './lib/stats.js';
import { libuvPoolSize, rateAsync, rateInFlight, rateSync, sampleAll } from './lib/throughput.js';
import { JsReedSolomon } from './peers/js-reed-solomon.js';

/**
 * Suite "ec": Reed-Solomon encode / reconstruct / update, single thread, GB/s of data (k x shard
 * bytes per second), medians over ctx.runs interleaved runs. Peers, measured in the same run:
 *   @ronomon/reed-solomon                      native addon (Cauchy bit-matrix XOR schedule) on libuv's
 *                                              thread pool: 2 calls per pool thread in flight (as its
 *                                              users run it; the fair peer, used by the verdicts), and
 *                                              one call in flight
 *   @digitaldefiance/reed-solomon-erasure.wasm rust reed-solomon-erasure compiled to Wasm
 *   plain-js                                   byte-table implementation (src/bench/peers/js-reed-solomon.ts)
 * Ours: the Uint8Array API (copies shards into Wasm memory and parity out) and the zero-copy
 * form on host addresses, with the relaxed-SIMD kernels (when the engine has them) and the
 * portable ones.
 */
interface Ronomon {
  create(k: number, m: number): unknown;
  encode(
    ctx: unknown,
    sources: number,
    targets: number,
    buf: Buffer,
    bufOff: number,
    bufSize: number,
    par: Buffer,
    parOff: number,
    parSize: number,
    cb: (e?: Error) => void,
  ): void;
}
interface Dd {
  encode(shards: Uint8Array, k: number, m: number): number;
  reconstruct(shards: Uint8Array, k: number, m: number, present: boolean[]): number;
}

const require = createRequire(import.meta.url);
const KIB = 1024;
/** @ronomon/reed-solomon calls kept in flight: two per libuv pool thread, so none waits idle. */
const RONOMON_POOL = libuvPoolSize();
const RONOMON_DEPTH = 2 * RONOMON_POOL;
const RONOMON_FAIR = `@ronomon/reed-solomon, ${RONOMON_DEPTH} in flight on a libuv pool of ${RONOMON_POOL}`;
const RONOMON_ONE = '@ronomon/reed-solomon, one call in flight';

function fill(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

async function loadPeers(ctx: BenchContext): Promise<{ ronomon: Ronomon | null; dd: Dd | null }> {
  let ronomon: Ronomon | null = null;
  let dd: Dd | null = null;
  try {
    ronomon = require('@ronomon/reed-solomon') as Ronomon;
  } catch (e) {
    ctx.progress(`peer @ronomon/reed-solomon unavailable: ${(e as Error).message}`);
  }
  try {
    // The CommonJS build: its fromCurrentDirectorySync finds the .wasm next to itself (__dirname).
    const mod = require('@digitaldefiance/reed-solomon-erasure.wasm') as {
      ReedSolomonErasure: { fromCurrentDirectorySync(): Dd };
    };
    dd = mod.ReedSolomonErasure.fromCurrentDirectorySync();
  } catch (e) {
    ctx.progress(`peer @digitaldefiance/reed-solomon-erasure.wasm unavailable: ${(e as Error).message}`);
  }
  return { ronomon, dd };
}

export async function run(ctx: BenchContext): Promise<void> {
  const ms = ctx.quick ? 60 : 250;
  const { ronomon, dd } = await loadPeers(ctx);
  const mem = new HostMemory({ sizeBytes: 256 << 20 });
  const runtime = new LoaderRuntime(mem);
  const flavours = relaxedSimdSupported() ? (['relaxed', 'portable'] as const) : (['portable'] as const);
  ctx.progress(
    `kernels: ${flavours.join(', ')}${relaxedSimdSupported() ? '' : ' (relaxed SIMD not available in this engine)'}`,
  );

  for (const c of [
    { name: 'encode-10+4-64KiB', k: 10, m: 4, len: 64 * KIB, target: 4, ratio: 1.5 },
    { name: 'encode-4+2-4KiB', k: 4, m: 2, len: 4 * KIB, target: 5, ratio: 5 },
  ]) {
    const { k, m, len } = c;
    const bytes = k * len;
    const data = Array.from({ length: k }, (_, i) => fill(len, i + 1));
    const coders = flavours.map((simd) => new ReedSolomon({ dataShards: k, parityShards: m, runtime, simd }));
    const region = mem.alloc({ name: `bench:${c.name}`, owner: 'bench', kind: 'guest-ram', sizeBytes: (k + m) * len });
    const addrs = Array.from({ length: k + m }, (_, i) => region.base + i * len);
    data.forEach((d, i) => mem.u8.set(d, addrs[i]));
    const js = new JsReedSolomon(k, m);
    const jsParity = Array.from({ length: m }, () => new Uint8Array(len));
    const check = new ReedSolomon({ dataShards: k, parityShards: m, matrix: 'klauspost', runtime });
    js.encode(data, jsParity);
    if (!check.encode(data).every((p, i) => Buffer.from(p).equals(jsParity[i]!)))
      throw new Error('plain-js peer disagrees with ReedSolomon(klauspost)');
    check.dispose();

    const samplers: Record<string, () => number | Promise<number>> = {};
    const into = Array.from({ length: m }, () => new Uint8Array(len));
    coders.forEach((rs) => {
      samplers[`copy-${rs.flavour}`] = () => rateSync(() => rs.encode(data), bytes, ms);
      samplers[`into-${rs.flavour}`] = () => rateSync(() => rs.encodeInto(data, into), bytes, ms);
      samplers[`zc-${rs.flavour}`] = () =>
        rateSync(() => rs.encodeAt(addrs.slice(0, k), addrs.slice(k), len), bytes, ms);
    });
    if (ronomon) {
      const ctxR = ronomon.create(k, m);
      const buf = Buffer.concat(data.map((d) => Buffer.from(d)));
      const par = Buffer.alloc(m * len);
      const sources = (1 << k) - 1;
      const targets = ((1 << (k + m)) - 1) & ~sources;
      const once = (): Promise<void> =>
        new Promise((res, rej) =>
          ronomon.encode(ctxR, sources, targets, buf, 0, buf.length, par, 0, par.length, (e) => (e ? rej(e) : res())),
        );
      samplers['ronomon'] = () => rateAsync(once, bytes, ms);
      const pars = Array.from({ length: RONOMON_DEPTH }, () => Buffer.alloc(m * len));
      samplers['ronomon-pool'] = () =>
        rateInFlight(
          (slot, done) => ronomon.encode(ctxR, sources, targets, buf, 0, buf.length, pars[slot]!, 0, m * len, done),
          RONOMON_DEPTH,
          bytes,
          ms,
        );
    }
    if (dd) {
      const shards = new Uint8Array((k + m) * len);
      data.forEach((d, i) => shards.set(d, i * len));
      samplers['dd'] = () => rateSync(() => void dd.encode(shards, k, m), bytes, ms);
    }
    samplers['plain-js'] = () => rateSync(() => js.encode(data, jsParity), bytes, Math.max(ms, 100));
    ctx.progress(`${c.name}: warming up`);
    // Two rounds: the copying forms settle only after a few hundred calls (allocator and GC
    // steady state); every sampler gets the same warm-up.
    await sampleAll(ctx.quick ? 1 : 2, samplers);
    const s = await sampleAll(ctx.runs, samplers);
    reportEncode(ctx, c.name, c.target, c.ratio, s);
    coders.forEach((rs) => rs.dispose());
    mem.free(region, 'bench');
  }

  await reconstructCase(ctx, mem, runtime, flavours, ronomon, dd, ms);
  await updateCase(ctx, mem, runtime, ms);
  await offloadCase(ctx, ms);
}

function reportEncode(
  ctx: BenchContext,
  name: string,
  target: number,
  ratio: number,
  s: Record<string, number[]>,
): void {
  const med = (key: string): number | undefined => (s[key] ? median(s[key]) : undefined);
  const best = med('zc-relaxed') !== undefined ? 'relaxed' : 'portable';
  const ron = med('ronomon-pool');
  const ron1 = med('ronomon');
  const peerOf = (name2: string, v: number | undefined): { peer?: { name: string; value: number } } =>
    v === undefined ? {} : { peer: { name: name2, value: v } };
  for (const f of ['relaxed', 'portable']) {
    const zc = med(`zc-${f}`);
    const cp = med(`copy-${f}`);
    if (zc === undefined || cp === undefined) continue;
    const t = f === best ? { target } : {};
    ctx.report({
      case: name,
      metric: `zero-copy (${f} kernels)`,
      value: zc,
      unit: 'GB/s',
      better: 'higher',
      spread: spreadOf(s[`zc-${f}`]!),
      ...peerOf(RONOMON_FAIR, ron),
      ...t,
    });
    ctx.report({
      case: name,
      metric: `Uint8Array API, copies (${f} kernels)`,
      value: cp,
      unit: 'GB/s',
      better: 'higher',
      ...peerOf(RONOMON_FAIR, ron),
      ...t,
    });
    ctx.report({
      case: name,
      metric: `encodeInto, copies, no allocation (${f} kernels)`,
      value: med(`into-${f}`)!,
      unit: 'GB/s',
      better: 'higher',
      ...peerOf(RONOMON_FAIR, ron),
    });
  }
  const top = med(`zc-${best}`)!;
  if (ron1 !== undefined)
    ctx.report({
      case: name,
      metric: `zero-copy (${best})`,
      value: top,
      unit: 'GB/s',
      better: 'higher',
      peer: { name: RONOMON_ONE, value: ron1 },
    });
  if (ron !== undefined)
    ctx.report({
      case: name,
      metric: `zero-copy / @ronomon, ${RONOMON_DEPTH} in flight (${best})`,
      value: top / ron,
      unit: 'x',
      better: 'higher',
      target: ratio,
    });
  const cpTop = med(`copy-${best}`)!;
  if (ron !== undefined)
    ctx.report({
      case: name,
      metric: `Uint8Array API / @ronomon, ${RONOMON_DEPTH} in flight (${best})`,
      value: cpTop / ron,
      unit: 'x',
      better: 'higher',
      target: ratio,
    });
  const ddv = med('dd');
  if (ddv !== undefined)
    ctx.report({
      case: name,
      metric: `zero-copy (${best})`,
      value: top,
      unit: 'GB/s',
      better: 'higher',
      peer: { name: '@digitaldefiance/reed-solomon-erasure.wasm', value: ddv },
    });
  ctx.report({
    case: name,
    metric: `zero-copy (${best})`,
    value: top,
    unit: 'GB/s',
    better: 'higher',
    peer: { name: 'plain-js table', value: med('plain-js')! },
  });
}

async function reconstructCase(
  ctx: BenchContext,
  mem: HostMemory,
  runtime: LoaderRuntime,
  flavours: readonly ('relaxed' | 'portable')[],
  ronomon: Ronomon | null,
  dd: Dd | null,
  ms: number,
): Promise<void> {
  const name = 'reconstruct-10+4-64KiB-4-lost';
  const k = 10,
    m = 4,
    len = 64 * KIB,
    bytes = k * len;
  const lost = [0, 1, 2, 3];
  const data = Array.from({ length: k }, (_, i) => fill(len, i + 11));
  const rs = flavours.map((simd) => new ReedSolomon({ dataShards: k, parityShards: m, runtime, simd }));
  const all = [...data, ...rs[0]!.encode(data)];
  const shards = all.map((s, i) => (lost.includes(i) ? null : s));
  const region = mem.alloc({ name: 'bench:reconstruct', owner: 'bench', kind: 'guest-ram', sizeBytes: (k + m) * len });
  const addrs = all.map((_, i) => region.base + i * len);
  all.forEach((s, i) => mem.u8.set(s, addrs[i]));
  const samplers: Record<string, () => number | Promise<number>> = {};
  for (const c of rs) {
    const check = c.reconstruct(shards);
    if (!lost.every((i) => Buffer.from(check[i]!).equals(all[i]!))) throw new Error('reconstruct check failed');
    samplers[`copy-${c.flavour}`] = () => rateSync(() => c.reconstruct(shards), bytes, ms);
    samplers[`zc-${c.flavour}`] = () => rateSync(() => c.reconstructAt(addrs, lost, len), bytes, ms);
  }
  if (ronomon) {
    const ctxR = ronomon.create(k, m);
    const buf = Buffer.alloc(k * len);
    const par = Buffer.alloc(m * len);
    data.forEach((d, i) => buf.set(d, i * len));
    const targets = lost.reduce((a, i) => a | (1 << i), 0);
    const sources = ((1 << (k + m)) - 1) & ~targets;
    const encodeAll = (1 << (k + m)) - 1 - ((1 << k) - 1);
    await new Promise<void>((res, rej) =>
      ronomon.encode(ctxR, (1 << k) - 1, encodeAll, buf, 0, buf.length, par, 0, par.length, (e) =>
        e ? rej(e) : res(),
      ),
    );
    const once = (): Promise<void> =>
      new Promise((res, rej) =>
        ronomon.encode(ctxR, sources, targets, buf, 0, buf.length, par, 0, par.length, (e) => (e ? rej(e) : res())),
      );
    samplers['ronomon'] = () => rateAsync(once, bytes, ms);
    // Each call in flight rebuilds into its own copy of the shards (targets are written in place).
    const bufs = Array.from({ length: RONOMON_DEPTH }, () => Buffer.from(buf));
    const pars = Array.from({ length: RONOMON_DEPTH }, () => Buffer.from(par));
    samplers['ronomon-pool'] = () =>
      rateInFlight(
        (slot, done) => ronomon.encode(ctxR, sources, targets, bufs[slot]!, 0, k * len, pars[slot]!, 0, m * len, done),
        RONOMON_DEPTH,
        bytes,
        ms,
      );
  }
  if (dd) {
    const buf = new Uint8Array((k + m) * len);
    data.forEach((d, i) => buf.set(d, i * len));
    dd.encode(buf, k, m);
    const present = all.map((_, i) => !lost.includes(i));
    samplers['dd'] = () => rateSync(() => void dd.reconstruct(buf, k, m, present), bytes, ms);
  }
  const js = new JsReedSolomon(k, m);
  const jsShards = [...data, ...Array.from({ length: m }, () => new Uint8Array(len))];
  js.encode(data, jsShards.slice(k));
  const jsIn = jsShards.map((s, i) => (lost.includes(i) ? null : s));
  const jsOut = lost.map(() => new Uint8Array(len));
  samplers['plain-js'] = () => rateSync(() => js.reconstruct(jsIn, jsOut), bytes, Math.max(ms, 100));
  ctx.progress(`${name}: warming up`);
  await sampleAll(ctx.quick ? 1 : 2, samplers);
  const s = await sampleAll(ctx.runs, samplers);
  const med = (key: string): number | undefined => (s[key] ? median(s[key]) : undefined);
  const best = med('zc-relaxed') !== undefined ? 'relaxed' : 'portable';
  for (const f of flavours) {
    const t = f === best ? { target: 3 } : {};
    const peer = med('ronomon-pool') === undefined ? {} : { peer: { name: RONOMON_FAIR, value: med('ronomon-pool')! } };
    ctx.report({
      case: name,
      metric: `zero-copy (${f} kernels)`,
      value: med(`zc-${f}`)!,
      unit: 'GB/s',
      better: 'higher',
      spread: spreadOf(s[`zc-${f}`]!),
      ...peer,
      ...t,
    });
    ctx.report({
      case: name,
      metric: `Uint8Array API, copies (${f} kernels)`,
      value: med(`copy-${f}`)!,
      unit: 'GB/s',
      better: 'higher',
      ...peer,
      ...t,
    });
  }
  if (med('ronomon') !== undefined)
    ctx.report({
      case: name,
      metric: `zero-copy (${best})`,
      value: med(`zc-${best}`)!,
      unit: 'GB/s',
      better: 'higher',
      peer: { name: RONOMON_ONE, value: med('ronomon')! },
    });
  if (med('dd') !== undefined)
    ctx.report({
      case: name,
      metric: `zero-copy (${best})`,
      value: med(`zc-${best}`)!,
      unit: 'GB/s',
      better: 'higher',
      peer: { name: '@digitaldefiance/reed-solomon-erasure.wasm', value: med('dd')! },
    });
  ctx.report({
    case: name,
    metric: `zero-copy (${best})`,
    value: med(`zc-${best}`)!,
    unit: 'GB/s',
    better: 'higher',
    peer: { name: 'plain-js table', value: med('plain-js')! },
  });
  rs.forEach((c) => c.dispose());
  mem.free(region, 'bench');
}

/** Partial-stripe write: parity update for one changed 64 KiB shard vs re-encoding the stripe. */
async function updateCase(ctx: BenchContext, mem: HostMemory, runtime: LoaderRuntime, ms: number): Promise<void> {
  const k = 10,
    m = 4,
    len = 64 * KIB;
  const rs = new ReedSolomon({ dataShards: k, parityShards: m, runtime });
  const region = mem.alloc({ name: 'bench:update', owner: 'bench', kind: 'guest-ram', sizeBytes: (k + m + 1) * len });
  const addrs = Array.from({ length: k + m + 1 }, (_, i) => region.base + i * len);
  for (let i = 0; i <= k; i++) mem.u8.set(fill(len, 40 + i), addrs[i]);
  const perCall = (fn: () => void) => (): number => 1 / rateSync(fn, 1, ms) / 1000; // µs per call
  const s = await sampleAll(ctx.runs + 1, {
    update: perCall(() => rs.updateAt(addrs.slice(k, k + m), 3, addrs[3]!, addrs[k + m]!, len)),
    reencode: perCall(() => rs.encodeAt(addrs.slice(0, k), addrs.slice(k, k + m), len)),
  });
  ctx.report({
    case: 'update-10+4-64KiB-1-shard',
    metric: `parity update, zero-copy (${rs.flavour})`,
    value: median(s['update']!.slice(1)),
    unit: 'us',
    better: 'lower',
    peer: { name: 'full re-encode (ours, zero-copy)', value: median(s['reencode']!.slice(1)) },
  });
  rs.dispose();
  mem.free(region, 'bench');
}

/** Stripe batches on the DPU core pool (EcOffload) against the same passes on the main thread. */
async function offloadCase(ctx: BenchContext, ms: number): Promise<void> {
  const k = 10,
    m = 4,
    len = 64 * KIB,
    count = ctx.quick ? 16 : 64;
  // Adaptive: the core sleeps while the main thread takes its turn (poll mode would spin on a shared CPU).
  const host = await Host.boot({ memory: { sizeBytes: 256 << 20 }, dpu: { cores: 1, mode: 'adaptive' } });
  try {
    const rs = new ReedSolomon({ dataShards: k, parityShards: m, runtime: host.runtime });
    const off = await EcOffload.start(host.runtime, host.dpu, { simd: rs.flavour, stripesPerRound: count });
    const region = host.memory.alloc({
      name: 'bench:offload',
      owner: 'bench',
      kind: 'guest-ram',
      sizeBytes: count * (k + m) * len,
    });
    const stripes = Array.from({ length: count }, (_, s) => {
      const a = Array.from({ length: k + m }, (_, i) => region.base + (s * (k + m) + i) * len);
      for (let i = 0; i < k; i++) host.memory.u8.set(fill(len, s * 31 + i + 1), a[i]);
      return { data: a.slice(0, k), parity: a.slice(k) };
    });
    const bytes = count * k * len;
    const s = await sampleAll(ctx.runs + 1, {
      dpu: () => rateAsync(async () => void (await off.encode(rs, stripes, len)), bytes, ms * 2),
      main: () => rateSync(() => stripes.forEach((st) => rs.encodeAt(st.data, st.parity, len)), bytes, ms * 2),
    });
    ctx.report({
      case: `offload-10+4-64KiB-x${count}`,
      metric: `1 DPU core, ec_batch job (${rs.flavour})`,
      value: median(s['dpu']!.slice(1)),
      unit: 'GB/s',
      better: 'higher',
      peer: { name: 'main thread, zero-copy', value: median(s['main']!.slice(1)) },
    });
    await off.close();
    rs.dispose();
  } finally {
    await host.shutdown();
  }
}
