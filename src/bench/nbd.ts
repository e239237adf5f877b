import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Storage } from '../dpu/blk/storage.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median } from './lib/stats.js';
import { sampleAll } from './lib/throughput.js';

const exec = promisify(execFile);

/**
 * Suite "nbd": fio's nbd engine against three NBD servers over loopback TCP, the same job for
 * each, interleaved runs, medians: qingtian (a volume: log + RS(4,2) + DIF over six files on
 * tmpfs, served by the storage worker), nbdkit's memory plugin, and qemu-nbd over a raw file on
 * the same tmpfs. All three hold the same random image (written in through qemu-img convert),
 * so reads return real data. Cases: 4 KiB random read at QD32 (the comparison) and
 * 4 KiB random write at QD32.
 */
const TOOLS = ['fio', 'nbdkit', 'qemu-nbd', 'qemu-img'] as const;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitFor(uri: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = spawnSync('qemu-img', ['info', '-f', 'raw', uri], { encoding: 'utf8' });
    if (r.status === 0) return;
    await new Promise((res) => setTimeout(res, 50));
  }
  throw new Error(`${uri} did not come up`);
}

async function fio(uri: string, rw: 'randread' | 'randwrite', sizeBytes: number, seconds: number): Promise<number> {
  const { stdout } = await exec(
    'fio',
    [
      '--name=bench',
      '--ioengine=nbd',
      `--uri=${uri}`,
      `--rw=${rw}`,
      '--bs=4k',
      '--iodepth=32',
      `--size=${sizeBytes}`,
      `--runtime=${seconds}`,
      '--time_based',
      '--ramp_time=1',
      '--output-format=json',
    ],
    { maxBuffer: 16 << 20, cwd: tmpdir() },
  );
  const job = (
    JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
      jobs: { error: number; read: { iops: number }; write: { iops: number } }[];
    }
  ).jobs[0]!;
  if (job.error !== 0) throw new Error(`fio against ${uri}: error ${job.error}`);
  return rw === 'randread' ? job.read.iops : job.write.iops;
}

export async function run(ctx: BenchContext): Promise<void> {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length > 0) {
    ctx.progress(`cannot run: ${missing.join(', ')} not installed (Debian: apt-get install -y fio nbdkit qemu-utils)`);
    return;
  }
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = join(base, `qt-bench-nbd-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sizeBytes = (ctx.quick ? 128 : 256) << 20;
  const seconds = ctx.quick ? 2 : 5;
  const children: ChildProcess[] = [];
  const storage = new Storage(new HostMemory({ sizeBytes: 256 << 20 }));
  try {
    ctx.progress(`a ${sizeBytes >> 20} MiB random image in ${dir}`);
    const src = join(dir, 'src.img');
    const fd = openSync(src, 'w');
    const chunk = Buffer.alloc(1 << 20);
    for (let off = 0; off < sizeBytes; off += chunk.length) writeSync(fd, randomFillSync(chunk), 0, chunk.length, off);
    closeSync(fd);

    await storage.createVolume({ dir: join(dir, 'volume'), name: 'bench', sizeBytes });
    const srv = await storage.serveNbd({ tcp: { port: 0 } });
    const qingtian = srv.uri('bench');

    const kitPort = await freePort();
    children.push(
      spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(kitPort), 'memory', `${sizeBytes}`], { stdio: 'ignore' }),
    );
    const nbdkit = `nbd://127.0.0.1:${kitPort}/`;

    const qemuImg = join(dir, 'qemu-nbd.img');
    copyFileSync(src, qemuImg);
    const qPort = await freePort();
    children.push(
      spawn('qemu-nbd', ['-f', 'raw', '-x', 'q', '-b', '127.0.0.1', '-p', String(qPort), '-t', qemuImg], {
        stdio: 'ignore',
      }),
    );
    const qemu = `nbd://127.0.0.1:${qPort}/q`;
    await waitFor(nbdkit);
    await waitFor(qemu);
    for (const uri of [qingtian, nbdkit]) {
      ctx.progress(`writing the image into ${uri} (qemu-img convert)`);
      await exec('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, uri]);
    }

    for (const rw of ['randread', 'randwrite'] as const) {
      const c = `${rw}-4k-qd32`;
      if (!ctx.wants(c)) continue;
      ctx.progress(`${c}: ${ctx.runs} interleaved runs of ${seconds} s each against qingtian, nbdkit memory, qemu-nbd`);
      const s = await sampleAll(ctx.runs, {
        qingtian: () => fio(qingtian, rw, sizeBytes, seconds),
        nbdkit: () => fio(nbdkit, rw, sizeBytes, seconds),
        qemu: () => fio(qemu, rw, sizeBytes, seconds),
      });
      const q = median(s['qingtian']!);
      const metric = 'IOPS, fio nbd engine, 4 KiB, QD32, loopback TCP (qingtian: log + RS(4,2) + DIF, tmpfs)';
      ctx.report({
        case: c,
        metric,
        value: q,
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'qemu-nbd, raw file on the same tmpfs', value: median(s['qemu']!) },
      });
      ctx.report({
        case: c,
        metric,
        value: q,
        unit: 'IOPS',
        better: 'higher',
        peer: { name: 'nbdkit memory plugin', value: median(s['nbdkit']!) },
      });
    }
    const st = await srv.stats();
    ctx.progress(`qingtian served ${st.requests} requests on ${st.connections} connections`);
    await srv.close();
  } finally {
    for (const ch of children) ch.kill('SIGTERM');
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
