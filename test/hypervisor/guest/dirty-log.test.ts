/**
 * The guest dirty log (src/hypervisor/guest/dirty-log.ts) fed by the one write path into guest
 * RAM (assembly/common/guest-write.ts): a device write marks exactly the pages it wrote, through
 * every slot of the guest map; with logging off nothing is written to any bitmap.
 */
import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { dirtyPages } from '../../../src/hypervisor/guest/dirty-log.js';
import { createDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { until } from '../../helpers/kernels.js';
import { GuardedGuest, MIB, startRig } from '../../dpu/virtio/helpers.js';
import { F, Harness, PACKED, RawPacked, RawSplit } from '../../dpu/virtio/raw-ring.js';

const PLAIN_SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };
/** Slot 1 of the remapped guest: GPA 1 GiB onward is the upper half of its RAM. */
const HI = 0x4000_0000n;
const HALF = 512 * 1024;

const pagesOf = (gpa: bigint, len: number): number[] => {
  const out: number[] = [];
  for (let p = Number(gpa >> 12n); p <= Number((gpa + BigInt(len) - 1n) >> 12n); p++) out.push(p);
  return out;
};
const set = (...lists: number[][]): number[] => [...new Set(lists.flat())].sort((a, b) => a - b);

/** A harness whose guest map has two slots: GPA [0, 512 KiB) and GPA [1 GiB, +512 KiB) (the upper half). */
function twoSlotHarness(): Harness {
  const h = new Harness(MIB);
  const g = h.guest;
  h.gg.remap([
    { gpaStart: 0n, sizeBytes: BigInt(HALF), hostBase: g.ramBase },
    { gpaStart: HI, sizeBytes: BigInt(HALF), hostBase: g.ramBase + HALF },
  ]);
  return h;
}

/** RAM offset of a GPA in the upper slot. */
const hiOffset = (gpa: bigint): number => HALF + Number(gpa - HI);

