import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';
import { TrustedKeys } from '../../src/ops/hot-swap/signature.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 170_000 });
const testKernel = (name: string): string => join(packageRoot(), 'build', 'test-kernels', `${name}.wasm`);

describe('qingtian keys and qingtian hotswap', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qt-hotswap-'));
  const key = join(dir, 'ops.key');
  const pub = join(dir, 'ops.pub');

  it('keys gen writes an Ed25519 pair (private key readable by its owner only) and will not overwrite it', () => {
    const r = cli('keys', 'gen', '--out', dir, '--name', 'ops');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^key id [0-9a-f]{16} \(Ed25519\)/);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(pub, 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const again = cli('keys', 'gen', '--out', dir, '--name', 'ops');
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^qingtian: QT_INVALID_ARGUMENT: keys gen: .*ops\.key exists; pass --force/);
  });

  it('keys sign writes a signature that the public key verifies', () => {
    const r = cli('keys', 'sign', testKernel('virtio-v2'), '--key', key, '--out', join(dir, 'v2.sig'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^signed virtio@2\.0\.0 \(sha256 [0-9a-f]{64}\) with key [0-9a-f]{16}: /);
    const trusted = new TrustedKeys([readFileSync(pub, 'utf8')]);
    expect(trusted.verify(readFileSync(testKernel('virtio-v2')), readFileSync(join(dir, 'v2.sig'), 'utf8'))).toBe(
      trusted.ids()[0],
    );
    const bad = cli('keys', 'sign', testKernel('bad-data'), '--key', key);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/QT_KERNEL_REJECTED: .*data segments/);
  });

  it('hotswap swaps the signed module in under audited traffic and reports the pause and zero lost requests', () => {
    const r = cli(
      'hotswap',
      testKernel('virtio-v2'),
      '--sig',
      join(dir, 'v2.sig'),
      '--trust',
      pub,
      '--seconds',
      '1',
      '--grace-ms',
      '100',
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/virtio 1\.0\.0 → 2\.0\.0/);
    expect(r.stdout).toMatch(/committed on core 0 at its burst boundary: pause [\d.]+ µs, 1 job\(s\) moved/);
    expect(r.stdout).toMatch(/whole swap \(stage \+ self-test \+ commit\): [\d.]+ ms/);
    expect(r.stdout).toMatch(/served by 1\.0\.0: \d+, 2\.0\.0: \d+; lost 0, duplicated 0, wrong 0/);
  });

  it('hotswap --json reports the swap, its outcome and the traffic audit', () => {
    const r = cli(
      'hotswap',
      testKernel('virtio-v2'),
      '--sig',
      join(dir, 'v2.sig'),
      '--trust',
      pub,
      '--seconds',
      '1',
      '--grace-ms',
      '50',
      '--json',
    );
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as {
      swap: { to: string; cores: { pauseNs: number }[] };
      outcome: { outcome: string };
      traffic: { lost: number; duplicated: number; byVersion: Record<string, number> };
    };
    expect(j.swap.to).toBe('2.0.0');
    expect(j.swap.cores[0]!.pauseNs).toBeGreaterThanOrEqual(0);
    expect(j.outcome.outcome).toBe('kept');
    expect(j.traffic).toMatchObject({ lost: 0, duplicated: 0 });
    expect(j.traffic.byVersion['2.0.0']).toBeGreaterThan(0);
  });

  it('bench hotswap --json: schema lines, 20 swaps under traffic, none lost, every swap seen by the guest', () => {
    const r = cli('bench', 'hotswap', '--json', '--quick', '--runs', '1');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { suite: string; case: string; metric: string; value: number; peer?: { value: number } },
      );
    const get = (c: string, m: string): number => lines.find((l) => l.case === c && l.metric === m)!.value;
    for (const l of lines) expect(l.suite).toBe('hotswap');
    expect(get('swap-under-traffic', 'swaps')).toBe(20);
    expect(get('swap-under-traffic', 'version-changes-seen')).toBe(20);
    expect(get('swap-under-traffic', 'lost-requests')).toBe(0);
    expect(get('swap-under-traffic', 'duplicated-requests')).toBe(0);
    for (const m of ['pause-p50', 'pause-p99', 'whole-swap-p50'])
      expect(get('swap-under-traffic', m)).toBeGreaterThan(0);
    // commit-rtt is compared with detach + attach in the same guest mode as the peer's (interrupts).
    const commit = lines.find((l) => l.case === 'swap-under-traffic-guest-irq' && l.metric === 'commit-rtt-p50')!;
    expect(commit.value).toBeGreaterThan(0);
    expect(commit.peer).toMatchObject({ name: 'detach+attach, guest on interrupts' });
    expect(lines.some((l) => l.case === 'swap-under-traffic' && l.metric.startsWith('commit-rtt'))).toBe(false);
    expect(lines.find((l) => l.metric === 'traffic')!.peer!.value).toBeGreaterThan(0);
    expect(get('swap-no-traffic', 'pause-p50')).toBeGreaterThan(0);
    expect(get('swap-under-traffic-guest-irq', 'version-changes-seen')).toBe(20);
    expect(get('swap-under-traffic-guest-irq', 'lost-requests')).toBe(0);
    expect(get('swap-under-traffic-guest-irq', 'duplicated-requests')).toBe(0);
  }, 180_000); // three suites of 20 swaps: about 20 s alone, three times that on a loaded machine

  it('hotswap rolls back a version that traps (exit 3) and refuses an untrusted signature (exit 2), losing nothing', () => {
    cli('keys', 'sign', testKernel('virtio-v3-trap'), '--key', key, '--out', join(dir, 'v3.sig'));
    const r = cli(
      'hotswap',
      testKernel('virtio-v3-trap'),
      '--sig',
      join(dir, 'v3.sig'),
      '--trust',
      pub,
      '--seconds',
      '1',
      '--grace-ms',
      '5000',
    );
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/rolled-back: core 0: job #\d+ failed on virtio@3\.0\.0/);
    expect(r.stdout).toMatch(/served by 1\.0\.0: \d+; lost 0, duplicated 0, wrong 0/);
    cli('keys', 'gen', '--out', dir, '--name', 'other');
    const u = cli(
      'hotswap',
      testKernel('virtio-v2'),
      '--sig',
      join(dir, 'v2.sig'),
      '--trust',
      join(dir, 'other.pub'),
      '--seconds',
      '1',
    );
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(
      /^qingtian: QT_BAD_SIGNATURE: module signed by key [0-9a-f]{16}, which this host does not trust/,
    );
  });
});
