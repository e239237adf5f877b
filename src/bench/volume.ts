import { closeSync, existsSync, mkdirSync, openSync, read as readCb, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng } from '../common/prng.js';
import { runQueueLoad } from '../dpu/blk/engine/queue-load.js';
import { VolumeOp } from '../dpu/blk/engine/volume-queue-layout.js';
import { Storage } from '../dpu/blk/storage.js';
import type { CleanerPolicy } from '../dpu/blk/volume/cleaner.js';
import { diskIoHelper, URING_OP_FIELDS } from '../dpu/blk/volume/disk-io.js';
import { Volume } from '../dpu/blk/volume/volume.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median } from './lib/stats.js';
import { sampleAll } from './lib/throughput.js';

/**
 * Suite "volume": what the volume engine alone does, 4 KiB random I/O through the whole
 * pipeline (log-structured layout, RS(4,2) over six disk files, T10 DIF on every block), the
 * disk files on tmpfs, medians of interleaved runs. Cases:
 *   randwrite-4k / randread-4k  the engine called in-thread (what an I/O worker spends per request),
 *                               its disk files read and written the default way (the I/O choice,
 *                               'mapped' when the native helper is built), random writes over the
 *                               whole (full) volume: steady state, the cleaner at work (the fill
 *                               level and write amplification are reported beside the IOPS);
 *                               peer: raw pwrite / pread of 4 KiB at random offsets of one file on
 *                               the same tmpfs from the same thread (the system calls alone)
 *   randwrite-4k-inline         the same steady-state writes with the volume's full stripes encoded and
 *                               written inline (stripeWriter 'inline': one thread), peer: the default
 *                               (a stripe writer thread beside the engine's), same run
 *   randwrite-4k-fresh          random writes into a volume never written (half a pass of its
 *                               blocks, no cleaning yet); peer: the same, disk files through pwrite
 *   randread-4k-sync / randwrite-4k-sync  the same engine with its disks on pread / pwrite (the
 *                               fallback I/O choice), peer: the default choice, same run
 *   queue-randread-4k / -write  a thread in the shape of a DPU job keeps 128 requests in flight on a
 *                               volume queue served by the storage worker; peer: the in-thread engine
 *   degraded-randread-4k        the same volume with two of its six disks lost; peer: healthy
 *   disk-io                     the I/O choice, 4 KiB random reads of one tmpfs file: a copy from the
 *                               file mapped by the native helper, io_uring (32 reads a submission),
 *                               synchronous pread in the owning thread, libuv's thread pool
 *                               (fs.read, 32 in flight)
 *   cleaner-wa                  write amplification of the cleaner under hot/cold overwrites at 80%
 *                               fill: cost-benefit vs greedy (the peer), the same workload
 */
const BLOCK = 4096;

function scratchDir(): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const d = join(base, `qt-bench-volume-${process.pid}`);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** IOPS of `op` called for about `ms` milliseconds. */
function iops(ms: number, op: (i: number) => void): number {
  const t0 = performance.now();
  let n = 0;
  let now = t0;
  while (now - t0 < ms) {
    for (let i = 0; i < 256; i++) op(n++);
    now = performance.now();
  }
  return (n / (now - t0)) * 1000;
}

/** IOPS of libuv's asynchronous fs.read with `depth` reads in flight for `ms` milliseconds. */
function libuvReads(
  fd: number,
  buf: Uint8Array,
  blocks: number,
  depth: number,
  ms: number,
  rng: Prng,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    let active = 0;
    const t0 = performance.now();
    const one = (slot: number): void => {
      active++;
      readCb(fd, buf, slot * BLOCK, BLOCK, rng.int(blocks) * BLOCK, (err) => {
        active--;
        if (err) return reject(err);
        done++;
        if (performance.now() - t0 < ms) one(slot);
        else if (active === 0) resolve((done / (performance.now() - t0)) * 1000);
      });
    };
    for (let s = 0; s < depth; s++) one(s);
  });
}

function fillVolume(v: Volume, src: number): void {
  const per = 256;
  for (let lba = 0; lba < v.blockCount; lba += per) v.write(lba, Math.min(per, v.blockCount - lba), src);
  v.flush();
}

