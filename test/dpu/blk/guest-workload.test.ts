/**
 * The guest block workload: Wasm on a guest vCPU worker drives virtio-blk devices served by
 * their kernels on DPU cores — batches of writes, reads (each checked against what the guest
 * last wrote), flushes and write-zeroes — and the RAM disk agrees with the guest's own record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlkDevice } from '../../../src/dpu/blk/blk-device.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../../../src/hypervisor/guest/virtio/blk-workload.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { featureWord, type RingFeatures } from '../../../src/common/virtio/features.js';

const MIB = 1 << 20;
const BLOCKS = 256;

/** The pattern assembly/guest/blk-workload.ts writes: word i of block b at version v. */
function expected(b: number, v: number): Uint8Array {
  const out = new Uint32Array(1024);
  if (v !== 0)
    for (let i = 0; i < 1024; i++)
      out[i] = (Math.imul(b, 0x9e3779b1) ^ Math.imul(v, 0x85ebca77) ^ Math.imul(i, 0x27d4eb2f)) >>> 0;
  return new Uint8Array(out.buffer);
}

describe('guest block workload on a vCPU against virtio-blk on DPU cores', () => {
  let memory: HostMemory;
  let rt: LoaderRuntime;
  let pool: DpuCorePool;
  let vcpu: GuestVcpu;
  beforeAll(async () => {
    memory = new HostMemory({ sizeBytes: 96 * MIB });
    rt = new LoaderRuntime(memory);
    pool = await DpuCorePool.start(memory, { cores: 2, mode: 'adaptive', idleSpinPolls: 64 });
    await pool.loadKernel(rt.kernel('blk'));
    vcpu = new GuestVcpu(memory, 'blk-vcpu');
  });
  afterAll(async () => {
    await vcpu.stop();
    await pool.close();
  });

  async function setup(
    name: string,
    features: RingFeatures,
    queues: number,
  ): Promise<{ guest: Guest; dev: BlkDevice; loads: GuestBlkWorkload[] }> {
    const guest = new Guest(memory, { name, ramBytes: 8 * MIB });
    const dev = new BlkDevice(rt, guest, `${name}:blk`, { backend: 'ram', capacityBytes: BLOCKS * 4096, queues });
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
        seed: 7 + q,
      });
      const { features: _f, ...rings } = w.queue.config;
      void _f;
      dev.setQueue(q, rings);
      loads.push(w);
    }
    await dev.start(pool.cores.map((core) => ({ core, budget: 32 })).slice(0, queues === 1 ? 1 : queues));
    for (let q = 0; q < queues; q++) await loads[q]!.bind(dev.notifyWords(q), dev.queues[q]!.irqAddr);
    return { guest, dev, loads };
  }

  for (const features of [
    { packed: false, eventIdx: false, indirect: false, inOrder: false },
    { packed: true, eventIdx: true, indirect: true, inOrder: false },
  ]) {
    it(`reads back what it wrote, ${features.packed ? 'packed + indirect' : 'split'} ring`, async () => {
      const { guest, dev, loads } = await setup(features.packed ? 'wp' : 'ws', features, 1);
      const w = loads[0]!;
      const r = await w.run(8, 400);
      expect(r.errors).toBe(0);
      expect(r.completed).toBeGreaterThan(400);
      const s = dev.stats();
      expect(s.writes).toBeGreaterThan(0);
      expect(s.reads).toBeGreaterThan(0);
      expect(s.flushes).toBeGreaterThan(0);
      expect(s.writeZeroes).toBeGreaterThan(0);
      expect(s.ioErrors + s.unsupported + s.rejected).toBe(0);
      // The disk holds exactly what the guest believes it wrote, block by block.
      let written = 0;
      for (let b = 0; b < BLOCKS; b++) {
        const v = w.version(b);
        if (v) written++;
        expect(dev.readDisk(b * 4096, 4096), `block ${b} version ${v}`).toEqual(expected(b, v));
      }
      expect(written).toBeGreaterThan(0);
      await dev.stop();
      dev.free();
      guest.destroy();
    });
  }

  it('a wrong read is caught: the workload checks data, not only statuses', async () => {
    const { guest, dev, loads } = await setup(
      'wc',
      { packed: false, eventIdx: false, indirect: false, inOrder: false },
      1,
    );
    const w = loads[0]!;
    expect((await w.run(4, 200)).errors).toBe(0);
    // Corrupt every block behind the guest's back: the next reads must report errors.
    await dev.stop();
    const disk = memory.regions().find((r) => r.name === 'wc:blk:disk')!.base + 64;
    for (let b = 0; b < BLOCKS; b++) {
      const at = disk + b * 4096 + 100;
      memory.u8[at] = memory.u8[at]! ^ 0x01;
    }
    await dev.start({ core: pool.cores[0]!, budget: 32 });
    expect((await w.run(4, 200)).errors).toBeGreaterThan(0);
    await dev.stop();
    dev.free();
    guest.destroy();
  });

  it('multiqueue: two queues on two cores, each with its own blocks, both checked', async () => {
    const { guest, dev, loads } = await setup(
      'wm',
      { packed: false, eventIdx: true, indirect: false, inOrder: false },
      2,
    );
    const [a, b] = await Promise.all(loads.map((w) => w.run(4, 200)));
    expect(a!.errors + b!.errors).toBe(0);
    for (let blk = 0; blk < BLOCKS; blk++) {
      const w = loads[blk < BLOCKS / 2 ? 0 : 1]!;
      expect(dev.readDisk(blk * 4096, 4096)).toEqual(expected(blk, w.version(blk)));
    }
    const s = dev.stats();
    expect(s.queues[0]!.pushed).toBeGreaterThan(0);
    expect(s.queues[1]!.pushed).toBeGreaterThan(0);
    expect(s.jobs.map((j) => j.coreId)).toEqual([pool.cores[0]!.id, pool.cores[1]!.id]);
    await dev.stop();
    dev.free();
    guest.destroy();
  });
});
