import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type DaemonOptions } from '../../src/orchestrator/daemon/daemon.js';
import { DaemonClient } from '../../src/orchestrator/daemon/daemon-client.js';
import { expect } from 'vitest';

/** A daemon on a socket in a fresh temp dir, a client for it, and one call that ends both. */
export async function startDaemon(
  options: Partial<DaemonOptions> = {},
): Promise<{ daemon: Daemon; client: DaemonClient; dir: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'qt-daemon-'));
  const daemon = await Daemon.start({
    socketPath: join(dir, 'api.sock'),
    host: { memory: { sizeBytes: 64 << 20 }, dpu: { cores: 1, mode: 'adaptive' } },
    sampleMs: 100,
    dataDir: join(dir, 'data'),
    ...options,
  });
  const client = new DaemonClient(daemon.address.socketPath);
  return {
    daemon,
    client,
    dir,
    stop: async () => {
      client.close();
      await daemon.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type D = Awaited<ReturnType<typeof startDaemon>>;

/** What a refused request must leave as it was: every core's mode and pause, the kernels, the regions. */
export async function state(d: D): Promise<unknown> {
  const cores = (await d.client.send('GET', '/cores')).json as { id: number; mode: string; paused: boolean }[];
  return {
    cores: cores.map((c) => ({ id: c.id, mode: c.mode, paused: c.paused })),
    kernels: (await d.client.send('GET', '/kernels')).json,
    jobs: ((await d.client.send('GET', '/jobs')).json as { name: string; spec: unknown }[]).map((j) => [
      j.name,
      j.spec,
    ]),
    modules: ((await d.client.send('GET', '/swaps')).json as { modules: unknown }).modules,
    vms: ((await d.client.send('GET', '/vms')).json as { name: string; state: string; spec: unknown }[]).map((v) => [
      v.name,
      v.state,
      v.spec,
    ]),
    network: await Promise.all(
      ['/vpcs', '/subnets', '/security-groups', '/ports', '/routes'].map(async (p) =>
        ((await d.client.send('GET', p)).json as { name: string; spec: unknown }[]).map((x) => [x.name, x.spec]),
      ),
    ),
    volumes: ((await d.client.send('GET', '/volumes')).json as { name: string; spec: unknown }[]).map((v) => [
      v.name,
      v.spec,
    ]),
    regions: d.daemon.host.memory.regions().map((r) => `${r.name}@${r.base}+${r.sizeBytes}`),
  };
}

/** Sends a request that must be refused with `status` (naming `field`), and checks that it changed nothing. */
export async function refused(d: D, method: string, path: string, body: unknown, status: number, field?: string) {
  const before = await state(d);
  const r = await d.client.send(method, path, body);
  expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
  const err = r.json as { code: string; message: string; field?: string };
  expect(err.code).toMatch(/^QT_/);
  if (field !== undefined) {
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  }
  expect(await state(d)).toEqual(before);
  return err;
}
