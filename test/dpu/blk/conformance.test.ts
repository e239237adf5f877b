/**
 * virtio-blk conformance (virtio 1.2 §5.2): the six request types, the framings a driver may
 * choose, the config space, and every bad-input id G1–G10 (docs/virtio-bad-input.md) with the
 * policy docs/virtio-policy.md pins. The kernel runs on this thread, one burst per request.
 */
import { describe, expect, it } from 'vitest';
import { BlkConfig } from '../../../src/dpu/blk/blk-config.js';
import { BlkDevice } from '../../../src/dpu/blk/blk-device.js';
import { dirtyPages } from '../../../src/hypervisor/guest/dirty-log.js';
import { BLK_F_DISCARD, BLK_F_MQ, BLK_F_RO, BLK_F_WRITE_ZEROES } from '../../../src/generated/blk.js';
import { isQingtianError } from '../../../src/common/errors.js';
import { BlkRig, S, T, pattern } from './blk-rig.js';

const KIB4 = 4096;
const bit = (n: number): bigint => 1n << BigInt(n);

describe('virtio-blk requests', () => {
  it('OUT then IN: the data comes back; used.len = data + status for IN, status only for OUT (G10)', () => {
    const r = new BlkRig();
    const data = pattern(KIB4, 1);
    const st = r.status();
    expect(r.submit([r.header(T.OUT, 8), r.buf(data)], [st])).toBe(1);
    expect(r.byte(st)).toBe(S.OK);
    expect(r.dev.readDisk(8 * 512, KIB4)).toEqual(data);
    const back = r.buf(KIB4);
    const st2 = r.status();
    expect(r.submit([r.header(T.IN, 8)], [back, st2])).toBe(KIB4 + 1);
    expect(r.byte(st2)).toBe(S.OK);
    expect(r.bytes(back)).toEqual(data);
    expect(r.gg.guardsIntact()).toBe(true);
  });

  it('any framing: header split over two descriptors, data over three, data and status in one buffer', () => {
    const r = new BlkRig();
    const data = pattern(3 * 512, 2);
    const h = r.header(T.OUT, 3);
    const hb = r.bytes(h);
    const h1 = r.buf(hb.slice(0, 5));
    const h2 = r.buf(hb.slice(5));
    const st = r.status();
    expect(
      r.submit([h1, h2, r.buf(data.slice(0, 100)), r.buf(data.slice(100, 1000)), r.buf(data.slice(1000))], [st]),
    ).toBe(1);
    expect(r.byte(st)).toBe(S.OK);
    // Header and data in one readable buffer; data and status in one writable buffer.
    const both = new Uint8Array(16 + 512);
    both.set(r.bytes(r.header(T.OUT, 100)));
    both.set(pattern(512, 3), 16);
    const st2 = r.status();
    expect(r.submit([r.buf(both)], [st2])).toBe(1);
    const tail = r.buf(3 * 512 + 1, 0xee);
    expect(r.submit([r.header(T.IN, 3)], [tail])).toBe(3 * 512 + 1);
    const got = r.bytes(tail);
    expect(got.slice(0, 3 * 512)).toEqual(data);
    expect(got[3 * 512]).toBe(S.OK);
    expect(r.dev.readDisk(100 * 512, 512)).toEqual(pattern(512, 3));
  });

  it('FLUSH completes OK with used.len 1', () => {
    const r = new BlkRig();
    const st = r.status();
    expect(r.submit([r.header(T.FLUSH)], [st])).toBe(1);
    expect(r.byte(st)).toBe(S.OK);
    expect(r.dev.stats().flushes).toBe(1);
  });

  it('GET_ID writes the 20-byte id', () => {
    const r = new BlkRig({ id: 'qingtian-disk-0001' });
    const id = r.buf(20, 0xee);
    const st = r.status();
    expect(r.submit([r.header(T.GET_ID)], [id, st])).toBe(21);
    expect(r.byte(st)).toBe(S.OK);
    expect(new TextDecoder().decode(r.bytes(id)).replace(/\0+$/, '')).toBe('qingtian-disk-0001');
  });

  it('WRITE_ZEROES (with or without unmap) and DISCARD: the ranges read back as zeros', () => {
    const r = new BlkRig();
    r.submit([r.header(T.OUT, 0), r.buf(pattern(16 * 512, 4))], [r.status()]);
    const st = r.status();
    expect(
      r.submit(
        [
          r.header(T.WRITE_ZEROES),
          r.ranges([
            { sector: 2, count: 2, flags: 1 },
            { sector: 8, count: 1 },
          ]),
        ],
        [st],
      ),
    ).toBe(1);
    expect(r.byte(st)).toBe(S.OK);
    const disk = r.dev.readDisk(0, 16 * 512);
    const want = pattern(16 * 512, 4);
    want.fill(0, 2 * 512, 4 * 512);
    want.fill(0, 8 * 512, 9 * 512);
    expect(disk).toEqual(want);
    const st2 = r.status();
    expect(r.submit([r.header(T.DISCARD), r.ranges([{ sector: 10, count: 6 }])], [st2])).toBe(1);
    expect(r.byte(st2)).toBe(S.OK);
    want.fill(0, 10 * 512, 16 * 512);
    expect(r.dev.readDisk(0, 16 * 512)).toEqual(want);
  });

  it('null backend: IN moves no data (used.len 1, buffer untouched), OUT is dropped, both OK', () => {
    const r = new BlkRig({ backend: 'null', capacityBytes: 1 << 30 });
    const back = r.buf(KIB4, 0x5a);
    const st = r.status();
    expect(r.submit([r.header(T.IN, 1000)], [back, st])).toBe(1);
    expect(r.byte(st)).toBe(S.OK);
    expect(r.bytes(back).every((b) => b === 0x5a)).toBe(true);
    const st2 = r.status();
    expect(r.submit([r.header(T.OUT, 1000), r.buf(KIB4)], [st2])).toBe(1);
    expect(r.byte(st2)).toBe(S.OK);
    expect(() => r.dev.readDisk(0, 1)).toThrow(/null backend/);
  });

  it('config space: capacity, size_max, seg_max, blk_size, num_queues, discard and write-zeroes limits', () => {
    const r = new BlkRig({ capacityBytes: 8 << 20, blkSize: 4096, sizeMax: 65536, queues: 3, maxQueueSize: 128 });
    const c = new DataView(r.dev.configRead(0, BlkConfig.BYTES).buffer);
    expect(c.getBigUint64(BlkConfig.CAPACITY, true)).toBe(BigInt((8 << 20) / 512));
    expect(c.getUint32(BlkConfig.SIZE_MAX, true)).toBe(65536);
    expect(c.getUint32(BlkConfig.SEG_MAX, true)).toBe(126);
    expect(c.getUint32(BlkConfig.BLK_SIZE, true)).toBe(4096);
    expect(c.getUint16(BlkConfig.NUM_QUEUES, true)).toBe(3);
    expect(c.getUint32(BlkConfig.MAX_DISCARD_SECTORS, true)).toBe(2048);
    expect(c.getUint32(BlkConfig.MAX_DISCARD_SEG, true)).toBe(8);
    expect(c.getUint32(BlkConfig.DISCARD_SECTOR_ALIGNMENT, true)).toBe(8);
    expect(c.getUint32(BlkConfig.MAX_WRITE_ZEROES_SEG, true)).toBe(8);
    expect(c.getUint8(BlkConfig.WRITE_ZEROES_MAY_UNMAP)).toBe(0);
    const f = r.dev.features();
    expect(f & bit(BLK_F_MQ)).not.toBe(0n);
    expect(f & bit(BLK_F_DISCARD)).not.toBe(0n);
    expect(f & bit(BLK_F_WRITE_ZEROES)).not.toBe(0n);
    expect(f & bit(BLK_F_RO)).toBe(0n);
    expect(() => r.dev.configWrite(0, new Uint8Array(8))).toThrow(/read-only/);
  });

  it('multiqueue: each queue has its own job; requests on every queue land on the one disk', () => {
    const r = new BlkRig({ queues: 4 });
    for (let q = 0; q < 4; q++) {
      const st = r.status();
      expect(r.submit([r.header(T.OUT, 8 * q), r.buf(pattern(KIB4, 10 + q))], [st], q)).toBe(1);
      expect(r.byte(st)).toBe(S.OK);
    }
    for (let q = 0; q < 4; q++) {
      const back = r.buf(KIB4);
      expect(r.submit([r.header(T.IN, 8 * q)], [back, r.status()], (q + 1) % 4)).toBe(KIB4 + 1);
      expect(r.bytes(back)).toEqual(pattern(KIB4, 10 + q));
    }
    const s = r.dev.stats();
    expect(s.writes).toBe(4);
    expect(s.reads).toBe(4);
    expect(s.jobs).toEqual([]);
    expect(s.queues.map((q) => q.pushed)).toEqual([2, 2, 2, 2]);
  });

  it('read data and status reach guest RAM through the dirty log', () => {
    const r = new BlkRig();
    r.guest.startDirtyLog();
    r.guest.readAndClearDirty();
    const back = r.buf(KIB4);
    const st = r.status();
    r.submit([r.header(T.IN, 0)], [back, st]);
    const pages = dirtyPages(r.guest.readAndClearDirty());
    expect(pages).toContain(Number(back.gpa) >> 12);
    expect(pages).toContain(Number(st.gpa) >> 12);
  });

  it('save / restore: a device of the same options takes the snapshot; one of another capacity refuses it', () => {
    const r = new BlkRig();
    r.submit([r.header(T.OUT, 0), r.buf(pattern(512, 12))], [r.status()]);
    const snap = r.dev.save();
    const same = new BlkDevice(r.rt, r.guest, 'blk-same', { backend: 'ram', capacityBytes: 1 << 20 });
    same.restore(snap);
    expect(same.negotiated()).toBe(r.dev.negotiated());
    expect(same.queueBase(0).nextAvail).toBe(r.dev.queueBase(0).nextAvail);
    const other = new BlkDevice(r.rt, r.guest, 'blk-other', { backend: 'ram', capacityBytes: 2 << 20 });
    try {
      other.restore(snap);
      expect.unreachable('restored a snapshot of another capacity');
    } catch (e) {
      expect(isQingtianError(e) && e.code).toBe('QT_BAD_FORMAT');
    }
    expect(other.negotiated()).toBe(null);
  });

  it('options are validated at the boundary', () => {
    const r = new BlkRig();
    const make = (o: object) => () => new BlkDevice(r.rt, r.guest, 'x', o as never);
    for (const bad of [
      { backend: 'disk', capacityBytes: 4096 },
      { backend: 'ram', capacityBytes: 1000 },
      { backend: 'ram', capacityBytes: 4096, queues: 33 },
      { backend: 'ram', capacityBytes: 4096, blkSize: 1000 },
      { backend: 'ram', capacityBytes: 4096, discard: { maxSectors: 8, maxSeg: 33 } },
      { backend: 'ram', capacityBytes: 4096, id: 'x'.repeat(21) },
      { backend: 'ram', capacityBytes: 4096, colour: 'red' },
      { backend: 'ram', capacityBytes: 2 ** 31 },
    ]) {
      try {
        make(bad)();
        expect.unreachable(JSON.stringify(bad));
      } catch (e) {
        expect(isQingtianError(e) && e.code).toBe('QT_INVALID_ARGUMENT');
      }
    }
  });
});

