import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 180_000 });
const haveScript = spawnSync('script', ['--version']).status === 0;
if (!haveScript)
  console.warn(
    'cli-polish.test: script(1) not found (Debian package bsdutils): no terminal to test the status line on',
  );

/** Runs the CLI on a pseudo-terminal (util-linux script), so that stdout and stderr are TTYs. */
function onTerminal(...args: string[]): { status: number | null; out: string } {
  const cmd = [process.execPath, bin, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
  // A pty nobody sized has no columns: give it a width, as a terminal window has.
  const r = spawnSync('script', ['-qefc', `stty cols 120 rows 40; ${cmd}`, '/dev/null'], {
    encoding: 'utf8',
    timeout: 180_000,
    input: '',
  });
  return { status: r.status, out: r.stdout };
}

const LEAVES = [
  ['demo'],
  ['bench'],
  ['sim'],
  ['keys', 'gen'],
  ['keys', 'sign'],
  ['hotswap'],
  ['serve'],
  ['up'],
  ['ps'],
  ['down'],
  ['volume', 'create'],
  ['volume', 'inspect'],
  ['volume', 'scrub'],
  ['volume', 'rebuild'],
  ['nbd', 'serve'],
];

describe('CLI polish', () => {
  const out = mkdtempSync(join(tmpdir(), 'qt-cli-polish-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('qingtian --help has examples and the exit codes; every command its own examples', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^Examples:$/m);
    expect(r.stdout).toMatch(
      /^Exit codes:\n {2}0 +done\n {2}1 .*\n {2}2 +refused.*\n {2}3 .*\n {2}4 +up\/ps\/down: no daemon/m,
    );
    for (const leaf of LEAVES) {
      const h = cli(...leaf, '--help');
      expect(h.status, leaf.join(' ')).toBe(0);
      expect(h.stdout, leaf.join(' ')).toMatch(/^Examples?:\n {2}qingtian /m);
    }
  }, 240_000);

  it('usage errors exit 2; refusals exit 2 naming the field', () => {
    const unknown = cli('ps', '--colour');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--colour'/);
    expect(cli('nosuchcommand').status).toBe(2);
    const bad = cli('sim', '--topo', 'incast:4', '--cc', 'ldcp', '--duration', '0.0001', '--load', '7', '--out', out);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^qingtian: QT_INVALID_ARGUMENT: sim\.load: /);
  });

  it('sim --json: one JSON object per algorithm on stdout, nothing on stderr when not a terminal', () => {
    const cdf = join(packageRoot(), 'data', 'websearch-cdf.txt');
    const r = cli(
      'sim',
      '--topo',
      'incast:4',
      '--workload',
      cdf,
      '--cc',
      'ldcp,dcqcn',
      '--duration',
      '0.0002',
      '--out',
      out,
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { cc: string; events: number });
    expect(lines.map((l) => l.cc)).toEqual(['ldcp', 'dcqcn']);
    for (const l of lines) {
      expect(l).toHaveProperty('shortFlowP99Slowdown');
      expect(l.events).toBeGreaterThan(0);
    }
  });

  it('keys gen / sign --json and serve --json print one JSON object per line', async () => {
    const gen = cli('keys', 'gen', '--out', out, '--name', 'k', '--json');
    expect(gen.status, gen.stderr).toBe(0);
    const k = JSON.parse(gen.stdout) as { keyId: string; privateKey: string; publicKey: string };
    expect(k.privateKey).toBe(join(out, 'k.key'));
    const wasm = join(packageRoot(), 'build', 'kernels', 'core.wasm');
    const sig = cli('keys', 'sign', wasm, '--key', k.privateKey, '--out', join(out, 'core.sig'), '--json');
    expect(sig.status, sig.stderr).toBe(0);
    expect(JSON.parse(sig.stdout)).toMatchObject({ module: 'core', keyId: k.keyId, signature: join(out, 'core.sig') });
    const sock = join(out, 'qt.sock');
    const child = spawn(process.execPath, [
      bin,
      'serve',
      '--socket',
      sock,
      '--cores',
      '1',
      '--memory-mib',
      '64',
      '--data-dir',
      join(out, 'data'),
      '--vm-pool-mib',
      '8',
      '--json',
    ]);
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await vi.waitFor(() => expect(text).toContain('\n'), { timeout: 60_000 });
    expect(JSON.parse(text.split('\n')[0]!)).toMatchObject({ event: 'listening', socket: sock, cores: 1, tcp: null });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { event: string }).event),
    ).toEqual(['listening', 'stopping', 'stopped']);
  }, 240_000);

  it.runIf(haveScript)('draws a status line on a terminal, and none with --json', () => {
    const live = onTerminal('bench', 'dif', '--quick', '--runs', '1', '--only', 'crc16-4KiB');
    expect(live.status).toBe(0);
    // The spinner's last frame: a tick, the suite and how many lines it reported.
    expect(live.out).toMatch(/bench dif: \d+ line\(s\) {2}[\d.]+ s/);
    const quiet = onTerminal('bench', 'dif', '--quick', '--runs', '1', '--only', 'crc16-4KiB', '--json');
    expect(quiet.status).toBe(0);
    expect(quiet.out).not.toMatch(/bench dif: /);
    for (const line of quiet.out.split(/\r?\n/).filter((l) => l.startsWith('{')))
      expect((JSON.parse(line) as { suite: string }).suite).toBe('dif');
  });
});
