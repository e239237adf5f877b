import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 170_000 });

describe('qingtian CLI', () => {
  it('--help lists the commands', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/demo \[options\]/);
    expect(r.stdout).toMatch(/bench \[options\] \[suite\]/);
  });

  // Eleven chapters, VMs booting among them, take longer than the default 60 s on a loaded 2-CPU machine.
  it('demo tells what it did and exits 0', () => {
    const r = cli('demo', '--seconds', '1');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/booted: 1024 MiB host memory/);
    expect(r.stdout).toMatch(/scrub verified: \d+ MiB checked word by word, 0 wrong/);
    expect(r.stdout).toMatch(/failed alone/);
    expect(r.stdout).toMatch(/10 swaps, 1\.0\.0 ↔ 1\.1\.0: per-core pause p50 [\d.]+ µs/);
    expect(r.stdout).toMatch(/lost 0, duplicated 0, wrong 0/);
    expect(r.stdout).toMatch(/rebuilt on the DPU: [\d.]+ GB\/s; every byte equal to before the loss: true/);
    expect(r.stdout).toMatch(/DIF verify of the whole volume after the rebuild: 0 failing shards/);
    expect(r.stdout).toMatch(/one bit flipped .*: caught: LBA \d+, guard expected 0x[0-9a-f]+, found 0x[0-9a-f]+/);
    // The VMs are the actors: booted through host.vms, with NICs, a disk, a hotplugged NIC.
    expect(r.stdout).toMatch(/VMs vm1 198\.19\.1\.10 and vm2 198\.19\.1\.20 .* booted through host\.vms/);
    expect(r.stdout).toMatch(/every read checked against what it wrote: 0 wrong/);
    expect(r.stdout).toMatch(
      /net1 was unplugged mid-stream: (\d+) chains taken by the device, \1 completed, 0 left half-done/,
    );
    expect(r.stdout).toMatch(/db-1 and app-1 destroyed: \d+ regions of theirs .* before, 0 after/);
    // VMs that drive their own devices: ping and a checked disk from their own vCPUs.
    expect(r.stdout).toMatch(/web-3 pinged store-3 from its own vCPU: 5\/5 answered/);
    expect(r.stdout).toMatch(/store-3 paused: 0\/3 pings answered .*; resumed: 3\/3/);
    expect(r.stdout).toMatch(/store-3's vCPU 0 checked its disk: 1024 writes, 1 flush, 1024 reads .*: 0 wrong, done/);
    expect(r.stdout).toMatch(/^report \(/m);
    // Report rows state what was checked (a broken guest, the other's echoes, the shutdown).
    expect(r.stdout).toMatch(
      /malicious guest on a shared core +its device NEEDS_RESET \(B2\); the other guest kept running \(\d+ more echoes, 0 wrong\)/,
    );
    expect(r.stdout).toMatch(/fault isolation +bad job detached with status -?\d+; core answered 100 echoes after it/);
    expect(r.stdout).toMatch(
      /host shut down: \d+ DPU core\(s\) stopped, their worker pool destroyed, no core control region left/,
    );
  }, 180_000);

  it('bench --json prints one schema line per figure, with the peer from the same run', () => {
    const r = cli('bench', 'core', '--json', '--quick', '--runs', '1');
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(7);
    for (const l of lines) {
      const { spread, ...rest } = l as { spread?: { runs: number; min: number; max: number } };
      expect(Object.keys(rest).sort()).toEqual(['better', 'case', 'metric', 'peer', 'suite', 'unit', 'value', 'vs']);
      if (spread) {
        expect(Object.keys(spread).sort()).toEqual(['max', 'min', 'runs']);
        expect(spread.runs).toBe(1);
        expect(spread.min).toBeLessThanOrEqual(l.value as number);
        expect(spread.max).toBeGreaterThanOrEqual(l.value as number);
      }
      expect(l.suite).toBe('core');
      expect(['higher', 'lower']).toContain(l.better);
      const peer = l.peer as { name: string; value: number };
      expect(typeof peer.name).toBe('string');
      const ratio = (l.value as number) / peer.value;
      expect(Math.abs((l.vs as number) - ratio) / ratio).toBeLessThan(0.01); // each figure is rounded to 4 digits
    }
    expect(lines.map((l) => `${String(l.case)}/${String(l.metric)}`)).toEqual(
      expect.arrayContaining([
        'poll-round-trip/p50',
        'poll-round-trip/p99',
        'interrupt-wake-up/p50',
        'control-command/p50',
        'idle-cpu/interrupt-mode',
      ]),
    );
    expect(lines.find((l) => l.case === 'poll-round-trip' && l.metric === 'p50')?.spread).toBeDefined();
    // The machine the figures come from goes to stderr, first, leaving stdout pure JSON lines.
    expect(r.stderr.split('\n')[0]).toMatch(
      /^\[core\] machine: .+, \d+ CPUs, transparent huge pages \w+[^;]*, load \d+\.\d\d, node v\d+\.\d+\.\d+; 1 runs$/,
    );
  });

  it('bench dif --json: every line follows the schema; targets carry the declared figures of the suite', () => {
    const r = cli('bench', 'dif', '--json', '--quick', '--runs', '1');
    expect(r.status).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThanOrEqual(8);
    for (const l of lines) {
      expect(l.suite).toBe('dif');
      expect(l.unit).toBe('GB/s');
      expect((l.peer as { value: number }).value).toBeGreaterThan(0);
    }
    expect(lines.map((l) => l.case)).toEqual(expect.arrayContaining(['crc16-64KiB', 'generate+verify-4096B-blocks']));
  });

  it('bench blk --json: the virtio-blk figures carry the TS device peer and the declared targets', () => {
    const r = cli('bench', 'blk', '--json', '--quick', '--runs', '1', '--only', 'kernel');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            suite: string;
            case: string;
            metric: string;
            value: number;
            peer: { name: string; value: number };
          },
      );
    expect(lines.map((l) => `${l.case} ${l.metric}`)).toEqual(['kernel-randread-4k-qd128-null iops']);
    for (const l of lines) {
      expect(l.suite).toBe('blk');
      expect(l.value).toBeGreaterThan(0);
      expect(l.peer).toMatchObject({ name: 'ts-blk-device' });
      expect(l.peer.value).toBeGreaterThan(0);
    }
  });

  it("bench --only keeps the cases whose name contains the text, and skips the others' work", () => {
    const r = cli('bench', 'flow', '--json', '--quick', '--runs', '1', '--only', 'lpm4');
    expect(r.status).toBe(0);
    const cases = new Set(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { case: string }).case),
    );
    expect([...cases]).toEqual(['lpm4-100k']);
    expect(r.stderr).not.toMatch(/flow cache|classifier/);
  });

  it('an unknown suite is an error with a stable code', () => {
    const r = cli('bench', 'nosuch');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^qingtian: QT_NOT_FOUND: bench: no suite 'nosuch'; suites: core/);
  });
});
