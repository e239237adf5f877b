import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'qt-sim-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fixture = join(packageRoot(), 'data', 'websearch-cdf.txt');

describe('qingtian sim', () => {
  it('writes summary.json in the documented schema, the CSVs and the chart', () => {
    const out = join(dir, 'a');
    const r = cli(
      'sim',
      '--topo',
      'fattree:4',
      '--workload',
      fixture,
      '--load',
      '0.3',
      '--cc',
      'ldcp,hpcc',
      '--duration',
      '0.001',
      '--seed',
      '7',
      '--out',
      out,
    );
    expect(r.status).toBe(0);
    // Not a terminal: no progress on stderr.
    expect(r.stderr).toBe('');
    const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      algorithms: Record<string, Record<string, unknown>>;
    };
    expect(Object.keys(s.algorithms)).toEqual(['ldcp', 'hpcc']);
    for (const a of Object.values(s.algorithms)) {
      for (const k of [
        'shortFlowP99Slowdown',
        'shortFlowP95Slowdown',
        'bins',
        'pfcPauses',
        'drops',
        'maxQueueBytes',
        'p99QueueBytes',
        'events',
        'eventsPerSec',
      ])
        expect(a).toHaveProperty(k);
      const bins = a['bins'] as { maxSize: number; p50: number; p95: number; p99: number }[];
      expect(bins).toHaveLength(20);
      expect(Object.keys(bins[0]!).sort()).toEqual(['maxSize', 'p50', 'p95', 'p99']);
      expect(a['shortFlowP99Slowdown'] as number).toBeGreaterThanOrEqual(1);
    }
    for (const f of [
      'bins.csv',
      'slowdown.svg',
      'ldcp-flows.csv',
      'ldcp-ports.csv',
      'ldcp-queues.json',
      'hpcc-flows.csv',
    ])
      expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'slowdown.svg'), 'utf8')).toMatch(
      /^<svg [^>]*>[\s\S]*99th-pct FCT slowdown[\s\S]*<\/svg>\n$/,
    );
    // same seed, same summary (but for wall-clock figures)
    const out2 = join(dir, 'b');
    expect(
      cli(
        'sim',
        '--topo',
        'fattree:4',
        '--workload',
        fixture,
        '--load',
        '0.3',
        '--cc',
        'ldcp,hpcc',
        '--duration',
        '0.001',
        '--seed',
        '7',
        '--out',
        out2,
      ).status,
    ).toBe(0);
    const strip = (p: string) =>
      readFileSync(p, 'utf8').replace(/"(eventsPerSec|packetsPerSec|wallSeconds)": [\d.e+-]+/g, '');
    expect(strip(join(out2, 'summary.json'))).toBe(strip(join(out, 'summary.json')));
  });

  it('bad options are errors with a stable code that name the option', () => {
    const r = cli(
      'sim',
      '--topo',
      'fattree:4',
      '--workload',
      fixture,
      '--load',
      '1.5',
      '--cc',
      'ldcp',
      '--duration',
      '0.001',
      '--out',
      join(dir, 'c'),
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^qingtian: QT_INVALID_ARGUMENT: sim\.load: expected a number in \[0, 1\], got 1\.5/);
    const r2 = cli(
      'sim',
      '--topo',
      'fattree:4',
      '--workload',
      fixture,
      '--cc',
      'ldcp,cubic',
      '--duration',
      '0.001',
      '--out',
      join(dir, 'c'),
    );
    expect(r2.stderr).toMatch(/QT_INVALID_ARGUMENT: --cc: expected a comma-separated list of ldcp, dcqcn/);
    const r3 = cli('sim', '--topo', 'fattree:5', '--cc', 'ldcp', '--duration', '0.001', '--out', join(dir, 'c'));
    expect(r3.stderr).toMatch(/QT_INVALID_ARGUMENT: fattree:K: K must be an even integer/);
    expect(existsSync(join(dir, 'c'))).toBe(false);
  });
});
