import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';
import { startDaemon, state, type D } from '../helpers/daemon.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');
const example = join(packageRoot(), 'examples', 'host.yaml');

/** Runs the CLI without blocking this process (the daemon under test answers from it). */
function cli(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args]);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('qingtian up / ps / down', () => {
  let d: D;
  let sock: string;
  beforeAll(async () => {
    d = await startDaemon({
      host: {
        memory: { sizeBytes: 1024 << 20 },
        dpu: { cores: 2, mode: 'adaptive' },
        vms: { poolMiB: 64 },
        storage: { arenaBytes: 32 << 20 },
      },
    });
    sock = d.daemon.address.socketPath;
  });
  afterAll(async () => d.stop());

  it('brings the daemon to the example host file, and applying it again changes nothing', async () => {
    const r = await cli('up', example, '--socket', sock);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      '+ kernel core: load',
      '+ kernel flow: load',
      '~ core 1: mode adaptive → interrupt',
      '+ job scrub0: scrub on core 0',
      '+ vpc blue: create',
      '+ subnet web: create',
      '+ security-group ping: create',
      '+ port web-1: create',
      '+ port web-2: create',
      '+ route sinkhole: create',
      '+ volume data0: create',
      '+ vm web-1: 1 vCPU, 8 MiB, running',
      '+ vm web-2: 1 vCPU, 4 MiB, paused',
    ]);
    expect(d.daemon.host.dpu.core(1).mode()).toBe('interrupt');
    expect(d.daemon.host.vms.list().map((v) => [v.name, v.state])).toEqual([
      ['web-1', 'running'],
      ['web-2', 'paused'],
    ]);
    expect(d.daemon.host.network.list().ports.map((p) => p.name)).toEqual(['web-1', 'web-2']);
    expect(d.daemon.host.storage.volumes().map((v) => v.name)).toEqual(['data0']);
    const before = await state(d);
    const again = await cli('up', example, '--socket', sock, '--json');
    expect(again.status).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual({ changes: [] });
    expect(await state(d)).toEqual(before);
  });

  it('applies the difference of an edited file', async () => {
    const edited = join(d.dir, 'edited.yaml');
    writeFileSync(
      edited,
      [
        'kernels: [core]',
        "cores: { '1': { mode: interrupt, paused: true } }",
        'jobs:',
        '  scrub0: { core: 0, kind: scrub, scratchBytes: 4194304, budget: 32 }',
        '  extra: { core: 1, kind: scrub, scratchBytes: 65536, budget: 8 }',
        'vms:',
        '  web-1: { vcpus: 1, memoryMiB: 8, devices: [{ kind: vsock, cid: 42 }] }',
        '  web-2: { vcpus: 1, memoryMiB: 4, state: running }',
      ].join('\n'),
    );
    const r = await cli('up', edited, '--socket', sock);
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean)).toEqual([
      '~ core 1: pause',
      // web-1 loses its disk over data0: the VM goes first, the volume after it.
      '- vm web-1: spec changed',
      '- volume data0: not in the file',
      '- route sinkhole: not in the file',
      '- port web-1: not in the file',
      '- port web-2: not in the file',
      '- security-group ping: not in the file',
      '- subnet web: not in the file',
      '- vpc blue: not in the file',
      '- job scrub0: spec changed',
      '+ job scrub0: scrub on core 0',
      '+ job extra: scrub on core 1',
      '+ vm web-1: 1 vCPU, 8 MiB, running',
      '~ vm web-2: paused → running',
    ]);
    const ps = await cli('ps', '--socket', sock, '--json');
    expect(ps.status).toBe(0);
    const view = JSON.parse(ps.stdout) as {
      jobs: { name: string; spec: { budget: number } }[];
      cores: { paused: boolean }[];
    };
    expect(view.jobs.map((j) => [j.name, j.spec.budget])).toEqual([
      ['scrub0', 32],
      ['extra', 8],
    ]);
    expect(view.cores.map((c) => c.paused)).toEqual([false, true]);
    const table = await cli('ps', '--socket', sock);
    expect(table.stdout).toMatch(/^CORE +STATE +MODE/m);
    expect(table.stdout).toMatch(/^scrub0 +0 +scrub +running/m);
    expect(table.stdout).toMatch(/^web-2 +running +1 +4 MiB/m);
  });

  it('refuses a bad host file before changing anything, naming the field; exit 2', async () => {
    const before = await state(d);
    const bad = join(d.dir, 'bad.yaml');
    for (const [text, field] of [
      ['jobs:\n  a: { core: 0, kind: scrub, scratchBytes: 65536, budget: 8, colour: red }', 'jobs.a.colour'],
      ['jobs:\n  a: { core: 0, kind: scrub, scratchBytes: 1000, budget: 8 }', 'jobs.a.scratchBytes'],
      ['cores: { "0": { mode: turbo } }', 'cores.0.mode'],
      ['hosts: {}', 'hosts'],
      ['host: { cores: 3 }', 'host.cores'],
      ['cores: { "5": { mode: poll } }', 'cores.5'],
    ] as const) {
      writeFileSync(bad, text);
      const r = await cli('up', bad, '--socket', sock);
      expect(r.status, text).toBe(2);
      expect(r.stderr, text).toContain(`${field}: `);
      expect(await state(d)).toEqual(before);
    }
    writeFileSync(bad, 'jobs: [unclosed');
    const r = await cli('up', bad, '--socket', sock);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/QT_BAD_FORMAT/);
  }, 240_000);

  it('down removes every job and resumes paused cores; says so when no daemon answers', async () => {
    const r = await cli('down', '--socket', sock);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('- job scrub0: down');
    expect(r.stdout).toContain('~ core 1: resume');
    expect(r.stdout).toContain('- vm web-1: down');
    expect(((await d.client.send('GET', '/jobs')).json as unknown[]).length).toBe(0);
    expect(d.daemon.host.vms.list()).toEqual([]);
    expect((await cli('down', '--socket', sock)).stdout).toBe('down: no changes\n');
    const none = await cli('ps', '--socket', join(d.dir, 'nobody.sock'));
    expect(none.status).toBe(4);
    expect(none.stderr).toMatch(/no daemon answers on .*nobody\.sock; start one with qingtian serve/);
  });
});
