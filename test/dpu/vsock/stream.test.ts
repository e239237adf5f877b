import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VsockSocket } from '../../../src/common/vsock/vsock-socket.js';
import { CONN_BYTES, CONN_RX_CNT, CONN_RX_TAIL, CONN_STATE, CS_FREE, EP_CONNS } from '../../../src/generated/vsock.js';
import { until } from '../../helpers/kernels.js';
import { readBytes, startVsockRig, vsockPair, type VsockRig } from './helpers.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Collects a stream to its end. */
function drain(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(b));
    s.once('end', () => resolve(Buffer.concat(parts)));
    s.once('error', reject);
  });
}

describe('vsock stream sockets (§5.10.6.5): control plane <-> device on a DPU core <-> guest driver', () => {
  let rig: VsockRig;
  beforeAll(async () => {
    rig = await startVsockRig();
  });
  afterAll(async () => {
    await rig.close();
  });

  it('connects host -> guest, echoes bytes, counts one connection', async () => {
    const p = await vsockPair(rig, 'g-echo');
    p.driver.endpoint.listen(1234, (s) => s.on('data', (b: Buffer) => s.write(b)));
    const sock = await p.dev.host.connect(1234);
    sock.write(Buffer.from('hello vsock'));
    expect((await readBytes(sock, 11)).toString()).toBe('hello vsock');
    expect(p.dev.stats().endpoint.connsOpened).toBe(1);
    expect(sock.remotePort).toBe(1234);
    expect(sock.localPort).toBeGreaterThanOrEqual(49152);
    sock.destroy();
    await p.stop();
  });

  it('connects guest -> host (the host listens), both CIDs as configured', async () => {
    const p = await vsockPair(rig, 'g-up', { guestCid: 77 });
    const got = new Promise<VsockSocket>((resolve) => p.dev.host.listen(9, resolve));
    const sock = await p.driver.endpoint.connect(9, { localPort: 5000 });
    const server = await got;
    expect(server.remotePort).toBe(5000);
    expect(p.dev.host.peerCid).toBe(77);
    expect(p.driver.endpoint.localCid).toBe(77);
    expect(p.driver.endpoint.peerCid).toBe(2);
    server.write('up');
    expect((await readBytes(sock, 2)).toString()).toBe('up');
    sock.destroy();
    await p.stop();
  });

  it('answers a REQUEST to a closed port with RST: connect is refused (QT_VSOCK_RESET)', async () => {
    const p = await vsockPair(rig, 'g-rst');
    await expect(p.dev.host.connect(4444)).rejects.toMatchObject({
      code: 'QT_VSOCK_RESET',
      details: { reason: 'refused' },
    });
    await until(() => p.dev.stats().endpoint.rstReceived === 1, 'RST counted');
    expect(p.driver.endpoint.stats().noListener).toBe(1);
    await p.stop();
  });

  it('moves 4 MiB each way through 64 KiB rings: credit flow control, no byte lost or reordered', async () => {
    const p = await vsockPair(rig, 'g-bulk');
    const n = 4 << 20;
    const down = pattern(n, 1);
    const up = pattern(n, 2);
    const serverDone = new Promise<Buffer>((resolve) =>
      p.driver.endpoint.listen(80, (s) => {
        s.end(up);
        void drain(s).then(resolve);
      }),
    );
    const sock = await p.dev.host.connect(80);
    const received = drain(sock);
    sock.end(down);
    const [atGuest, atHost] = await Promise.all([serverDone, received]);
    expect(sha(atGuest)).toBe(sha(down));
    expect(sha(atHost)).toBe(sha(up));
    const ep = p.dev.stats().endpoint;
    expect(ep.txBytes).toBe(n);
    expect(ep.rxBytes).toBe(n);
    expect(ep.creditViolations + p.driver.endpoint.stats().creditViolations).toBe(0);
    await p.stop();
  });

  it('never lets the peer overrun a receiver that stops reading (buf_alloc holds, §5.10.6.3)', async () => {
    const p = await vsockPair(rig, 'g-slow', { ringBytes: 16384 });
    let server: VsockSocket | null = null;
    p.driver.endpoint.listen(81, (s) => {
      server = s;
      s.pause();
    });
    const sock = await p.dev.host.connect(81);
    await until(() => server !== null, 'accepted');
    const total = 1 << 20;
    sock.write(pattern(total, 3));
    // The guest reads nothing: the device may send at most the guest ring's 64 KiB (its buf_alloc).
    const v = rig.memory.view;
    const epBase = p.driver.endpoint.base;
    const conn = epBase + EP_CONNS + server!.connIndex * CONN_BYTES;
    await until(() => p.dev.stats().endpoint.txBytes >= 65536, 'guest ring filled');
    const unread = (): number => (v.getUint32(conn + CONN_RX_CNT, true) - v.getUint32(conn + CONN_RX_TAIL, true)) >>> 0;
    expect(unread()).toBe(65536);
    expect(p.dev.stats().endpoint.txBytes).toBe(65536);
    const all = readBytes(server!, total);
    server!.resume();
    expect(sha(await all)).toBe(sha(pattern(total, 3)));
    expect(p.dev.stats().endpoint.creditViolations).toBe(0);
    sock.destroy();
    await p.stop();
  });

  it('end() sends SHUTDOWN(SEND): the peer reads to its end, then a clean close frees both slots', async () => {
    const p = await vsockPair(rig, 'g-shut');
    let server: VsockSocket | null = null;
    const ended = new Promise<Buffer>((resolve) =>
      p.driver.endpoint.listen(82, (s) => {
        server = s;
        void drain(s).then(resolve);
      }),
    );
    const sock = await p.dev.host.connect(82);
    sock.end('bye');
    expect((await ended).toString()).toBe('bye');
    server!.end();
    await drain(sock);
    // Both directions ended: both sockets close; SHUTDOWN(both) then RST frees the slots.
    const free = (ep: number): boolean => rig.memory.view.getUint32(ep + EP_CONNS + CONN_STATE, true) === CS_FREE;
    await until(() => free(p.dev.host.base) && free(p.driver.endpoint.base), 'both slots free');
    await until(() => p.dev.host.socketCount + p.driver.endpoint.socketCount === 0, 'sockets forgotten');
    const h = p.dev.stats().endpoint;
    expect(h.connsClosed).toBe(1);
    expect(h.rstSent + h.rstReceived).toBe(1);
    await p.stop();
  });

  it('destroy(err) aborts with RST: the peer socket errors with reason reset', async () => {
    const p = await vsockPair(rig, 'g-abort');
    const serverErr = new Promise<Error>((resolve) => p.driver.endpoint.listen(83, (s) => s.once('error', resolve)));
    const sock = await p.dev.host.connect(83);
    sock.on('error', () => undefined);
    sock.destroy(new Error('abort'));
    expect(await serverErr).toMatchObject({ code: 'QT_VSOCK_RESET', details: { reason: 'reset' } });
    await p.stop();
  });

  it('serves 8 connections at once, fairly: every stream completes intact', async () => {
    const p = await vsockPair(rig, 'g-many', { maxConns: 8 });
    p.driver.endpoint.listen(84, (s) => s.pipe(s));
    const socks = await Promise.all(Array.from({ length: 8 }, () => p.dev.host.connect(84)));
    const size = 256 << 10;
    const results = await Promise.all(
      socks.map(async (s, i) => {
        const back = readBytes(s, size);
        s.write(pattern(size, 10 + i));
        return sha(await back) === sha(pattern(size, 10 + i));
      }),
    );
    expect(results).toEqual(Array(8).fill(true));
    await expect(p.dev.host.connect(84)).rejects.toMatchObject({ code: 'QT_CAPACITY_EXCEEDED' });
    for (const s of socks) s.destroy();
    await p.stop();
  });

  it('reuses slots: 20 connections one after another through one slot on each side', async () => {
    const p = await vsockPair(rig, 'g-reuse', { maxConns: 1, geometry: { maxConns: 1 } });
    p.driver.endpoint.listen(87, (s) => s.pipe(s));
    for (let i = 0; i < 20; i++) {
      const sock = await p.dev.host.connect(87);
      sock.write(`#${i}`);
      expect((await readBytes(sock, `#${i}`.length)).toString()).toBe(`#${i}`);
      sock.destroy();
      await until(() => p.dev.host.socketCount + p.driver.endpoint.socketCount === 0, `connection ${i} released`);
    }
    expect(p.dev.stats().endpoint.connsOpened).toBe(20);
    await p.stop();
  });

  it('a transport reset ends every connection on both sides; listeners stay and take new ones (§5.10.6.7)', async () => {
    const p = await vsockPair(rig, 'g-reset');
    const serverErr: Error[] = [];
    p.driver.endpoint.listen(85, (s) => {
      s.on('data', (b: Buffer) => s.write(b));
      s.on('error', (e) => serverErr.push(e));
    });
    const sock = await p.dev.host.connect(85);
    const err = new Promise<Error>((resolve) => sock.once('error', resolve));
    p.dev.transportReset(99);
    expect(await err).toMatchObject({ code: 'QT_VSOCK_RESET', details: { reason: 'transport-reset' } });
    await until(() => p.driver.endpoint.stats().transportResets === 1, 'driver saw TRANSPORT_RESET');
    expect(p.driver.endpoint.localCid).toBe(99);
    await until(() => serverErr.length === 1, 'guest socket ended by the reset');
    expect(p.dev.stats().eventsSent).toBe(1);
    const again = await p.dev.host.connect(85);
    again.write('x');
    expect((await readBytes(again, 1)).toString()).toBe('x');
    again.destroy();
    await p.stop();
  });

  for (const geometry of [
    { packed: true, eventIdx: true },
    { packed: true, eventIdx: false },
    { packed: false, eventIdx: false },
  ]) {
    it(`works over ${geometry.packed ? 'packed' : 'split'} rings, EVENT_IDX ${geometry.eventIdx ? 'on' : 'off'}`, async () => {
      const p = await vsockPair(rig, `g-${geometry.packed ? 'p' : 's'}${geometry.eventIdx ? 'e' : ''}`, { geometry });
      p.driver.endpoint.listen(86, (s) => s.pipe(s));
      const sock = await p.dev.host.connect(86);
      const data = pattern(300_000, 7);
      const back = readBytes(sock, data.length);
      sock.write(data);
      expect(sha(await back)).toBe(sha(data));
      sock.destroy();
      await p.stop();
    });
  }
});
