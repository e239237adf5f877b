import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageEngine } from '../../../../src/dpu/blk/engine/storage-engine.js';
import { NbdServer } from '../../../../src/dpu/blk/nbd/nbd-server.js';
import { Volume } from '../../../../src/dpu/blk/volume/volume.js';
import { defaultRuntime } from '../../../../src/dpu/kernels/kernel-runtime.js';
import { removeDir, tmpDir } from '../helpers.js';
import { RawClient } from './raw-client.js';

const READ = 0;
const WRITE = 1;
const DISC = 2;
const FLUSH = 3;
const TRIM = 4;
const WRITE_ZEROES = 6;
const FUA = 1;
const NO_HOLE = 2;
const EINVAL = 22;
const ENOSPC = 28;

const dir = tmpDir('nbdp');
const engine = new StorageEngine(defaultRuntime().memory);
const vol = Volume.create({ dir: `${dir}/disk0`, name: 'disk0', sizeBytes: 8 << 20 });
const other = Volume.create({ dir: `${dir}/disk1`, name: 'disk1', sizeBytes: 4 << 20 });
let server: NbdServer;
let port = 0;
const sock = `${dir}/nbd.sock`;

beforeAll(async () => {
  const a = engine.addVolume(vol);
  const b = engine.addVolume(other);
  engine.start();
  server = new NbdServer(engine, [
    { name: 'disk0', description: 'the first', sizeBytes: vol.sizeBytes, volumeId: a },
    { name: 'disk1', description: 'the second', sizeBytes: other.sizeBytes, volumeId: b },
  ]);
  port = (await server.listenTcp('127.0.0.1', 0)).port;
  await server.listenUnix(sock);
});

afterAll(async () => {
  await server.close();
  await engine.stop();
  engine.free();
  vol.close();
  other.close();
  removeDir(dir);
});

async function open(name = 'disk0', target: { port: number } | { path: string } = { port }): Promise<RawClient> {
  const c = await RawClient.connect(target);
  await c.hello();
  const r = await c.go(name);
  expect(r.type).toBe(1);
  return c;
}

function pattern(len: number, seed: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + seed * 7) & 0xff;
  return b;
}

describe('NBD negotiation (fixed newstyle)', () => {
  it('greets as fixed newstyle with no zeroes, lists exports, answers INFO with size and block sizes', async () => {
    const c = await RawClient.connect({ port });
    expect(await c.hello()).toBe(3);
    c.option(3);
    const names: string[] = [];
    for (;;) {
      const r = await c.optionReply();
      if (r.type === 1) break;
      expect(r.type).toBe(2);
      names.push(r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)));
    }
    expect(names).toEqual(['disk0', 'disk1']);
    const name = Buffer.from('disk1');
    const d = Buffer.alloc(4 + name.length + 2 + 6);
    d.writeUInt32BE(name.length, 0);
    name.copy(d, 4);
    d.writeUInt16BE(3, 4 + name.length);
    [1, 2, 3].forEach((t, i) => d.writeUInt16BE(t, 6 + name.length + 2 * i));
    c.option(6, d);
    const infos = new Map<number, Buffer>();
    for (;;) {
      const r = await c.optionReply();
      if (r.type === 1) break;
      infos.set(r.data.readUInt16BE(0), r.data);
    }
    expect(infos.get(0)!.readBigUInt64BE(2)).toBe(4194304n);
    const flags = infos.get(0)!.readUInt16BE(10);
    expect(flags & 0x16d).toBe(0x16d); // HAS_FLAGS, FLUSH, FUA, TRIM, WRITE_ZEROES, CAN_MULTI_CONN
    expect(infos.get(1)!.toString('utf8', 2)).toBe('disk1');
    expect(infos.get(2)!.toString('utf8', 2)).toBe('the second');
    const bs = infos.get(3)!;
    expect([bs.readUInt32BE(2), bs.readUInt32BE(6), bs.readUInt32BE(10)]).toEqual([4096, 4096, 4 << 20]);
    // INFO leaves the client in negotiation: an unknown export, an unsupported option, then ABORT.
    expect((await c.go('nope')).type).toBe(2 ** 31 + 6);
    c.option(8);
    expect((await c.optionReply()).type).toBe(2 ** 31 + 1);
    c.option(2);
    expect((await c.optionReply()).type).toBe(1);
    await c.closed();
  });

  it('enters transmission through EXPORT_NAME, and closes on an unknown name', async () => {
    const c = await RawClient.connect({ port });
    await c.hello();
    c.option(1, Buffer.from('disk0'));
    const r = await c.read(10);
    expect(r.readBigUInt64BE(0)).toBe(8388608n);
    c.request(READ, 0, 4096);
    expect((await c.reply(4096)).error).toBe(0);
    c.close();
    const bad = await RawClient.connect({ port });
    await bad.hello();
    bad.option(1, Buffer.from('missing'));
    await bad.closed();
  });

  it('disconnects a client that is not fixed newstyle or sends unknown flags', async () => {
    for (const flags of [0, 0x80]) {
      const c = await RawClient.connect({ port });
      await c.read(18);
      const b = Buffer.alloc(4);
      b.writeUInt32BE(flags, 0);
      c.write(b);
      await c.closed();
    }
  });
});