describe('guest dirty log', () => {
  it('a split-ring device write marks exactly the pages it wrote, found through the right slot', () => {
    const h = twoSlotHarness();
    const g = h.guest;
    const ring = new RawSplit(h, 8, PLAIN_SPLIT).configure();
    const src = g.allocGpa(4096, 4096); // readable only: never written by the device
    g.bytes.fill(0x5a, Number(src), Number(src) + 4096);
    const dst1 = HI + 0x3ff0n; // straddles two pages of the upper slot
    const dst2 = HI + 0x10000n; // a 4 KiB buffer of which 10 bytes are written
    ring
      .desc(0, src, 40, F.NEXT, 1)
      .desc(1, dst1, 64, F.WRITE)
      .desc(2, src + 100n, 10, F.NEXT, 3)
      .desc(3, dst2, 4096, F.WRITE)
      .desc(4, src + 200n, 8)
      .post(0, 2, 4);
    g.startDirtyLog();
    expect(g.dirtyLogging).toBe(true);
    expect(h.run()).toBe(3);
    // The echo landed where slot 1 maps, not at RAM offset = GPA.
    expect(g.bytes.slice(hiOffset(dst1), hiOffset(dst1) + 40)).toEqual(new Uint8Array(40).fill(0x5a));
    const used = pagesOf(ring.usedGpa, 4 + 8 * 3); // flags (NO_NOTIFY), idx, three elements
    expect(dirtyPages(g.readAndClearDirty())).toEqual(set(used, pagesOf(dst1, 40), pagesOf(dst2, 10)));
    expect(pagesOf(dst1, 40)).toEqual([Number(HI >> 12n) + 3, Number(HI >> 12n) + 4]);
    // Read and clear: nothing new until the device writes again.
    expect(dirtyPages(g.readAndClearDirty())).toEqual([]);
  });

  it('a packed-ring device marks the used descriptors, its event area and the data', () => {
    const h = new Harness(MIB);
    const g = h.guest;
    const ring = new RawPacked(h, 8, PACKED).configure();
    const src = g.allocGpa(4096, 4096);
    const dst = g.allocGpa(3 * 4096, 4096) + 4096n - 8n;
    ring.chain(
      [
        { addr: src, len: 32 },
        { addr: dst, len: 32, flags: F.WRITE },
      ],
      7,
    );
    g.startDirtyLog();
    expect(h.run()).toBe(1);
    expect(ring.usedAt(0)).toMatchObject({ id: 7, len: 32 });
    const expected = set(pagesOf(ring.descGpa, 16), pagesOf(ring.deviceGpa, 4), pagesOf(dst, 32));
    expect(dirtyPages(g.readAndClearDirty())).toEqual(expected);
    expect(expected).not.toContain(Number(src >> 12n));
  });

  it('with logging off (the default, or after stop) nothing is written to any bitmap', () => {
    const h = new Harness(MIB);
    const g = h.guest;
    const ring = new RawSplit(h, 8, PLAIN_SPLIT).configure();
    const src = h.buf(new Uint8Array(64).fill(1));
    const dst = h.buf(64);
    ring.desc(0, src, 64, F.NEXT, 1).desc(1, dst, 64, F.WRITE).post(0);
    expect(h.run()).toBe(1);
    expect(g.dirtyLogging).toBe(false);
    expect(h.memory.stats().byKind.bitmap).toBeUndefined(); // none was ever made
    expect(g.readAndClearDirty()).toEqual(new Uint32Array(0));
    g.startDirtyLog();
    g.stopDirtyLog();
    ring.post(0);
    expect(h.run()).toBe(1);
    expect(g.readAndClearDirty().every((w) => w === 0)).toBe(true);
    g.startDirtyLog();
    ring.post(0);
    expect(h.run()).toBe(1);
    expect(dirtyPages(g.readAndClearDirty()).length).toBeGreaterThan(0);
  });

  it('refuses a second start and a map past 64 GiB; destroy frees the bitmap', () => {
    const h = new Harness(MIB);
    const g = h.guest;
    g.startDirtyLog();
    expect(() => g.startDirtyLog()).toThrow(/already on/);
    g.stopDirtyLog();
    h.gg.remap([{ gpaStart: 1n << 40n, sizeBytes: BigInt(MIB), hostBase: g.ramBase }]);
    let caught: unknown = null;
    try {
      g.startDirtyLog();
    } catch (e) {
      caught = e;
    }
    expect(isQingtianError(caught, 'QT_INVALID_ARGUMENT')).toBe(true);
    expect(String(caught)).toMatch(/ends at GPA 0x10000100000, the bitmap covers at most 0x1000000000/);
    expect(h.memory.stats().byKind.bitmap?.count).toBe(1);
    g.destroy();
    expect(h.memory.stats().byKind.bitmap).toBeUndefined();
  });

  it('a device on a DPU core marks every buffer it writes and never one it only reads', async () => {
    const rig = await startRig(1, 'adaptive');
    try {
      const core = rig.pool.cores[0]!;
      const gg = new GuardedGuest(rig.memory, 'dl', 4 * MIB);
      const g = gg.guest;
      const features = { packed: false, eventIdx: true, indirect: true, inOrder: false };
      const dev = new LoopbackDevice(rig.rt, g, 'dl:loop', { maxQueueSize: 128 });
      const drv = createDriver(g, { size: 128, features, notify: () => core.ringDoorbell() });
      dev.configure({ size: 128, features, descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa });
      const out = g.allocGpa(64 * 4096, 4096); // one readable page per request
      const inb = g.allocGpa(64 * 4096, 4096); // one writable page per request
      await dev.start({ core, budget: 16 });
      g.startDirtyLog();
      await core.ping(); // a burst boundary: every burst from here on sees the log
      const written = new Set<number>();
      let done = 0;
      for (let i = 0; i < 64; i++) {
        const o = out + BigInt(i * 4096);
        const w = inb + BigInt(i * 4096) + BigInt((i * 97) % 4000);
        g.write(o, new Uint8Array(24).fill(i));
        expect(drv.add([{ gpa: o, len: 24 }], [{ gpa: w, len: 24 }], { indirect: i % 2 === 0 })).not.toBeNull();
        for (const p of pagesOf(w, 24)) written.add(p);
      }
      drv.kick();
      await until(() => (done += drv.reap().length) === 64, 'all 64 echoes');
      await dev.stop();
      const dirty = new Set(dirtyPages(g.readAndClearDirty()));
      for (const p of written) expect(dirty.has(p), `page ${p} written by the device`).toBe(true);
      for (let i = 0; i < 64; i++) expect(dirty.has(Number(out >> 12n) + i)).toBe(false);
      expect(dirty.has(Number(drv.deviceGpa >> 12n))).toBe(true);
      dev.free();
    } finally {
      await rig.close();
    }
  });
});