describe('virtio-blk bad input (G1–G10), each with its pinned policy', () => {
  it('G1: a chain of one descriptor is returned with used.len 0 and nothing written (R)', () => {
    const r = new BlkRig();
    expect(r.submit([r.header(T.IN)], [])).toBe(0);
    const only = r.buf(17, 0xee);
    expect(r.submit([], [only])).toBe(0);
    expect(r.bytes(only).every((b) => b === 0xee)).toBe(true);
    expect(r.dev.stats().rejected).toBe(2);
  });

  it('G1a: a header shorter than 16 bytes: R, the status byte untouched', () => {
    const r = new BlkRig();
    const st = r.status();
    expect(r.submit([r.buf(8)], [st])).toBe(0);
    expect(r.byte(st)).toBe(0xff);
  });

  it('G1b: a writable header: R, neither header nor status written', () => {
    const r = new BlkRig();
    const h = r.buf(16, 0xee);
    const st = r.status();
    expect(r.submit([], [h, st])).toBe(0);
    expect(r.bytes(h).every((b) => b === 0xee)).toBe(true);
    expect(r.byte(st)).toBe(0xff);
  });

  it('G2: no writable status byte (none, or only a zero-length one): R', () => {
    const r = new BlkRig();
    expect(r.submit([r.header(T.FLUSH)], [])).toBe(0);
    expect(r.submit([r.header(T.OUT), r.buf(512)], [{ gpa: r.buf(1).gpa, len: 0 }])).toBe(0);
    expect(r.dev.stats().flushes).toBe(0);
  });

  it('G3: sector · 512 overflowing, or the request ending past capacity: IOERR, no data moved', () => {
    const r = new BlkRig();
    const cap = 2048n; // 1 MiB
    for (const [type, sector] of [
      [T.IN, cap],
      [T.IN, cap - 1n],
      [T.IN, 1n << 63n],
      [T.IN, (1n << 64n) - 1n],
      [T.OUT, cap - 7n],
      [T.OUT, 1n << 56n],
    ] as const) {
      const data = type === T.OUT ? r.buf(pattern(KIB4, 5)) : r.buf(KIB4, 0xee);
      const st = r.status();
      const len =
        type === T.OUT
          ? r.submit([r.header(type, sector), data], [st])
          : r.submit([r.header(type, sector)], [data, st]);
      expect(len).toBe(1);
      expect(r.byte(st)).toBe(S.IOERR);
      if (type === T.IN) expect(r.bytes(data).every((b) => b === 0xee)).toBe(true);
    }
    expect(r.dev.readDisk(0, 1 << 20).every((b) => b === 0)).toBe(true);
    // The last sector itself is in range.
    const st = r.status();
    expect(r.submit([r.header(T.IN, cap - 1n)], [r.buf(512), st])).toBe(513);
    expect(r.byte(st)).toBe(S.OK);
  });

  it('G4: IN or OUT data not a multiple of 512 bytes: IOERR, no data moved', () => {
    const r = new BlkRig();
    const back = r.buf(513, 0xee);
    const st = r.status();
    expect(r.submit([r.header(T.IN)], [back, st])).toBe(1);
    expect(r.byte(st)).toBe(S.IOERR);
    expect(r.bytes(back).every((b) => b === 0xee)).toBe(true);
    const st2 = r.status();
    expect(r.submit([r.header(T.OUT), r.buf(pattern(100, 1))], [st2])).toBe(1);
    expect(r.byte(st2)).toBe(S.IOERR);
    expect(r.dev.readDisk(0, 512).every((b) => b === 0)).toBe(true);
  });

  it('G5: IN whose data sits in a readable descriptor: IOERR', () => {
    const r = new BlkRig();
    const st = r.status();
    expect(r.submit([r.header(T.IN), r.buf(512)], [st])).toBe(1);
    expect(r.byte(st)).toBe(S.IOERR);
  });

  it('G5a: OUT with a writable data descriptor: IOERR, nothing written to the disk or the buffer', () => {
    const r = new BlkRig();
    const extra = r.buf(512, 0xee);
    const st = r.status();
    expect(r.submit([r.header(T.OUT), r.buf(pattern(512, 6))], [extra, st])).toBe(1);
    expect(r.byte(st)).toBe(S.IOERR);
    expect(r.bytes(extra).every((b) => b === 0xee)).toBe(true);
    expect(r.dev.readDisk(0, 512).every((b) => b === 0)).toBe(true);
  });

  it('G6: FLUSH with a sector other than 0: IOERR; G6a: FLUSH carrying data is served', () => {
    const r = new BlkRig();
    const st = r.status();
    expect(r.submit([r.header(T.FLUSH, 1)], [st])).toBe(1);
    expect(r.byte(st)).toBe(S.IOERR);
    const st2 = r.status();
    expect(r.submit([r.header(T.FLUSH), r.buf(512)], [st2])).toBe(1);
    expect(r.byte(st2)).toBe(S.OK);
    const st3 = r.status();
    expect(r.submit([r.header(T.FLUSH)], [r.buf(512), st3])).toBe(1);
    expect(r.byte(st3)).toBe(S.OK);
  });

  it('G7: unknown types (2, 3, GET_LIFETIME, SECURE_ERASE, 0xdead) and types not offered: UNSUPP', () => {
    const r = new BlkRig({ discard: false, writeZeroes: false });
    for (const type of [2, 3, T.GET_LIFETIME, 14, 0xdead, T.DISCARD, T.WRITE_ZEROES]) {
      const st = r.status();
      const out =
        type === T.DISCARD || type === T.WRITE_ZEROES
          ? [r.header(type), r.ranges([{ sector: 0, count: 1 }])]
          : [r.header(type)];
      expect(r.submit(out, [st])).toBe(1);
      expect(r.byte(st)).toBe(S.UNSUPP);
    }
    expect(r.dev.stats().unsupported).toBe(7);
  });

  it('G7a: GET_ID whose data is not 20 bytes: min(len, 20) bytes of the id, OK', () => {
    const r = new BlkRig({ id: 'ABCDEFGHIJKLMNOPQRST' });
    const short = r.buf(8, 0xee);
    const st = r.status();
    expect(r.submit([r.header(T.GET_ID)], [short, st])).toBe(9);
    expect(new TextDecoder().decode(r.bytes(short))).toBe('ABCDEFGH');
    expect(r.byte(st)).toBe(S.OK);
    const long = r.buf(30, 0xee);
    const st2 = r.status();
    expect(r.submit([r.header(T.GET_ID)], [long, st2])).toBe(21);
    expect(new TextDecoder().decode(r.bytes(long).slice(0, 20))).toBe('ABCDEFGHIJKLMNOPQRST');
    expect(
      r
        .bytes(long)
        .slice(20)
        .every((b) => b === 0xee),
    ).toBe(true);
    const st3 = r.status();
    expect(r.submit([r.header(T.GET_ID)], [st3])).toBe(1);
    expect(r.byte(st3)).toBe(S.OK);
  });

  it('G8: OUT, DISCARD and WRITE_ZEROES on a read-only device: IOERR, nothing written; IN still served', () => {
    const r = new BlkRig({ readOnly: true });
    expect(r.dev.features() & bit(BLK_F_RO)).not.toBe(0n);
    for (const out of [
      [r.header(T.OUT), r.buf(pattern(512, 7))],
      [r.header(T.DISCARD), r.ranges([{ sector: 0, count: 1 }])],
      [r.header(T.WRITE_ZEROES), r.ranges([{ sector: 0, count: 1 }])],
    ]) {
      const st = r.status();
      expect(r.submit(out, [st])).toBe(1);
      expect(r.byte(st)).toBe(S.IOERR);
    }
    expect(r.dev.readDisk(0, 512).every((b) => b === 0)).toBe(true);
    const st = r.status();
    expect(r.submit([r.header(T.IN)], [r.buf(512), st])).toBe(513);
    expect(r.byte(st)).toBe(S.OK);
  });

  it('G9: DISCARD / WRITE_ZEROES data not a whole number of 16-byte ranges (or none): IOERR', () => {
    const r = new BlkRig();
    for (const type of [T.DISCARD, T.WRITE_ZEROES]) {
      for (const out of [[r.header(type), r.buf(20)], [r.header(type)]]) {
        const st = r.status();
        expect(r.submit(out, [st])).toBe(1);
        expect(r.byte(st)).toBe(S.IOERR);
      }
    }
  });

  it('G9a: more ranges than max_discard_seg / max_write_zeroes_seg: IOERR, none applied', () => {
    const r = new BlkRig({ discard: { maxSectors: 64, maxSeg: 2 }, writeZeroes: { maxSectors: 64, maxSeg: 2 } });
    r.submit([r.header(T.OUT), r.buf(pattern(KIB4, 8))], [r.status()]);
    for (const type of [T.DISCARD, T.WRITE_ZEROES]) {
      const st = r.status();
      const three = r.ranges([
        { sector: 0, count: 1 },
        { sector: 1, count: 1 },
        { sector: 2, count: 1 },
      ]);
      expect(r.submit([r.header(type), three], [st])).toBe(1);
      expect(r.byte(st)).toBe(S.IOERR);
    }
    expect(r.dev.readDisk(0, KIB4)).toEqual(pattern(KIB4, 8));
  });

  it('G9b: unknown range flags, or DISCARD with unmap: UNSUPP, none applied', () => {
    const r = new BlkRig();
    r.submit([r.header(T.OUT), r.buf(pattern(KIB4, 9))], [r.status()]);
    for (const [type, flags] of [
      [T.DISCARD, 1],
      [T.DISCARD, 2],
      [T.WRITE_ZEROES, 2],
      [T.WRITE_ZEROES, 0x80000001],
    ] as const) {
      const st = r.status();
      const rs = r.ranges([
        { sector: 0, count: 1 },
        { sector: 1, count: 1, flags },
      ]);
      expect(r.submit([r.header(type), rs], [st])).toBe(1);
      expect(r.byte(st)).toBe(S.UNSUPP);
    }
    expect(r.dev.readDisk(0, KIB4)).toEqual(pattern(KIB4, 9));
  });

  it('G9c: a range past capacity or above max_*_sectors: IOERR, and the valid ranges beside it are not applied', () => {
    const r = new BlkRig({ discard: { maxSectors: 16, maxSeg: 4 } });
    r.submit([r.header(T.OUT), r.buf(pattern(KIB4, 11))], [r.status()]);
    for (const [type, bad] of [
      [T.DISCARD, { sector: 2047, count: 2 }],
      [T.WRITE_ZEROES, { sector: (1n << 64n) - 1n, count: 1 }],
      [T.DISCARD, { sector: 0, count: 17 }],
    ] as const) {
      const st = r.status();
      expect(r.submit([r.header(type), r.ranges([{ sector: 0, count: 8 }, bad])], [st])).toBe(1);
      expect(r.byte(st)).toBe(S.IOERR);
    }
    expect(r.dev.readDisk(0, KIB4)).toEqual(pattern(KIB4, 11));
  });

  it('G10: used.len is the bytes written, status included, for every outcome', () => {
    const r = new BlkRig({ id: 'id' });
    const cases: [number, () => number][] = [
      [KIB4 + 1, () => r.submit([r.header(T.IN)], [r.buf(KIB4), r.status()])],
      [1, () => r.submit([r.header(T.OUT), r.buf(KIB4)], [r.status()])],
      [1, () => r.submit([r.header(T.FLUSH)], [r.status()])],
      [21, () => r.submit([r.header(T.GET_ID)], [r.buf(20), r.status()])],
      [1, () => r.submit([r.header(T.DISCARD), r.ranges([{ sector: 0, count: 1 }])], [r.status()])],
      [1, () => r.submit([r.header(T.IN, 1n << 40n)], [r.buf(KIB4), r.status()])],
      [1, () => r.submit([r.header(99)], [r.buf(KIB4), r.status()])],
      [0, () => r.submit([r.buf(4)], [r.status()])],
    ];
    for (const [want, run] of cases) expect(run()).toBe(want);
    expect(r.gg.guardsIntact()).toBe(true);
  });
});
