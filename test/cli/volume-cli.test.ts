import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';
import { Volume } from '../../src/dpu/blk/volume/volume.js';
import { decode, hostBuffer, pattern, removeDir, tmpDir } from '../dpu/blk/helpers.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
const dir = tmpDir('vcli');
afterAll(() => removeDir(dir));

describe('qingtian volume and nbd serve', () => {
  const vdir = join(dir, 'v');

  it('create, inspect, scrub a flipped bit, rebuild a deleted disk file', () => {
    const c = cli('volume', 'create', vdir, '--size', '16M', '--name', 'clivol', '--json');
    expect(c.stderr).toBe('');
    expect(JSON.parse(c.stdout)).toMatchObject({
      name: 'clivol',
      sizeBytes: 16 << 20,
      geometry: { dataDisks: 4, parityDisks: 2 },
    });
    const v = Volume.open(vdir);
    const buf = hostBuffer(64 * 4096);
    for (let b = 0; b < 64; b++) pattern(buf.view, b * 4096, 100 + b, 1);
    expect(v.write(100, 64, buf.addr)).toBe(0);
    v.flush();
    const where = v.locate(120)!;
    v.close();
    const fd = openSync(where.file, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, where.offset + 5);
    byte[0] = byte[0]! ^ 0x10;
    writeSync(fd, byte, 0, 1, where.offset + 5);
    closeSync(fd);

    const s = cli('volume', 'scrub', vdir, '--json');
    expect(s.status).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({ difErrors: 1, repaired: 1, unrecoverable: 0 });

    rmSync(join(vdir, 'disk-3.img'));
    const i1 = cli('volume', 'inspect', vdir, '--deep', '--json');
    expect(i1.status).toBe(0);
    const st1 = JSON.parse(i1.stdout) as { disks: { state: string }[]; check: { ok: boolean; blocksVerified: number } };
    expect(st1.disks[3]!.state).toBe('lost');
    expect(st1.check).toMatchObject({ ok: true, blocksVerified: 64 });
    const text = cli('volume', 'inspect', vdir);
    expect(text.stdout).toMatch(/disks: 0:ok 1:ok 2:ok 3:lost 4:ok 5:ok/);

    const r = cli('volume', 'rebuild', vdir, '--disk', '3', '--json');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ disk: 3, done: true, stripesFailed: 0 });
    expect(cli('volume', 'inspect', vdir).stdout).toMatch(/disks: 0:ok 1:ok 2:ok 3:ok 4:ok 5:ok/);
    expect(cli('volume', 'rebuild', vdir, '--disk', '3').stderr).toMatch(
      /QT_DEVICE_STATE: volume rebuild: disk 3 is not lost/,
    );

    // Every block back, with two other disks gone.
    rmSync(join(vdir, 'disk-0.img'));
    rmSync(join(vdir, 'disk-1.img'));
    const again = Volume.open(vdir);
    for (let b = 0; b < 64; b++) {
      expect(again.read(100 + b, 1, buf.addr)).toBe(0);
      expect(decode(buf.view, 0)).toEqual({ lba: 100 + b, version: 1 });
    }
    again.close();
    buf.free();
  });

  it('inspect refuses a format-1 volume with QT_FORMAT_VERSION and upgrades it with --upgrade', () => {
    const udir = join(dir, 'v1');
    const v = Volume.create({ dir: udir, sizeBytes: 1 << 20 });
    const buf = hostBuffer(4 * 4096);
    for (let b = 0; b < 4; b++) pattern(buf.view, b * 4096, b, 1);
    expect(v.write(0, 4, buf.addr)).toBe(0);
    v.flush();
    const units = [0, 1, 2, 3].map((lba) => v.locate(lba)!);
    v.close();
    // What format 1 wrote: application tag 0 in every block's PI, no appTag in volume.json.
    for (const u of units) {
      const fd = openSync(u.file, 'r+');
      writeSync(fd, Buffer.alloc(2), 0, 2, u.offset + 4096 + 2);
      closeSync(fd);
    }
    const sbFile = join(udir, 'volume.json');
    const sb = JSON.parse(readFileSync(sbFile, 'utf8')) as Record<string, unknown>;
    delete sb['appTag'];
    writeFileSync(sbFile, JSON.stringify({ ...sb, version: 1 }));
    const refused = cli('volume', 'inspect', udir);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/QT_FORMAT_VERSION: .*version: expected 2, got 1.*--upgrade/);
    const up = cli('volume', 'inspect', udir, '--upgrade', '--deep', '--json');
    expect(up.status).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({
      upgrade: { blocksRewritten: 4, blocksUnreadable: 0 },
      check: { ok: true, blocksVerified: 4 },
    });
    expect(cli('volume', 'inspect', udir).stdout).not.toMatch(/upgraded/);
    buf.free();
  });

  it('refuses bad sizes with the option named', () => {
    const r = cli('volume', 'create', join(dir, 'bad'), '--size', 'lots');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--size: expected a size such as 1G/);
  });

  it('nbd serve exports a volume until SIGTERM and closes it cleanly', async () => {
    const sock = join(dir, 'serve.sock');
    const child = spawn(process.execPath, [bin, 'nbd', 'serve', vdir, '--unix', sock], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    while (!out.includes('serving')) await new Promise((r) => setTimeout(r, 20));
    expect(out).toMatch(/serving clivol: nbd\+unix:\/\/\/clivol\?socket=/);
    if (spawnSync('sh', ['-c', 'command -v nbdinfo']).status === 0) {
      const info = spawnSync('nbdinfo', ['--size', `nbd+unix:///clivol?socket=${sock}`], { encoding: 'utf8' });
      expect(info.stdout.trim()).toBe(String(16 << 20));
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/stopping: \d+ connections/);
  });
});
