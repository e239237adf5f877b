import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { Daemon } from '../../../src/orchestrator/daemon/daemon.js';
import { startDaemon } from '../../helpers/daemon.js';

describe('daemon', () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  beforeAll(async () => {
    d = await startDaemon({ tcp: { port: 0 } });
  });
  afterAll(async () => d.stop());

  it('serves the host over its socket', async () => {
    const r = await d.client.send('GET', '/host');
    expect(r.status).toBe(200);
    const host = r.json as { pid: number; cores: number; resources: string[]; memory: { totalBytes: number } };
    expect(host.pid).toBe(process.pid);
    expect(host.cores).toBe(1);
    expect(host.memory.totalBytes).toBe(64 << 20);
    expect(host.resources).toEqual(['host', 'cores', 'kernels', 'jobs', 'swaps', 'network', 'volumes', 'vms']);
  });

  it('serves the same API on loopback TCP', async () => {
    const tcp = d.daemon.address.tcp!;
    expect(tcp.host).toBe('127.0.0.1');
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: tcp.host, port: tcp.port, path: '/cores/0' }, (res) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c.toString()));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    expect((JSON.parse(body) as { id: number }).id).toBe(0);
  });

  it('serves an OpenAPI 3.1 document that a validator accepts and that lists every route', async () => {
    const r = await d.client.send('GET', '/openapi.json');
    expect(r.status).toBe(200);
    const doc = r.json as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.1.0');
    await SwaggerParser.validate(structuredClone(doc) as never);
    const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`));
    expect(routes.sort()).toEqual(
      [
        'get /host',
        'get /cores',
        'get /cores/{id}',
        'patch /cores/{id}',
        'get /kernels',
        'put /kernels/{family}',
        'get /jobs',
        'get /jobs/{name}',
        'put /jobs/{name}',
        'delete /jobs/{name}',
        'get /swaps',
        'post /swaps',
        'post /swaps/{name}/rollback',
        ...['/vpcs', '/subnets', '/security-groups', '/ports', '/routes', '/volumes', '/vms'].flatMap((p) => [
          `get ${p}`,
          `get ${p}/{name}`,
          `put ${p}/{name}`,
          `delete ${p}/{name}`,
        ]),
        'patch /vms/{name}',
        'get /events',
        'get /metrics',
        'get /openapi.json',
        'get /dashboard',
        'get /dashboard/app.js',
        'get /dashboard/dashboard.css',
        'get /dashboard/uplot.js',
        'get /dashboard/uplot.css',
      ].sort(),
    );
    // The refusal of an unknown key comes from the schema the document shows as closed.
    const patch = doc.paths['/cores/{id}']!['patch'] as {
      requestBody: { content: { 'application/json': { schema: { $ref: string } } } };
    };
    const ref = patch.requestBody.content['application/json'].schema.$ref.split('/').pop()!;
    const schemas = (r.json as { components: { schemas: Record<string, { additionalProperties?: unknown }> } })
      .components.schemas;
    expect(schemas[ref]!.additionalProperties).toBe(false);
  });

  it('answers JSON errors for unknown routes and malformed bodies', async () => {
    const nope = await d.client.send('GET', '/nope');
    expect(nope.status).toBe(404);
    expect(nope.json).toMatchObject({ code: 'QT_NOT_FOUND' });
    const bad = await d.client.send('PATCH', '/cores/0', '{"mode": ');
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ code: 'QT_BAD_FORMAT' });
  });

  it('refuses a socket another daemon answers on, and a path that is not a socket', async () => {
    const err = await Daemon.start({ socketPath: d.daemon.address.socketPath }).catch((e: unknown) => e);
    expect(isQingtianError(err, 'QT_INVALID_ARGUMENT')).toBe(true);
    const file = join(d.dir, 'not-a-socket');
    writeFileSync(file, 'keep me');
    const err2 = await Daemon.start({ socketPath: file }).catch((e: unknown) => e);
    expect(isQingtianError(err2, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  it('says which listener failed: a socket directory that does not exist, a TCP port in use', async () => {
    const noDir = await Daemon.start({ socketPath: join(d.dir, 'no', 'such', 'api.sock') }).catch((e: unknown) => e);
    expect(isQingtianError(noDir, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect((noDir as Error).message).toMatch(/^Daemon options\.socketPath: cannot listen on .*api\.sock: /);
    const busy = await Daemon.start({
      socketPath: join(d.dir, 'y.sock'),
      tcp: { port: d.daemon.address.tcp!.port },
    }).catch((e: unknown) => e);
    expect(isQingtianError(busy, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect((busy as Error).message).toMatch(/^Daemon options\.tcp: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    expect(existsSync(join(d.dir, 'y.sock'))).toBe(false);
  });

  it('refuses TCP on anything but loopback, and unknown options, before booting anything', async () => {
    for (const host of ['0.0.0.0', '192.0.2.1', 'localhost.example']) {
      const err = await Daemon.start({ socketPath: join(d.dir, 'x.sock'), tcp: { host, port: 0 } }).catch(
        (e: unknown) => e,
      );
      expect(isQingtianError(err, 'QT_INVALID_ARGUMENT')).toBe(true);
      expect((err as Error).message).toMatch(/tcp\.host: expected a loopback address/);
    }
    const err = await Daemon.start({ socketPath: join(d.dir, 'x.sock'), port: 1 } as never).catch((e: unknown) => e);
    expect(isQingtianError(err, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect(existsSync(join(d.dir, 'x.sock'))).toBe(false);
  });
});

describe('daemon shutdown', () => {
  it('removes its socket, stops every core, and close() is idempotent', async () => {
    const d = await startDaemon();
    const sock = d.daemon.address.socketPath;
    expect(existsSync(sock)).toBe(true);
    await Promise.all([d.daemon.close(), d.daemon.close()]);
    expect(existsSync(sock)).toBe(false);
    expect(() => d.daemon.host.snapshot()).toThrow(/shutdown/);
    await d.stop();
  });

  it('replaces a stale socket left by a daemon that was killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qt-stale-'));
    const sock = join(dir, 'api.sock');
    // A process that listens on the path and dies by SIGKILL leaves the socket file behind.
    const child = spawn(process.execPath, [
      '-e',
      `require('node:net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`,
    ]);
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.kill('SIGKILL');
    await new Promise<void>((r) => child.once('exit', () => r()));
    expect(lstatSync(sock).isSocket()).toBe(true);
    const d = await startDaemon({ socketPath: sock });
    expect((await d.client.send('GET', '/host')).status).toBe(200);
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  });
});
