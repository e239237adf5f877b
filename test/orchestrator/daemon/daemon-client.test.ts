import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DaemonClient } from '../../../src/orchestrator/daemon/daemon-client.js';

const OK = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok';

/**
 * A server that answers the first request of each connection and drops the connection when a
 * second request arrives on it: what a daemon closing an idle kept-alive connection looks like
 * to a client that reuses it at that moment.
 */
describe('DaemonClient on a kept-alive connection the server closed', () => {
  let dir: string;
  let server: Server;
  let connections = 0;
  let path: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qt-client-'));
    path = join(dir, 'api.sock');
    server = createServer((s: Socket) => {
      connections++;
      let answered = false;
      s.on('data', () => {
        if (answered) return void s.destroy();
        answered = true;
        s.write(OK);
      });
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
  });
  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends an idempotent request again on a new connection', async () => {
    const c = new DaemonClient(path);
    expect((await c.send('GET', '/host')).text).toBe('ok');
    expect((await c.send('GET', '/host')).text).toBe('ok');
    expect((await c.send('PUT', '/vms/a', { vcpus: 1 })).text).toBe('ok');
    expect(connections).toBe(3);
    c.close();
  });

  it('does not send a PATCH twice: the error reaches the caller', async () => {
    const c = new DaemonClient(path);
    const before = connections;
    expect((await c.send('GET', '/host')).text).toBe('ok');
    await expect(c.send('PATCH', '/vms/a', { state: 'paused' })).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(connections).toBe(before + 1);
    c.close();
  });
});
