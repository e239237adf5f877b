/**
 * virtio-blk over a volume (host.storage.attachBlk): the guest block workload on a vCPU drives a
 * device whose requests go DPU core -> volume queue -> storage worker (log + RS(4,2) + DIF), and
 * every block the volume holds is what the guest believes it wrote. Two disks are lost and
 * rebuilt while the guest keeps doing I/O; the result is byte-exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureWord, type RingFeatures } from '../../../src/common/virtio/features.js';
import type { BlkDevice } from '../../../src/dpu/blk/blk-device.js';
import type { StorageVolume } from '../../../src/dpu/blk/storage-volume.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../../../src/hypervisor/guest/virtio/blk-workload.js';
import { Host } from '../../../src/orchestrator/host.js';
import { ErrorCode, QingtianError } from '../../../src/common/errors.js';
import { removeDir, tmpDir } from './helpers.js';

const MIB = 1 << 20;
const BLOCKS = 512;
const SPLIT: RingFeatures = { packed: false, eventIdx: true, indirect: false, inOrder: false };

const expected = (b: number, v: number): Uint8Array => GuestBlkWorkload.expectedBlock(b, v);

describe('virtio-blk over a volume (host.storage.attachBlk)', () => {
  let host: Host;
  let vcpu: GuestVcpu;
  let dir: string;
  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 256 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 64 },
    });
    vcpu = new GuestVcpu(host.memory, 'blkvol-vcpu');
    dir = tmpDir('blkvol');
  });
  afterAll(async () => {
    await vcpu.stop();
    await host.shutdown();
    removeDir(dir);
  });

  async function attach(
    name: string,
    features: RingFeatures,
    queues = 1,
  ): Promise<{ vol: StorageVolume; guest: Guest; dev: BlkDevice; loads: GuestBlkWorkload[] }> {
    const vol = await host.storage.createVolume({ dir: `${dir}/${name}`, sizeBytes: 8 * MIB, chunkBlocks: 4 });
    const guest = new Guest(host.memory, { name, ramBytes: 8 * MIB });
    const dev = await host.storage.attachBlk(vol, guest, { queues, depth: 64 });
    dev.negotiate(
      dev.features() &
        ~(featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true }) & ~featureWord(features)),
    );
    const loads: GuestBlkWorkload[] = [];
    for (let q = 0; q < queues; q++) {
      const w = await GuestBlkWorkload.create(guest, vcpu, {
        size: 64,
        features,
        firstBlock: (q * BLOCKS) / queues,
        blocks: BLOCKS / queues,
        seed: 11 + q,
      });
      const { features: _f, ...rings } = w.queue.config;
      void _f;
      dev.setQueue(q, rings);
      loads.push(w);
    }
    await dev.start(host.dpu.cores.slice(0, queues).map((core) => ({ core, budget: 32 })));
    for (let q = 0; q < queues; q++) await loads[q]!.bind(dev.notifyWords(q), dev.queues[q]!.irqAddr);
    return { vol, guest, dev, loads };
  }

  /** Every block of the volume (read through the worker) is the version the guest last wrote. */
  async function checkVolume(vol: StorageVolume, loads: GuestBlkWorkload[]): Promise<number> {
    let written = 0;
    for (let b = 0; b < BLOCKS; b += 64) {
      const data = await vol.read(b * 4096, 64 * 4096);
      for (let k = 0; k < 64; k++) {
        const blk = b + k;
        const w = loads.find((l) => blk >= l.firstBlock && blk < l.firstBlock + l.blocks)!;
        const v = w.version(blk);
        if (v) written++;
        expect(data.subarray(k * 4096, (k + 1) * 4096), `block ${blk} version ${v}`).toEqual(expected(blk, v));
      }
    }
    return written;
  }

  for (const features of [SPLIT, { packed: true, eventIdx: true, indirect: true, inOrder: false }]) {
    it(`the guest reads back what it wrote through the volume, ${features.packed ? 'packed' : 'split'} ring`, async () => {
      const name = features.packed ? 'vp' : 'vs';
      const { vol, guest, dev, loads } = await attach(name, features);
      const r = await loads[0]!.run(8, 300);
      expect(r.errors).toBe(0);
      expect(r.completed).toBeGreaterThan(300);
      const s = dev.stats();
      expect(s.writes).toBeGreaterThan(0);
      expect(s.reads).toBeGreaterThan(0);
      expect(s.flushes).toBeGreaterThan(0);
      expect(s.discards + s.writeZeroes).toBeGreaterThan(0);
      expect(s.volumeRequests).toBeGreaterThanOrEqual(s.writes + s.reads + s.flushes);
      expect(s.ioErrors + s.unsupported + s.rejected).toBe(0);
      expect(s.inflight).toBe(0);
      expect(await checkVolume(vol, loads)).toBeGreaterThan(0);
      await dev.close();
      await vol.close();
      guest.destroy();
    });
  }

  it('attached by name: capacity and blk_size from the volume; a second attach and closing an attached volume are refused', async () => {
    const vol = await host.storage.createVolume({ dir: `${dir}/id`, name: 'vol-id-1', sizeBytes: 2 * MIB });
    const guest = new Guest(host.memory, { name: 'gid', ramBytes: 2 * MIB });
    const dev = await host.storage.attachBlk('vol-id-1', guest);
    expect(dev.configRead(0, 8)).toEqual(new Uint8Array(new BigUint64Array([BigInt((2 * MIB) / 512)]).buffer));
    expect(new DataView(dev.configRead(20, 4).buffer).getUint32(0, true)).toBe(4096);
    await expect(host.storage.attachBlk(vol, guest)).rejects.toMatchObject({ code: ErrorCode.DeviceState });
    await expect(vol.close()).rejects.toMatchObject({ code: ErrorCode.DeviceState });
    expect(() => dev.free()).toThrow(QingtianError);
    await host.storage.detachBlk(dev);
    await vol.close();
    guest.destroy();
  });

  it('two disks lost under guest I/O: reads keep being served; rebuilt under guest I/O, byte-exact', async () => {
    const { vol, guest, dev, loads } = await attach('vd', SPLIT, 2);
    const [a, b] = loads as [GuestBlkWorkload, GuestBlkWorkload];
    expect((await Promise.all([a.run(8, 60), b.run(8, 60)])).every((r) => r.errors === 0)).toBe(true);
    // Lose two of the six disks while both queues keep going.
    const running = Promise.all([a.run(8, 200), b.run(8, 200)]);
    await vol.loseDisk(1);
    await vol.loseDisk(4);
    const degraded = await running;
    expect(degraded.map((r) => r.errors)).toEqual([0, 0]);
    expect(await checkVolume(vol, loads)).toBeGreaterThan(0);
    // Replace both and rebuild while the guest writes, reads, zeroes and flushes.
    await vol.replaceDisk(1);
    await vol.replaceDisk(4);
    const during = Promise.all([a.run(8, 200), b.run(8, 200)]);
    const progress = await vol.waitRebuilt();
    const after = await during;
    expect(after.map((r) => r.errors)).toEqual([0, 0]);
    expect(progress.done).toBe(true);
    expect(await checkVolume(vol, loads)).toBeGreaterThan(0);
    const check = await vol.check({ deep: true });
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    const s = dev.stats();
    expect(s.ioErrors + s.rejected).toBe(0);
    await dev.close();
    await vol.close();
    guest.destroy();
  });

  it('stopped mid-run, the device answers every chain in flight; started again, the guest goes on', async () => {
    const { vol, guest, dev, loads } = await attach('vr', SPLIT);
    const w = loads[0]!;
    const running = w.run(16, 300);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 30));
      await dev.stop();
      // Stopped: the worker has answered everything and every chain popped has been pushed.
      expect(dev.stats().inflight).toBe(0);
      const q = dev.stats().queues[0]!;
      expect(q.pushed).toBe(q.popped);
      await dev.start({ core: host.dpu.cores[0]!, budget: 32 });
    }
    expect((await running).errors).toBe(0);
    expect(dev.stats().inflight).toBe(0);
    expect(await checkVolume(vol, loads)).toBeGreaterThan(0);
    await dev.close();
    await vol.close();
    guest.destroy();
  });
});
