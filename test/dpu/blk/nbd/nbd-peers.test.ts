import { execFile, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NbdExportServer } from '../../../../src/dpu/blk/nbd/nbd-export-server.js';
import { Storage } from '../../../../src/dpu/blk/storage.js';
import type { StorageVolume } from '../../../../src/dpu/blk/storage-volume.js';
import { HostMemory } from '../../../../src/memory/host-memory.js';
import { removeDir, tmpDir } from '../helpers.js';

const run = promisify(execFile);

/** Real NBD clients no one here wrote (Debian qemu-utils, fio, libnbd-bin; .ci/run installs them). */
const TOOLS = ['qemu-io', 'qemu-img', 'fio', 'nbdinfo'] as const;
const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
if (missing.length > 0) {
  process.stderr.write(
    `nbd-peers: skipping the real-peer tests: ${missing.join(', ')} not installed (apt-get install -y qemu-utils fio libnbd-bin)\n`,
  );
}
const has = (t: (typeof TOOLS)[number]): boolean => !missing.includes(t);

const SIZE = 32 << 20;
const dir = tmpDir('nbdpeer');
const storage = new Storage(new HostMemory({ sizeBytes: 256 << 20 }));
let vol: StorageVolume;
let srv: NbdExportServer;
let tcp = '';
let unix = '';

beforeAll(async () => {
  vol = await storage.createVolume({ dir: `${dir}/v`, name: 'peer', sizeBytes: SIZE });
  srv = await storage.serveNbd({ tcp: { port: 0 }, unix: `${dir}/nbd.sock` });
  tcp = srv.uri('peer');
  unix = `nbd+unix:///peer?socket=${dir}/nbd.sock`;
});

afterAll(async () => {
  await srv.close();
  await storage.close();
  removeDir(dir);
});

describe('real NBD peers', () => {
  it.skipIf(!has('nbdinfo'))(
    'nbdinfo reports the export size and block sizes, over TCP and the Unix socket',
    async () => {
      for (const uri of [tcp, unix]) {
        const { stdout } = await run('nbdinfo', ['--json', uri]);
        const e = (JSON.parse(stdout) as { exports: Record<string, unknown>[] }).exports[0]!;
        expect(e).toMatchObject({
          'export-name': 'peer',
          'export-size': SIZE,
          block_size_minimum: 4096,
          block_size_preferred: 4096,
          block_size_maximum: 4 << 20,
          can_flush: true,
          can_fua: true,
          can_trim: true,
          can_zero: true,
          can_multi_conn: true,
        });
      }
    },
  );

  it.skipIf(!has('qemu-io'))('qemu-io writes patterns and reads them back verified, aligned or not', async () => {
    const ok = await run('qemu-io', [
      '-f',
      'raw',
      '-c',
      'write -P 0xab 0 1M',
      '-c',
      'write -P 0x5c 1M 4k',
      '-c',
      'write -P 0x11 3000 9000',
      '-c',
      'write -z 2M 64k',
      '-c',
      'flush',
      tcp,
    ]);
    expect(ok.stdout).toMatch(/wrote 9000\/9000 bytes at offset 3000/);
    const check = await run('qemu-io', [
      '-f',
      'raw',
      '-c',
      'read -P 0xab 0 3000',
      '-c',
      'read -P 0x11 3000 9000',
      '-c',
      'read -P 0xab 12000 1036576',
      '-c',
      'read -P 0x5c 1M 4k',
      '-c',
      'read -P 0 2M 64k',
      unix,
    ]);
    expect(check.stdout).not.toMatch(/verification failed/);
    expect(check.stdout.match(/^read /gm)?.length).toBe(5);
    // And a wrong pattern is caught (the check can fail).
    const wrong = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xcd 0 4k', tcp]).catch(
      (e: { stdout: string }) => e,
    );
    expect(wrong.stdout).toMatch(/Pattern verification failed/);
  });

  it.skipIf(!has('qemu-io'))(
    'eight qemu-io clients at once, over TCP and the Unix socket, each write a region and read all back',
    async () => {
      const REGION = 512 << 10;
      const base = 8 << 20;
      const uri = (i: number): string => (i % 2 === 0 ? tcp : unix);
      const pattern = (i: number): string => `0x${(0x30 + i).toString(16)}`;
      // Eight connections to one export at the same time, interleaved 4 KiB writes, FUA on odd ones.
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => {
          const cmds: string[] = [];
          for (let off = 0; off < REGION; off += 64 << 10)
            cmds.push('-c', `write ${i % 2 ? '-f ' : ''}-P ${pattern(i)} ${base + i * REGION + off} 64k`);
          return run('qemu-io', ['-f', 'raw', ...cmds, '-c', 'flush', uri(i)]);
        }),
      );
      // Each region read back through the other kind of socket (a different connection).
      const reads = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          run('qemu-io', ['-f', 'raw', '-c', `read -P ${pattern(i)} ${base + i * REGION} ${REGION}`, uri(i + 1)]),
        ),
      );
      for (const r of reads) {
        expect(r.stdout).not.toMatch(/verification failed/);
        expect(r.stdout).toMatch(/^read 524288\/524288 bytes/m);
      }
      const st = await srv.stats();
      expect(st.connections).toBeGreaterThanOrEqual(16);
      expect(st.failed).toBe(0);
    },
  );

  it.skipIf(!has('qemu-img'))('qemu-img converts an image in and out, and compares it equal', async () => {
    const src = `${dir}/src.img`;
    const img = Buffer.alloc(SIZE);
    randomFillSync(img, 0, 8 << 20);
    randomFillSync(img, 20 << 20, 4 << 20);
    writeFileSync(src, img);
    await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', src, tcp]);
    const cmp = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, unix]);
    expect(cmp.stdout).toMatch(/Images are identical/);
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', unix, `${dir}/out.img`]);
    expect(readFileSync(`${dir}/out.img`).equals(img)).toBe(true);
    // A difference is seen: change one byte in the volume through qemu-io, compare again.
    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x42 16M 4k', tcp]);
    const diff = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', src, tcp]).catch(
      (e: { stdout: string; code: number }) => e,
    );
    expect(diff.stdout).toMatch(/Content mismatch at offset 16777216/);
  });

  it.skipIf(!has('fio'))("fio's nbd engine: a randwrite job with verify=crc32c passes", async () => {
    const { stdout } = await run(
      'fio',
      [
        '--name=verify',
        '--ioengine=nbd',
        `--uri=${tcp}`,
        '--rw=randwrite',
        '--bs=4k',
        '--size=16M',
        '--iodepth=16',
        '--verify=crc32c',
        '--do_verify=1',
        '--verify_fatal=1',
        '--verify_state_save=0',
        '--output-format=json',
      ],
      { cwd: dir },
    );
    // fio may print notices before its JSON.
    const job = (
      JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
        jobs: { error: number; read: { io_bytes: number }; write: { io_bytes: number } }[];
      }
    ).jobs[0]!;
    expect(job.error).toBe(0);
    expect(job.write.io_bytes).toBe(16 << 20);
    expect(job.read.io_bytes).toBe(16 << 20);
    const s = await vol.stats();
    expect(s.reads.difErrors).toBe(0);
    expect((await vol.check({ deep: true })).ok).toBe(true);
  });
});
