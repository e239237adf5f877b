import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';
import { DaemonClient } from '../../src/orchestrator/daemon/daemon-client.js';

const bin = join(packageRoot(), 'bin', 'qingtian.js');

/** Starts `qingtian serve` in its own process; resolves once it says it listens. */
async function serve(sock: string) {
  const child = spawn(process.execPath, [
    bin,
    'serve',
    '--socket',
    sock,
    '--cores',
    '2',
    '--memory-mib',
    '64',
    '--sample-ms',
    '100',
  ]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  while (!stdout.includes('listening on')) {
    if (child.exitCode !== null) throw new Error(`serve exited early: ${stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return { child, exited, out: () => stdout, err: () => stderr };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('qingtian serve', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} mid-traffic: requests finish or are refused cleanly, every core stops, the socket goes, exit 0`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'qt-serve-'));
      const sock = join(dir, 'api.sock');
      const s = await serve(sock);
      const client = new DaemonClient(sock);
      for (const core of [0, 1]) {
        const r = await client.send('PUT', `/jobs/load${core}`, {
          core,
          kind: 'scrub',
          scratchBytes: 1 << 20,
          budget: 64,
        });
        expect(r.status).toBe(200);
      }
      // Clients keep reading and changing while the signal lands.
      let stop = false;
      const statuses: number[] = [];
      const errors: string[] = [];
      const traffic = Array.from({ length: 4 }, async (_, i) => {
        while (!stop) {
          try {
            const r =
              i === 0
                ? await client.send('PATCH', '/cores/1', { mode: 'poll' })
                : await client.send('GET', i === 1 ? '/metrics' : '/cores');
            statuses.push(r.status);
          } catch (e) {
            errors.push((e as NodeJS.ErrnoException).code ?? String(e));
            return;
          }
        }
      });
      while (statuses.length < 50) await new Promise((r) => setTimeout(r, 5));
      s.child.kill(signal);
      const exit = await s.exited;
      stop = true;
      await Promise.all(traffic);
      client.close();
      expect(exit).toEqual({ code: 0, signal: null });
      expect(s.err()).toBe('');
      expect(s.out()).toContain(`${signal}, shutting down`);
      expect(s.out()).toMatch(/stopped\n$/);
      // Every answer was a success or a refusal of the shutdown, never a server error.
      expect(statuses.filter((st) => st !== 200 && st !== 503)).toEqual([]);
      // After the exit only connection errors remain.
      expect(errors.every((c) => ['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE'].includes(c))).toBe(true);
      expect(existsSync(sock)).toBe(false);
      expect(alive(s.child.pid!)).toBe(false);
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
