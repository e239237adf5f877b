import { describe, expect, it } from 'vitest';
import { crc16t10dif, T10Dif, type T10DifOptions } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { bytes, FLAVOURS } from '../ec/helpers.js';

const be16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** n interleaved units of (bs + 8) with random data and zeroed PI. */
function units(bs: number, n: number, seed: number): Uint8Array {
  const buf = new Uint8Array(n * (bs + 8));
  for (let i = 0; i < n; i++) buf.set(bytes(bs, seed + i), i * (bs + 8));
  return buf;
}

describe.each(FLAVOURS)('T10 PI (%s kernels)', (simd) => {
  const dif = (o: Partial<T10DifOptions> = {}): T10Dif => new T10Dif({ blockSize: 512, type: 1, simd, ...o });

  it('lays out guard, app tag and ref tag big-endian after each block (types 1, 2, 3; 512 and 4096)', () => {
    for (const blockSize of [512, 4096] as const) {
      for (const type of [1, 2, 3] as const) {
        const d = dif({ blockSize, type, refTag: 0xfffffffe, appTag: 0xbeef });
        const buf = units(blockSize, 3, type * 10);
        d.generate(buf);
        for (let i = 0; i < 3; i++) {
          const o = i * (blockSize + 8);
          expect(be16(buf, o + blockSize)).toBe(crc16t10dif(buf.subarray(o, o + blockSize)));
          expect(be16(buf, o + blockSize + 2)).toBe(0xbeef);
          // Types 1 and 2 count up (wrapping at 2^32); type 3 keeps the tag.
          expect(be32(buf, o + blockSize + 4)).toBe(type === 3 ? 0xfffffffe : (0xfffffffe + i) >>> 0);
        }
        expect(d.verify(buf)).toEqual({ ok: true });
      }
    }
  });

  it('catches every single-bit flip in data, guard, app tag and ref tag, naming block and tag', () => {
    const d = dif({ appTag: 0x1234, refTag: 1000, checks: { appTag: true } });
    const buf = units(512, 2, 7);
    d.generate(buf);
    const clean = buf.slice();
    let caught = 0;
    for (let byte = 0; byte < buf.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        buf[byte]! ^= 1 << bit;
        const r = d.verify(buf);
        buf[byte]! ^= 1 << bit;
        const block = Math.floor(byte / 520);
        const at = byte % 520;
        // Data bytes and the guard itself fail the guard; then the app tag, then the ref tag.
        const tag = at < 514 ? 'guard' : at < 516 ? 'appTag' : 'refTag';
        if (!r.ok && r.block === block && r.tag === tag) caught++;
        else expect.fail(`flip of bit ${bit} in byte ${byte}: ${JSON.stringify(r)}`);
      }
    }
    expect(caught).toBe(buf.length * 8);
    expect(buf).toEqual(clean);
  });

  it('catches a block swapped with its neighbour (type 1: ref tags)', () => {
    const d = dif({ blockSize: 4096, refTag: 77 });
    const buf = units(4096, 4, 9);
    d.generate(buf);
    const u = 4104;
    const b1 = buf.slice(u, 2 * u);
    buf.copyWithin(u, 2 * u, 3 * u);
    buf.set(b1, 2 * u);
    expect(d.verify(buf)).toEqual({ ok: false, block: 1, tag: 'refTag', expected: 78, actual: 79 });
  });

  it('skips blocks carrying the escape values: app tag 0xFFFF (type 3: and ref tag 0xFFFFFFFF)', () => {
    for (const type of [1, 2] as const) {
      const d = dif({ type, appTag: 0xffff });
      const buf = units(512, 2, 3);
      d.generate(buf);
      buf[5]! ^= 1;
      buf[516]! ^= 1; // ref tag of block 0 too
      expect(d.verify(buf)).toEqual({ ok: true });
    }
    const t3 = dif({ type: 3, appTag: 0xffff, refTag: 0x1234 });
    const buf = units(512, 1, 4);
    t3.generate(buf);
    buf[0]! ^= 1;
    expect(t3.verify(buf)).toMatchObject({ ok: false, tag: 'guard' }); // ref tag is not all-ones
    const esc = dif({ type: 3, appTag: 0xffff, refTag: 0xffffffff });
    esc.generate(buf);
    buf[0]! ^= 1;
    expect(esc.verify(buf)).toEqual({ ok: true });
  });

  it('compares the app tag under its mask, and only when asked', () => {
    const buf = units(512, 1, 5);
    dif({ appTag: 0xab00 }).generate(buf);
    expect(dif({ appTag: 0xabff, checks: { appTag: true } }).verify(buf)).toEqual({
      ok: false,
      block: 0,
      tag: 'appTag',
      expected: 0xabff,
      actual: 0xab00,
    });
    expect(dif({ appTag: 0xabff, appTagMask: 0xff00, checks: { appTag: true } }).verify(buf)).toEqual({ ok: true });
    expect(dif({ appTag: 0x0000 }).verify(buf)).toEqual({ ok: true });
  });

  it('insert, strip and verifyCopy move between data-only and interleaved layouts', () => {
    const d = dif({ blockSize: 4096, type: 2, refTag: 5, appTag: 9, checks: { appTag: true } });
    const data = bytes(4096 * 3, 11);
    const inter = d.insert(data);
    const reference = new Uint8Array(inter.length);
    for (let i = 0; i < 3; i++) reference.set(data.subarray(i * 4096, (i + 1) * 4096), i * 4104);
    d.generate(reference);
    expect(inter).toEqual(reference);
    expect(d.strip(inter)).toEqual(data);
    expect(d.verifyCopy(inter)).toEqual({ ok: true, data });
    inter[4104 * 2 + 100]! ^= 0x80;
    expect(d.verifyCopy(inter)).toMatchObject({ ok: false, block: 2, tag: 'guard' });
  });

  it('DIX keeps the same PI in a separate metadata buffer', () => {
    const d = dif({ type: 1, refTag: 42, appTag: 3 });
    const data = bytes(512 * 4, 12);
    const md = new Uint8Array(32);
    d.dixGenerate(data, md);
    const inter = d.insert(data);
    for (let i = 0; i < 4; i++)
      expect(md.subarray(i * 8, i * 8 + 8)).toEqual(inter.subarray(i * 520 + 512, i * 520 + 520));
    expect(d.dixVerify(data, md)).toEqual({ ok: true });
    md[3 * 8 + 7]! ^= 1;
    expect(d.dixVerify(data, md)).toEqual({ ok: false, block: 3, tag: 'refTag', expected: 45, actual: 45 ^ 1 });
  });

  it('reports the right block across staging chunks (4 MiB) and with withRefTag', () => {
    const d = dif({ blockSize: 4096, refTag: 10 });
    const buf = units(4096, 1100, 1);
    d.generate(buf);
    expect(d.verify(buf)).toEqual({ ok: true });
    buf[1050 * 4104 + 4096 + 7]! ^= 2;
    expect(d.verify(buf)).toEqual({ ok: false, block: 1050, tag: 'refTag', expected: 1060, actual: 1060 ^ 2 });
    expect(d.withRefTag(11).verify(buf.subarray(4104))).toMatchObject({ ok: false, block: 1049 });
  });

  it('zero-copy forms on host addresses agree with the copying forms', () => {
    const mem = new HostMemory({ sizeBytes: 16 << 20 });
    const runtime = new LoaderRuntime(mem);
    const d = new T10Dif({ blockSize: 512, type: 1, refTag: 3, appTag: 0x55, checks: { appTag: true }, runtime, simd });
    const r = mem.alloc({ name: 'io', owner: 't', kind: 'guest-ram', sizeBytes: 1 << 20 });
    const data = bytes(512 * 8, 21);
    mem.u8.set(data, r.base);
    d.insertAt(r.base, r.base + 65536, 8);
    expect(mem.u8.slice(r.base + 65536, r.base + 65536 + 8 * 520)).toEqual(d.insert(data));
    expect(d.verifyAt(r.base + 65536, 8)).toEqual({ ok: true });
    d.stripAt(r.base + 65536, r.base + 131072, 8);
    expect(mem.u8.slice(r.base + 131072, r.base + 131072 + 4096)).toEqual(data);
    mem.u8[r.base + 65536 + 520 * 6 + 513]! ^= 1;
    expect(d.verifyCopyAt(r.base + 65536, r.base + 196608, 8)).toMatchObject({ ok: false, block: 6, tag: 'guard' });
    d.dixGenerateAt(r.base, r.base + 262144, 8);
    expect(d.dixVerifyAt(r.base, r.base + 262144, 8)).toEqual({ ok: true });
    mem.u8.fill(0, r.base + 300000, r.base + 300000 + 4160);
    d.generateAt(r.base + 300000, 8);
    expect(d.verifyAt(r.base + 300000, 8)).toEqual({ ok: true });
    expect(() => d.verifyAt(mem.sizeBytes - 100, 1)).toThrow(/buf: expected a host address/);
  });

  it('rejects buffers that are not whole protected blocks and bad options; nothing is written', () => {
    const d = dif();
    const buf = units(512, 2, 1);
    const copy = buf.slice();
    expect(() => d.generate(buf.subarray(0, 1000))).toThrow(
      /generate: buf: expected a whole number of 520-byte units.*got 1000 bytes/,
    );
    expect(buf).toEqual(copy);
    expect(() => d.insert(new Uint8Array(700))).toThrow(/insert: data: expected a whole number of 512-byte blocks/);
    expect(() => d.dixGenerate(new Uint8Array(1024), new Uint8Array(8))).toThrow(
      /md: expected a Uint8Array of 16 bytes/,
    );
    expect(() => new T10Dif({ blockSize: 520 as 512, type: 1 })).toThrow(
      /blockSize: expected one of 512, 4096, got 520/,
    );
    expect(() => new T10Dif({ blockSize: 512, type: 4 as 1 })).toThrow(/type: expected one of 1, 2, 3/);
    expect(() => new T10Dif({ blockSize: 512, type: 3, checks: { refTag: true } })).toThrow(
      /type 3 reference tags are not checked/,
    );
    expect(() => new T10Dif({ blockSize: 512, type: 1, appTag: 0x10000 })).toThrow(
      /appTag: expected an integer in \[0, 65535\]/,
    );
  });
});
