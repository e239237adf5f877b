/**
 * virtio-blk over a volume, request by request: a TS driver, the blk kernel run on this thread
 * burst by burst until the storage worker's completion comes back. What a volume cannot store
 * (not whole 4096-byte blocks, more than one bounce buffer) is IOERR (docs/virtio-policy.md, G4
 * and G9c over a volume); ranges go to the volume one by one; FLUSH reaches it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlkDevice } from '../../../src/dpu/blk/blk-device.js';
import { BlkConfig } from '../../../src/dpu/blk/blk-config.js';
import { Storage } from '../../../src/dpu/blk/storage.js';
import type { StorageVolume } from '../../../src/dpu/blk/storage-volume.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { createDriver, type Buf, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { featureWord } from '../../../src/common/virtio/features.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { GuardedGuest, MIB } from '../virtio/helpers.js';
import { S, SPLIT, T, pattern } from './blk-rig.js';
import { removeDir, tmpDir } from './helpers.js';

describe('virtio-blk over a volume, request by request', () => {
  const memory = new HostMemory({ sizeBytes: 128 * MIB });
  const rt = new LoaderRuntime(memory);
  const storage = new Storage(memory, undefined, { runtime: rt, loadBlkKernel: () => Promise.resolve() });
  const dir = tmpDir('blkvolreq');
  let gg: GuardedGuest;
  let vol: StorageVolume;
  let dev: BlkDevice;
  let drv: VirtqueueDriver;
  let run: (job: number, budget: number) => number;

  beforeAll(async () => {
    vol = await storage.createVolume({ dir: `${dir}/v`, sizeBytes: 2 * MIB });
    gg = new GuardedGuest(memory, 'bvr', 4 * MIB);
    dev = await storage.attachBlk(vol, gg.guest, { maxRequestBytes: 8192, depth: 8 });
    const all = featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true });
    dev.negotiate(dev.features() & ~(all & ~featureWord(SPLIT)));
    drv = createDriver(gg.guest, { size: 64, features: SPLIT, notify: () => undefined });
    dev.setQueue(0, { size: 64, descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa });
    run = rt.kernel('blk').fn('blk_run');
  });
  afterAll(async () => {
    await dev.close();
    await storage.close();
    removeDir(dir);
  });

  const buf = (bytesOrLen: Uint8Array | number, fill = 0): Buf => {
    const data = typeof bytesOrLen === 'number' ? new Uint8Array(bytesOrLen).fill(fill) : bytesOrLen;
    const gpa = gg.guest.allocGpa(Math.max(1, data.length), 64);
    gg.guest.write(gpa, data);
    return { gpa, len: data.length };
  };
  const header = (type: number, sector: number): Buf => {
    const h = new DataView(new ArrayBuffer(16));
    h.setUint32(0, type, true);
    h.setBigUint64(8, BigInt(sector), true);
    return buf(new Uint8Array(h.buffer));
  };
  const ranges = (list: { sector: number; count: number; flags?: number }[]): Buf => {
    const v = new DataView(new ArrayBuffer(16 * list.length));
    list.forEach((r, i) => {
      v.setBigUint64(16 * i, BigInt(r.sector), true);
      v.setUint32(16 * i + 8, r.count, true);
      v.setUint32(16 * i + 12, r.flags ?? 0, true);
    });
    return buf(new Uint8Array(v.buffer));
  };
  const status = (): Buf => buf(1, 0xff);
  const byte = (b: Buf): number => gg.guest.ram.getUint8(Number(b.gpa));

  /** One chain: bursts of the job until its completion is back (the worker answers in its own time). */
  async function submit(out: Buf[], inb: Buf[]): Promise<number> {
    const token = drv.add(out, inb);
    if (token === null) throw new Error('ring full');
    drv.kick();
    for (let i = 0; i < 5000; i++) {
      expect(run(dev.jobBase(0), 64)).toBeGreaterThanOrEqual(0);
      const done = drv.reap();
      if (done.length) {
        expect(done.map((d) => d.token)).toEqual([token]);
        return done[0]!.len;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    throw new Error('no completion');
  }

  async function readBlocks(sector: number, bytes: number): Promise<Uint8Array> {
    const back = buf(bytes, 0xee);
    const st = status();
    expect(await submit([header(T.IN, sector)], [back, st])).toBe(bytes + 1);
    expect(byte(st)).toBe(S.OK);
    return gg.guest.read(back.gpa, bytes);
  }

  it('config: blk_size 4096, size_max 4096, seg_max = maxRequestBytes / 4096, write-zeroes may unmap', () => {
    const c = new DataView(dev.configRead(0, BlkConfig.BYTES).buffer);
    expect(c.getBigUint64(BlkConfig.CAPACITY, true)).toBe(BigInt((2 * MIB) / 512));
    expect(c.getUint32(BlkConfig.BLK_SIZE, true)).toBe(4096);
    expect(c.getUint32(BlkConfig.SIZE_MAX, true)).toBe(4096);
    expect(c.getUint32(BlkConfig.SEG_MAX, true)).toBe(2);
    expect(c.getUint8(BlkConfig.WRITE_ZEROES_MAY_UNMAP)).toBe(1);
    expect(c.getUint32(BlkConfig.DISCARD_SECTOR_ALIGNMENT, true)).toBe(8);
  });

  it('GET_ID answers the volume name (the default id)', async () => {
    const id = buf(20);
    const st = status();
    expect(await submit([header(T.GET_ID, 0)], [id, st])).toBe(21);
    expect(byte(st)).toBe(S.OK);
    const want = new Uint8Array(20);
    want.set(new TextEncoder().encode(vol.name.slice(0, 20)));
    expect(gg.guest.read(id.gpa, 20)).toEqual(want);
  });

  it('OUT then IN through the volume: the data comes back, the volume holds it', async () => {
    const data = pattern(8192, 3);
    const st = status();
    expect(await submit([header(T.OUT, 16), buf(data)], [st])).toBe(1);
    expect(byte(st)).toBe(S.OK);
    expect(await readBlocks(16, 8192)).toEqual(data);
    expect(await vol.read(8192, 8192)).toEqual(data);
    // FLUSH reaches the volume: it completes after an fdatasync of disks and journal.
    const syncs = (await vol.stats()).syncs;
    const f = status();
    expect(await submit([header(T.FLUSH, 0)], [f])).toBe(1);
    expect(byte(f)).toBe(S.OK);
    expect((await vol.stats()).syncs).toBeGreaterThan(syncs);
  });

  it('G4 over a volume: a sector or length that is not whole 4096-byte blocks is IOERR, nothing written', async () => {
    const before = await readBlocks(0, 8192);
    for (const [sector, len] of [
      [3, 4096],
      [0, 512],
      [8, 4096 + 512],
    ] as const) {
      const st = status();
      expect(await submit([header(T.OUT, sector), buf(pattern(len, 9))], [st])).toBe(1);
      expect(byte(st)).toBe(S.IOERR);
      const st2 = status();
      expect(await submit([header(T.IN, sector)], [buf(len), st2])).toBe(1);
      expect(byte(st2)).toBe(S.IOERR);
    }
    expect(await readBlocks(0, 8192)).toEqual(before);
  });

  it('more data than one bounce buffer (seg_max x size_max) is IOERR', async () => {
    const st = status();
    expect(await submit([header(T.IN, 0)], [buf(16384), st])).toBe(1);
    expect(byte(st)).toBe(S.IOERR);
    const st2 = status();
    expect(await submit([header(T.OUT, 0), buf(16384)], [st2])).toBe(1);
    expect(byte(st2)).toBe(S.IOERR);
    expect(dev.stats().ioErrors).toBeGreaterThanOrEqual(2);
  });

  it('DISCARD and WRITE_ZEROES: ranges go one by one; unaligned ranges are IOERR and apply nothing', async () => {
    for (let s = 0; s < 64; s += 16) {
      const st = status();
      expect(await submit([header(T.OUT, s), buf(pattern(8192, s + 1))], [st])).toBe(1);
      expect(byte(st)).toBe(S.OK);
    }
    const mapped = (await vol.stats()).space.mappedBlocks;
    const bad = status();
    expect(
      await submit(
        [
          header(T.DISCARD, 0),
          ranges([
            { sector: 0, count: 8 },
            { sector: 20, count: 8 },
          ]),
        ],
        [bad],
      ),
    ).toBe(1);
    expect(byte(bad)).toBe(S.IOERR);
    expect(await readBlocks(0, 8192)).toEqual(pattern(8192, 1));
    const st = status();
    const list = [
      { sector: 0, count: 8 },
      { sector: 16, count: 0 },
      { sector: 24, count: 8 },
      { sector: 40, count: 8 },
    ];
    expect(await submit([header(T.DISCARD, 0), ranges(list)], [st])).toBe(1);
    expect(byte(st)).toBe(S.OK);
    // DISCARD frees space: the three non-empty ranges unmapped three blocks.
    expect((await vol.stats()).space.mappedBlocks).toBe(mapped - 3);
    const zero = new Uint8Array(4096);
    expect((await readBlocks(0, 8192)).subarray(0, 4096)).toEqual(zero);
    const b16 = await readBlocks(16, 8192);
    expect(b16.subarray(0, 4096)).toEqual(pattern(8192, 17).subarray(0, 4096));
    expect(b16.subarray(4096)).toEqual(zero);
    const b40 = await readBlocks(40, 8192);
    expect(b40.subarray(0, 4096)).toEqual(zero);
    expect(b40.subarray(4096)).toEqual(pattern(8192, 49).subarray(0, 4096));
    const wz = status();
    expect(await submit([header(T.WRITE_ZEROES, 0), ranges([{ sector: 48, count: 16, flags: 1 }])], [wz])).toBe(1);
    expect(byte(wz)).toBe(S.OK);
    expect(await readBlocks(48, 8192)).toEqual(new Uint8Array(8192));
    expect(dev.stats().volumeRequests).toBeGreaterThan(0);
  });

  it('save() is refused while chains wait for the volume (they would not be in the snapshot)', async () => {
    drv.add([header(T.IN, 0)], [buf(4096), status()]);
    drv.kick();
    expect(run(dev.jobBase(0), 64)).toBe(1);
    expect(dev.stats().inflight).toBe(1);
    expect(() => dev.save()).toThrow(/in flight/);
    for (let i = 0; i < 5000 && drv.reap().length === 0; i++) {
      run(dev.jobBase(0), 64);
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(dev.stats().inflight).toBe(0);
    expect(dev.save().length).toBeGreaterThan(0);
  });
});