describe('NBD transmission', () => {
  it('writes, reads, flushes, FUA, trims and zeroes, over TCP and the Unix socket', async () => {
    const c = await open();
    const data = pattern(65536, 1);
    c.request(WRITE, 1 << 20, data.length, { payload: data, handle: 7n });
    expect(await c.reply()).toEqual({ error: 0, handle: 7n, data: null });
    c.request(WRITE, 2 << 20, 4096, { payload: pattern(4096, 2), flags: FUA, handle: 8n });
    expect((await c.reply()).error).toBe(0);
    c.request(FLUSH, 0, 0, { handle: 9n });
    expect((await c.reply()).handle).toBe(9n);
    const u = await open('disk0', { path: sock });
    u.request(READ, 1 << 20, data.length, { handle: 10n });
    const r = await u.reply(data.length);
    expect(r.handle).toBe(10n);
    expect(r.data!.equals(data)).toBe(true);
    u.request(TRIM, 1 << 20, 32768);
    expect((await u.reply()).error).toBe(0);
    u.request(WRITE_ZEROES, (1 << 20) + 32768, 16384, { flags: NO_HOLE });
    expect((await u.reply()).error).toBe(0);
    u.request(READ, 1 << 20, data.length);
    const z = (await u.reply(data.length)).data!;
    expect(z.subarray(0, 49152).every((x) => x === 0)).toBe(true);
    expect(z.subarray(49152).equals(data.subarray(49152))).toBe(true);
    u.request(DISC, 0, 0);
    await u.closed();
    c.close();
  });

  it('serves requests that are not block-aligned by reading, patching and writing whole blocks', async () => {
    const c = await open();
    const base = pattern(12288, 3);
    c.request(WRITE, 3 << 20, base.length, { payload: base });
    expect((await c.reply()).error).toBe(0);
    const patch = pattern(5000, 4);
    c.request(WRITE, (3 << 20) + 1000, patch.length, { payload: patch });
    expect((await c.reply()).error).toBe(0);
    c.request(WRITE_ZEROES, (3 << 20) + 7000, 100);
    expect((await c.reply()).error).toBe(0);
    c.request(READ, (3 << 20) + 10, 12000);
    const got = (await c.reply(12000)).data!;
    const want = Buffer.from(base);
    patch.copy(want, 1000);
    want.fill(0, 7000, 7100);
    expect(got.equals(want.subarray(10, 12010))).toBe(true);
    c.close();
  });

  it('several connections to one export: a flush on one covers writes acknowledged on another', async () => {
    const a = await open();
    const b = await open();
    const data = pattern(8192, 5);
    a.request(WRITE, 4 << 20, data.length, { payload: data });
    expect((await a.reply()).error).toBe(0);
    b.request(FLUSH, 0, 0);
    expect((await b.reply()).error).toBe(0);
    b.request(READ, 4 << 20, data.length);
    expect((await b.reply(data.length)).data!.equals(data)).toBe(true);
    const before = vol.stats().syncs;
    expect(before).toBeGreaterThan(0);
    a.close();
    b.close();
  });
});

describe('NBD malformed requests', () => {
  it('answers bad requests with the protocol error and goes on serving the connection', async () => {
    const c = await open();
    const size = 8 << 20;
    c.request(READ, size - 4096, 8192, { handle: 1n });
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 1n });
    c.request(WRITE, size, 4096, { handle: 2n, payload: Buffer.alloc(4096) });
    expect(await c.reply()).toMatchObject({ error: ENOSPC, handle: 2n });
    c.request(9, 0, 4096, { handle: 3n }); // unknown command
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 3n });
    c.request(READ, 0, 4096, { handle: 4n, flags: 0x40 }); // unknown flag
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 4n });
    c.request(FLUSH, 0, 4096, { handle: 5n }); // flush with a length
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 5n });
    c.request(READ, 0, 0, { handle: 6n }); // empty read
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 6n });
    c.request(READ, 0, 8 << 20, { handle: 7n }); // larger than the advertised maximum
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 7n });
    c.request(READ, 2 ** 60, 4096, { handle: 8n }); // offset past any export
    expect(await c.reply()).toMatchObject({ error: EINVAL, handle: 8n });
    c.request(READ, 0, 4096, { handle: 9n });
    expect((await c.reply(4096)).handle).toBe(9n);
    c.close();
  });

  it('closes a connection whose stream is lost (bad magic, oversized write) and keeps serving the others', async () => {
    const good = await open();
    const bad = await open();
    bad.request(READ, 0, 4096, { magic: 0xdeadbeef });
    await bad.closed();
    const big = await open();
    big.request(WRITE, 0, 64 << 20, { payload: Buffer.alloc(16) });
    await big.closed();
    good.request(READ, 0, 4096, { handle: 11n });
    expect((await good.reply(4096)).handle).toBe(11n);
    good.close();
    const s = server.stats();
    expect(s.protocolCloses).toBeGreaterThanOrEqual(2);
    expect(s.lastCloseReason).toMatch(/payload limit/);
  });
});
