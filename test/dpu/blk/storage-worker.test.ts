import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { type VolumeQueueClient } from '../../../src/dpu/blk/engine/queue-client.js';
import { VolumeOp } from '../../../src/dpu/blk/engine/volume-queue-layout.js';
import { Storage } from '../../../src/dpu/blk/storage.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { removeDir, tmpDir } from './helpers.js';

const PRODUCER = fileURLToPath(new URL('../../helpers/volume-queue-producer.mjs', import.meta.url));
const dir = tmpDir('storage');
const memory = new HostMemory({ sizeBytes: 256 << 20 });
const storage = new Storage(memory);

afterAll(async () => {
  await storage.close();
  removeDir(dir);
});

function produce(init: Record<string, unknown>): Promise<{ writes: number; reads: number; bad: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(PRODUCER, { workerData: { memory: memory.memory, ...init } });
    w.once('message', (m: { writes: number; reads: number; bad: number }) => {
      void w.terminate();
      resolve(m);
    });
    w.once('error', reject);
  });
}

async function waitReaped(q: VolumeQueueClient, n: number): Promise<{ tag: number; status: number }[]> {
  const got: { tag: number; status: number }[] = [];
  const start = Date.now();
  while (got.length < n) {
    q.reap((tag, status) => got.push({ tag, status }));
    if (Date.now() - start > 10_000) throw new Error(`only ${got.length} of ${n} completions`);
    await new Promise((r) => setTimeout(r, 1));
  }
  return got;
}

describe('storage worker', () => {
  it('serves volume I/O from the SDK and reports stats', async () => {
    const vol = await storage.createVolume({ dir: `${dir}/a`, sizeBytes: 16 << 20, qos: { weight: 200 } });
    const data = new Uint8Array(8192).map((_, i) => i * 31);
    await vol.write(40960, data, { fua: true });
    expect(await vol.read(40960, 8192)).toEqual(data);
    expect(await vol.read(0, 4096)).toEqual(new Uint8Array(4096));
    const s = await vol.stats();
    expect(s.space.mappedBlocks).toBe(2);
    expect(s.qos.spec).toEqual({ weight: 200 });
    await expect(vol.read(4095, 4096)).rejects.toThrow(/offset: expected a multiple of 4096/);
    await expect(vol.read(16 << 20, 4096)).rejects.toThrow(/expected at most 16777216/);
    await vol.close();
  });

  it('a thread with no main-thread hop drives a volume through its queue, during a two-disk rebuild', async () => {
    const vol = await storage.createVolume({ dir: `${dir}/b`, sizeBytes: 32 << 20, chunkBlocks: 4 });
    const q = await vol.openQueue({ depth: 64 });
    const first = await produce({
      queue: q.base,
      bufferBase: q.bufferBase,
      blocks: vol.blockCount,
      count: 3000,
      seed: 1,
    });
    expect(first).toEqual({ writes: 3001, reads: 3000, bad: 0 });
    await vol.loseDisk(0);
    await vol.loseDisk(3);
    await vol.replaceDisk(0);
    await vol.replaceDisk(3);
    // I/O while the rebuild runs: reads of the first set come from parity or rebuilt shards.
    const during = await produce({
      queue: q.base,
      bufferBase: q.bufferBase,
      blocks: vol.blockCount,
      count: 3000,
      seed: 1,
    });
    expect(during.bad).toBe(0);
    const progress = await vol.waitRebuilt();
    expect(progress.stripesFailed).toBe(0);
    await vol.loseDisk(1);
    await vol.loseDisk(2);
    const after = await produce({
      queue: q.base,
      bufferBase: q.bufferBase,
      blocks: vol.blockCount,
      count: 3000,
      seed: 1,
    });
    expect(after.bad).toBe(0);
    const s = await vol.stats();
    expect(s.queues[0]!.counters.requests).toBe(3 * 6001);
    expect(s.reads.degradedReads).toBeGreaterThan(0);
    expect((await vol.check({ deep: true })).ok).toBe(true);
    await q.close();
    await vol.close();
  });

  it('refuses hostile queue requests one by one and goes on serving', async () => {
    const vol = await storage.createVolume({ dir: `${dir}/c`, sizeBytes: 4 << 20 });
    const q = await vol.openQueue({ depth: 8 });
    const c = q.client();
    const inside = q.bufferBase;
    c.submit(9 as VolumeOp, 0, 4096, inside, 1); // unknown op
    c.submit(VolumeOp.Read, 100, 4096, inside, 2); // unaligned offset
    c.submit(VolumeOp.Read, 0, 4000, inside, 3); // unaligned length
    c.submit(VolumeOp.Read, 4 << 20, 4096, inside, 4); // past the end
    c.submit(VolumeOp.Write, 0, 4096, 4096, 5); // buffer outside the window (in reserved low memory)
    c.submit(VolumeOp.Read, 0, 8192, inside + q.bufferBytes - 4096, 6); // buffer running off the window
    c.submit(VolumeOp.Write, 0, 4096, inside, 7); // fine
    c.submit(VolumeOp.Read, 0, 4096, inside + 4096, 8); // fine
    c.ring();
    const got = await waitReaped(c, 8);
    expect(got).toEqual([
      { tag: 1, status: VolumeStatus.NotSupported },
      { tag: 2, status: VolumeStatus.Invalid },
      { tag: 3, status: VolumeStatus.Invalid },
      { tag: 4, status: VolumeStatus.Invalid },
      { tag: 5, status: VolumeStatus.Invalid },
      { tag: 6, status: VolumeStatus.Invalid },
      { tag: 7, status: VolumeStatus.Ok },
      { tag: 8, status: VolumeStatus.Ok },
    ]);
    const s = await vol.stats();
    expect(s.queues[0]!.counters).toMatchObject({ requests: 8, refused: 6 });
    await q.close();
    await vol.close();
  });

  it('validates options at the boundary with the field, range and value', async () => {
    await expect(storage.createVolume({ dir: `${dir}/d`, sizeBytes: 1000 })).rejects.toThrow(
      /volume options.sizeBytes: expected a multiple of 4096 in \[1048576, 68719476736\], got 1000/,
    );
    const err = await storage
      .createVolume({ dir: `${dir}/d`, sizeBytes: 1 << 20, extra: 1 } as never)
      .catch((e: unknown) => e);
    expect(isQingtianError(err, 'QT_INVALID_ARGUMENT')).toBe(true);
    const vol = await storage.createVolume({ dir: `${dir}/e`, sizeBytes: 1 << 20 });
    await expect(vol.openQueue({ depth: 12 })).rejects.toThrow(/depth: expected a power of two/);
    await expect(vol.setQos({ weight: 0 })).rejects.toThrow(/weight: expected an integer in \[1, 10000\], got 0/);
    await expect(vol.replaceDisk(1)).rejects.toThrow(/disk 1 is ok, expected a lost disk/);
    await expect(vol.loseDisk(6)).rejects.toThrow(/index: expected an integer in \[0, 5\], got 6/);
    await vol.close();
    await expect(vol.stats()).rejects.toThrow(/closed/);
  });
});
