import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageEngine } from '../../../../src/dpu/blk/engine/storage-engine.js';
import { NbdServer } from '../../../../src/dpu/blk/nbd/nbd-server.js';
import { Negotiation } from '../../../../src/dpu/blk/nbd/negotiation.js';
import { RequestParser, type NbdRequest, type ParseResult } from '../../../../src/dpu/blk/nbd/request-parser.js';
import { Volume } from '../../../../src/dpu/blk/volume/volume.js';
import { defaultRuntime } from '../../../../src/dpu/kernels/kernel-runtime.js';
import { removeDir, tmpDir } from '../helpers.js';
import { RawClient } from './raw-client.js';

const MAX = 4096;

function drain(p: RequestParser): ParseResult[] {
  const out: ParseResult[] = [];
  for (;;) {
    const r = p.next();
    if (r.kind === 'more') return out;
    out.push(r);
    if (r.kind === 'fatal') return out;
  }
}

function feed(bytes: Uint8Array, cuts: number[]): ParseResult[] {
  const p = new RequestParser(MAX);
  const out: ParseResult[] = [];
  let at = 0;
  for (const c of [...cuts.map((x) => x % (bytes.length + 1)).sort((a, b) => a - b), bytes.length]) {
    p.push(Buffer.from(bytes.subarray(at, Math.max(at, c))));
    at = Math.max(at, c);
    out.push(...drain(p));
    if (out.at(-1)?.kind === 'fatal') break;
  }
  return out;
}

/** A request as sent: a write carries its payload, anything else none. */
type Sent = Omit<NbdRequest, 'payload'> & { payload: Buffer | null };

function encode(r: Sent): Buffer {
  const h = Buffer.alloc(28);
  h.writeUInt32BE(0x25609513, 0);
  h.writeUInt16BE(r.flags, 4);
  h.writeUInt16BE(r.type, 6);
  r.handle.copy(h, 8);
  h.writeBigUInt64BE(BigInt(r.offset), 16);
  h.writeUInt32BE(r.length, 24);
  return r.payload ? Buffer.concat([h, r.payload]) : h;
}

const request = fc
  .record({
    flags: fc.integer({ min: 0, max: 0xffff }),
    type: fc.integer({ min: 0, max: 12 }),
    handle: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((a) => Buffer.from(a)),
    offset: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    length: fc.integer({ min: 0, max: 300 }),
  })
  .chain((r): fc.Arbitrary<Sent> =>
    r.type === 1
      ? fc.uint8Array({ minLength: r.length, maxLength: r.length }).map((p) => ({ ...r, payload: Buffer.from(p) }))
      : fc.constant({ ...r, payload: null }),
  );

describe('NBD request parser fuzz', () => {
  it('never throws on arbitrary bytes, and cuts them the same however they arrive (10,000 cases)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const whole = feed(bytes, []);
        const pieces = feed(bytes, cuts);
        expect(pieces).toEqual(whole);
        // Whatever it returns is well formed: requests with an 8-byte handle, writes with their payload.
        for (const r of whole) {
          if (r.kind !== 'request') continue;
          expect(r.request.handle.length).toBe(8);
          if (r.request.type === 1) expect(r.request.payload!.length).toBe(r.request.length);
        }
      }),
      { numRuns: 10_000 },
    );
  });

  it('gives back exactly the requests that were sent, then stops at garbage (2,000 cases)', () => {
    fc.assert(
      fc.property(
        fc.array(request, { maxLength: 6 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (reqs, garbage, cuts) => {
          const bytes = Buffer.concat([...reqs.map(encode), Buffer.from(garbage)]);
          const got = feed(bytes, cuts);
          const parsed = got.filter((r) => r.kind === 'request').map((r) => (r as { request: NbdRequest }).request);
          expect(parsed.slice(0, reqs.length)).toEqual(reqs);
          const rest = got.slice(reqs.length);
          // Garbage either is too short to be a header, or starts a (different) header, or is fatal.
          if (garbage.length >= 28 && Buffer.from(garbage).readUInt32BE(0) !== 0x25609513)
            expect(rest[0]).toMatchObject({ kind: 'fatal' });
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('refuses a write larger than the payload limit without waiting for its data', () => {
    const p = new RequestParser(MAX);
    p.push(encode({ flags: 0, type: 1, handle: Buffer.alloc(8), offset: 0, length: MAX + 1, payload: null }));
    expect(p.next()).toMatchObject({ kind: 'fatal', reason: expect.stringMatching(/payload limit/) as string });
    p.push(Buffer.alloc(100));
    expect(p.next().kind).toBe('fatal');
  });

  it('the negotiation never throws and only continues, closes or enters transmission (3,000 cases)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), fc.boolean(), (chunks, validStart) => {
        const sent: Buffer[] = [];
        const n = new Negotiation(
          () => [{ name: 'x', description: '', sizeBytes: 1 << 20, volumeId: 1 }],
          (b) => sent.push(b),
        );
        n.greet();
        if (validStart) chunks.unshift(new Uint8Array([0, 0, 0, 1]));
        for (const c of chunks) {
          const out = n.feed(Buffer.from(c));
          expect(['continue', 'close', 'transmission']).toContain(out.kind);
          if (out.kind !== 'continue') break;
        }
        for (const b of sent.slice(1)) expect(b.readBigUInt64BE(0) === 0x3e889045565a9n || b.length === 10).toBe(true);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('NBD server under hostile streams', () => {
  const dir = tmpDir('nbdz');
  const engine = new StorageEngine(defaultRuntime().memory);
  const vol = Volume.create({ dir: `${dir}/v`, name: 'v', sizeBytes: 4 << 20 });
  let server: NbdServer;
  let port = 0;
  beforeAll(async () => {
    const id = engine.addVolume(vol);
    engine.start();
    server = new NbdServer(engine, [{ name: 'v', description: '', sizeBytes: vol.sizeBytes, volumeId: id }]);
    port = (await server.listenTcp('127.0.0.1', 0)).port;
  });
  afterAll(async () => {
    await server.close();
    await engine.stop();
    engine.free();
    vol.close();
    removeDir(dir);
  });

  it('200 connections of random requests and bytes: each ends on its own, the server serves a good client after', async () => {
    const streams = fc.sample(
      fc.tuple(fc.boolean(), fc.array(request, { maxLength: 4 }), fc.uint8Array({ maxLength: 200 })),
      { numRuns: 200, seed: 42 },
    );
    const good = await RawClient.connect({ port });
    await good.hello();
    expect((await good.go('v')).type).toBe(1);
    for (const [negotiate, reqs, tail] of streams) {
      const c = await RawClient.connect({ port });
      if (negotiate) {
        await c.hello();
        await c.go('v');
      }
      c.write(Buffer.concat([...reqs.map(encode), Buffer.from(tail)]));
      // Then the client hangs up; the server must cope with whatever was in flight.
      setTimeout(() => c.close(), 5);
    }
    await new Promise((r) => setTimeout(r, 200));
    good.request(0, 0, 4096, { handle: 99n });
    expect((await good.reply(4096)).handle).toBe(99n);
    good.close();
    const s = server.stats();
    expect(s.connections).toBe(201);
    expect(vol.check(true).ok).toBe(true);
  });
});