/** Write amplification of a hot/cold overwrite workload (80% of writes to 20% of the blocks). */
function cleanerWa(dir: string, policy: CleanerPolicy, runtime: LoaderRuntime, src: number, quick: boolean): number {
  const d = join(dir, `wa-${policy}`);
  rmSync(d, { recursive: true, force: true });
  const v = Volume.create(
    { dir: d, sizeBytes: (quick ? 8 : 32) << 20, chunkBlocks: 4, stripesPerSegment: 4 },
    { runtime, cleaner: policy },
  );
  try {
    fillVolume(v, src);
    const before = v.stats().writes;
    const rng = new Prng(17);
    const n = v.blockCount * (quick ? 4 : 8);
    const hot = Math.floor(v.blockCount / 5);
    for (let i = 0; i < n; i++) {
      const lba = rng.next() < 0.8 ? rng.int(hot) : hot + rng.int(v.blockCount - hot);
      v.write(lba, 1, src);
    }
    v.flush();
    const after = v.stats().writes;
    const user = after.userBlocks - before.userBlocks;
    return (user + after.movedBlocks - before.movedBlocks + after.padBlocks - before.padBlocks) / user;
  } finally {
    v.close();
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const dir = scratchDir();
  const quick = ctx.quick;
  const sizeBytes = (quick ? 64 : 256) << 20;
  const ms = quick ? 300 : 1500;
  const mem = new HostMemory({ sizeBytes: 256 << 20 });
  const runtime = new LoaderRuntime(mem);
  const io = mem.alloc({ name: 'bench:volume', owner: 'bench', kind: 'core-scratch', sizeBytes: 4 << 20 });
  for (let i = 0; i < io.sizeBytes; i++) mem.u8[io.base + i] = (i * 2654435761) >>> 24;
  const smem = new HostMemory({ sizeBytes: 256 << 20 });
  const storage = new Storage(smem);
  try {
    ctx.progress(`filling a ${sizeBytes >> 20} MiB volume and a raw file of the same size in ${dir}`);
    const vol = Volume.create({ dir: join(dir, 'engine'), sizeBytes }, { runtime });
    ctx.progress(`I/O choice: disk I/O ${vol.diskIo.choice} (${vol.diskIo.reason})`);
    fillVolume(vol, io.base);
    const blocks = vol.blockCount;
    const rawPath = join(dir, 'raw.img');
    const raw = openSync(rawPath, 'w+');
    for (let off = 0; off < sizeBytes; off += 1 << 20) writeSync(raw, mem.u8, io.base, 1 << 20, off);
    const rng = new Prng(5);
    const dst = io.base + (2 << 20);
    const samplers: Record<string, () => number | Promise<number>> = {};
    // Write amplification and fill of the steady-state write runs: (user + moved + padding) / user.
    const waRuns: number[] = [];
    const fills: number[] = [];
    const ownerJobs: number[] = [];
    const steadyWrites = (v: Volume, track: boolean): number => {
      const a = v.stats();
      const rate = iops(ms, (i) => v.write(rng.int(blocks), 1, io.base + (i & 255) * BLOCK));
      const b = v.stats();
      if (track) {
        const user = b.writes.userBlocks - a.writes.userBlocks;
        const moved = b.writes.movedBlocks - a.writes.movedBlocks;
        const pad = b.writes.padBlocks - a.writes.padBlocks;
        waRuns.push((user + moved + pad) / user);
        fills.push(b.space.mappedBytes / b.geometry.logBytes);
        const jobs = b.stripeWriter.jobs - a.stripeWriter.jobs;
        if (jobs > 0) ownerJobs.push((b.stripeWriter.jobsRunByOwner - a.stripeWriter.jobsRunByOwner) / jobs);
      }
      return rate;
    };
    if (ctx.wants('randwrite-4k') || ctx.wants('randread-4k')) {
      samplers['engine-write'] = () => steadyWrites(vol, true);
      samplers['raw-pwrite'] = () =>
        iops(ms, (i) => writeSync(raw, mem.u8, io.base + (i & 255) * BLOCK, BLOCK, rng.int(blocks) * BLOCK));
      samplers['engine-read'] = () => iops(ms, (i) => vol.read(rng.int(blocks), 1, dst + (i & 255) * BLOCK));
      samplers['raw-pread'] = () =>
        iops(ms, (i) => readSync(raw, mem.u8, dst + (i & 255) * BLOCK, BLOCK, rng.int(blocks) * BLOCK));
    }
    let volInline: Volume | null = null;
    if (ctx.wants('randwrite-4k-inline')) {
      ctx.progress('filling a second volume, its stripes written inline');
      volInline = Volume.create({ dir: join(dir, 'engine-inline'), sizeBytes }, { runtime, stripeWriter: 'inline' });
      fillVolume(volInline, io.base);
      const vi = volInline;
      samplers['engine-write-inline'] = () => steadyWrites(vi, false);
      samplers['engine-write-thread'] = () => steadyWrites(vol, false);
    }
    let volSync: Volume | null = null;
    if ((ctx.wants('randread-4k-sync') || ctx.wants('randwrite-4k-sync')) && vol.diskIo.choice !== 'sync') {
      ctx.progress('filling a second volume, its disks on pread / pwrite');
      volSync = Volume.create({ dir: join(dir, 'engine-sync'), sizeBytes }, { runtime, diskIo: 'sync' });
      fillVolume(volSync, io.base);
      const vs = volSync;
      samplers['engine-read-sync'] = () => iops(ms, (i) => vs.read(rng.int(blocks), 1, dst + (i & 255) * BLOCK));
      samplers['engine-read-default'] = () => iops(ms, (i) => vol.read(rng.int(blocks), 1, dst + (i & 255) * BLOCK));
      samplers['engine-write-sync'] = () => steadyWrites(vs, false);
      samplers['engine-write-default'] = () => steadyWrites(vol, false);
    }
    if (ctx.wants('randwrite-4k-fresh')) {
      // A new volume each run: one pass of random writes as many as it has blocks (about 63 % of
      // them get mapped, the log fills to about 80 %: no cleaning yet).
      let n = 0;
      const fresh = (diskIo: 'auto' | 'sync'): number => {
        const d = join(dir, `fresh-${n++}`);
        const v = Volume.create({ dir: d, sizeBytes }, { runtime, diskIo });
        try {
          const count = v.blockCount;
          const t0 = performance.now();
          for (let i = 0; i < count; i++) v.write(rng.int(count), 1, io.base + (i & 255) * BLOCK);
          return (count / (performance.now() - t0)) * 1000;
        } finally {
          v.close();
          rmSync(d, { recursive: true, force: true });
        }
      };
      samplers['fresh-default'] = () => fresh('auto');
      samplers['fresh-sync'] = () => fresh('sync');
    }
    // CPU per read of the whole process (every thread: libuv's pool and io_uring's workers included).
    const cpuPerOp: Record<string, number[]> = { sync: [], libuv: [], mapped: [], uring: [] };
    const withCpu = async (key: string, f: () => number | Promise<number>): Promise<number> => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const rate = await f();
      const c = process.cpuUsage(c0);
      cpuPerOp[key]!.push((c.user + c.system) / ((rate * (performance.now() - t0)) / 1000));
      return rate;
    };
    const helper = diskIoHelper();
    let rawMap: object | null = null;
    let ring: object | null = null;
    let ringWhy = typeof helper === 'string' ? helper : '';
    if (ctx.wants('disk-io')) {
      samplers['sync-read'] = () =>
        withCpu('sync', () =>
          iops(ms, (i) => readSync(raw, mem.u8, dst + (i & 31) * BLOCK, BLOCK, rng.int(blocks) * BLOCK)),
        );
      samplers['libuv-read'] = () => withCpu('libuv', () => libuvReads(raw, mem.u8, blocks, 32, ms, rng));
      if (typeof helper !== 'string') {
        const m = helper.mapFile(raw, sizeBytes);
        const r = helper.create(64);
        rawMap = typeof m === 'number' ? null : m;
        ring = typeof r === 'number' ? null : r;
        if (typeof r === 'number') ringWhy = `io_uring_setup failed, errno ${-r}`;
        const map = rawMap;
        if (map)
          samplers['mapped-read'] = () =>
            withCpu('mapped', () =>
              iops(ms, (i) => helper.copyIn(map, mem.u8, dst + (i & 31) * BLOCK, rng.int(blocks) * BLOCK, BLOCK)),
            );
        const rg = ring;
        if (rg) {
          const ops = new Float64Array(32 * URING_OP_FIELDS);
          const res = new Int32Array(32);
          samplers['uring-read'] = () =>
            withCpu(
              'uring',
              () =>
                iops(ms, () => {
                  for (let j = 0; j < 32; j++) {
                    const o = j * URING_OP_FIELDS;
                    ops[o] = 0;
                    ops[o + 1] = raw;
                    ops[o + 2] = rng.int(blocks) * BLOCK;
                    ops[o + 3] = dst + j * BLOCK;
                    ops[o + 4] = BLOCK;
                  }
                  if (helper.run(rg, mem.u8, ops, 32, res) !== 32)
                    throw new Error('io_uring: a batch did not complete');
                }) * 32,
            );
        }
      }
    }
    let queueCases: ((op: VolumeOp) => Promise<number>) | null = null;
    let workerIo = '';
    if (ctx.wants('queue-rand')) {
      ctx.progress('filling the storage worker volume');
      const sv = await storage.createVolume({ dir: join(dir, 'worker'), sizeBytes });
      const chunk = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
      for (let off = 0; off < sizeBytes; off += chunk.length) await sv.write(off, chunk);
      await sv.flush();
      // The load thread's doorbell and sleeping flag, which the storage worker rings after completions.
      const wordsW = smem.alloc({ name: 'bench:words', owner: 'bench', kind: 'core-scratch', sizeBytes: 4096 });
      const q = await sv.openQueue({
        depth: 128,
        completionDoorbell: wordsW.base,
        completionSleeping: wordsW.base + 64,
      });
      workerIo = (await sv.stats()).diskIo.choice;
      queueCases = async (op) => {
        const r = await runQueueLoad(smem, q, wordsW.base, { op, blocks, depth: 128, ms, seed: rng.u32() });
        if (r.errors > 0) throw new Error(`${r.errors} queue requests failed`);
        return (r.ops / r.elapsedMs) * 1000;
      };
      samplers['queue-read'] = () => queueCases!(VolumeOp.Read);
      samplers['queue-write'] = () => queueCases!(VolumeOp.Write);
      samplers['engine-read-q'] = () => iops(ms, (i) => vol.read(rng.int(blocks), 1, dst + (i & 255) * BLOCK));
    }
    ctx.progress(`${ctx.runs} interleaved runs of ${Object.keys(samplers).join(', ')}`);
    const s = await sampleAll(ctx.runs, samplers);
    const med = (k: string): number => median(s[k]!);
    const what = `log + RS(4,2) + DIF, tmpfs, disk I/O ${vol.diskIo.choice}`;
    if (s['engine-write']) {
      const fill = Math.round(median(fills) * 100);
      ctx.report({
        case: 'randwrite-4k',
        metric: `IOPS, engine in-thread (its full stripes on the volume's stripe writer thread), steady state at ${fill} % log fill (${what})`,
        value: med('engine-write'),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'raw pwrite, one tmpfs file, same thread', value: med('raw-pwrite') },
        target: 200_000,
      });
      ctx.report({
        case: 'randwrite-4k',
        metric: `log write amplification of those runs ((user + moved + padding) / user), ${fill} % fill`,
        value: median(waRuns),
        unit: 'x',
        better: 'lower',
      });
      if (ownerJobs.length > 0) {
        ctx.report({
          case: 'randwrite-4k',
          metric: 'share of stripe jobs the engine thread ran itself (the stripe writer thread had not got to them)',
          value: median(ownerJobs),
          unit: 'ratio',
          better: 'lower',
        });
      }
      ctx.report({
        case: 'randread-4k',
        metric: `IOPS, engine in-thread (${what})`,
        value: med('engine-read'),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'raw pread, one tmpfs file, same thread', value: med('raw-pread') },
        target: 300_000,
      });
    }
    if (s['engine-read-sync']) {
      ctx.report({
        case: 'randread-4k-sync',
        metric: 'IOPS, engine in-thread, disk files on pread (the fallback I/O choice)',
        value: med('engine-read-sync'),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: `disk I/O ${vol.diskIo.choice} (default), same run`, value: med('engine-read-default') },
      });
      ctx.report({
        case: 'randwrite-4k-sync',
        metric: 'IOPS, engine in-thread, steady state, disk files on pread / pwrite (the fallback)',
        value: med('engine-write-sync'),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: `disk I/O ${vol.diskIo.choice} (default), same run`, value: med('engine-write-default') },
      });
    }
    if (s['engine-write-inline']) {
      ctx.report({
        case: 'randwrite-4k-inline',
        metric: `IOPS, engine in-thread, steady state, full stripes encoded and written inline (one thread)`,
        value: med('engine-write-inline'),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'the default: a stripe writer thread, same run', value: med('engine-write-thread') },
      });
    }
    if (s['fresh-default']) {
      ctx.report({
        case: 'randwrite-4k-fresh',
        metric: `IOPS, engine in-thread, a new volume, one pass of random writes (no cleaning; ${what})`,
        value: med('fresh-default'),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'the same, disk files on pwrite', value: med('fresh-sync') },
      });
    }
    if (s['queue-read']) {
      for (const [c, k] of [
        ['queue-randread-4k', 'queue-read'],
        ['queue-randwrite-4k', 'queue-write'],
      ] as const) {
        ctx.report({
          case: c,
          metric: `IOPS, volume queue from another thread, QD128 (log + RS(4,2) + DIF, tmpfs, disk I/O ${workerIo})`,
          value: med(k),
          unit: 'IOPS',
          better: 'higher',
          peer: { name: 'engine in-thread randread', value: med('engine-read-q') },
        });
      }
    }
    if (s['sync-read']) {
      const cpu = (k: string): number => median(cpuPerOp[k]!);
      const readCase = (metric: string, key: string, cpuKey: string): void => {
        ctx.report({
          case: 'disk-io',
          metric: `IOPS, 4 KiB random reads of one tmpfs file: ${metric}`,
          value: med(key),
          unit: 'IOPS',
          better: 'higher',
          peer: { name: 'synchronous pread in the owning thread', value: med('sync-read') },
        });
        ctx.report({
          case: 'disk-io',
          metric: `CPU µs per 4 KiB random read, all threads: ${metric}`,
          value: cpu(cpuKey),
          unit: 'µs',
          better: 'lower',
          peer: { name: 'synchronous pread in the owning thread', value: cpu('sync') },
        });
      };
      if (s['mapped-read']) readCase('copy from the file mapped by the native helper', 'mapped-read', 'mapped');
      else ctx.progress(`disk-io: no mapped case (${ringWhy})`);
      if (s['uring-read']) readCase('io_uring, 32 reads a submission', 'uring-read', 'uring');
      else ctx.progress(`disk-io: no io_uring case (${ringWhy})`);
      readCase("libuv's thread pool (fs.read, 32 in flight)", 'libuv-read', 'libuv');
    }
    if (ctx.wants('degraded-randread-4k')) {
      const healthy = () => iops(ms, (i) => vol.read(rng.int(blocks), 1, dst + (i & 255) * BLOCK));
      const h = await sampleAll(ctx.runs, { healthy });
      vol.loseDisk(1);
      vol.loseDisk(4);
      const d = await sampleAll(ctx.runs, { healthy });
      ctx.report({
        case: 'degraded-randread-4k',
        metric: 'IOPS, two of six disks lost (reads rebuilt from parity)',
        value: median(d['healthy']!),
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'all six disks', value: median(h['healthy']!) },
      });
    }
    if (ctx.wants('cleaner-wa')) {
      ctx.progress('cleaner write amplification, cost-benefit vs greedy');
      ctx.report({
        case: 'cleaner-wa',
        metric: 'log write amplification, 80/20 hot/cold overwrites at 80% fill (cost-benefit)',
        value: cleanerWa(dir, 'cost-benefit', runtime, io.base, quick),
        unit: 'x',
        better: 'lower',
        peer: { name: 'greedy cleaner, same workload', value: cleanerWa(dir, 'greedy', runtime, io.base, quick) },
      });
    }
    if (typeof helper !== 'string') {
      if (rawMap) helper.unmapFile(rawMap);
      if (ring) helper.close(ring);
    }
    closeSync(raw);
    volSync?.close();
    volInline?.close();
    vol.close();
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
