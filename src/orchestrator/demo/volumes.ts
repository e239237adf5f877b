import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runQueueLoad } from '../../dpu/blk/engine/queue-load.js';
import { VolumeOp } from '../../dpu/blk/engine/volume-queue-layout.js';
import type { StorageVolume } from '../../dpu/blk/storage-volume.js';
import type { DemoChapter } from './demo-context.js';

const MIB = 1 << 20;
const DATA_MIB = 16;
const RESERVED = 4000;

function pattern(mib: number): Uint8Array {
  const b = new Uint8Array(MIB);
  let x = (mib + 1) * 0x9e3779b9;
  for (let i = 0; i < MIB; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
    b[i + 1] = (x >>> 8) & 0xff;
    b[i + 2] = (x >>> 16) & 0xff;
    b[i + 3] = x >>> 24;
  }
  return b;
}

async function allEqual(vol: StorageVolume): Promise<boolean> {
  for (let m = 0; m < DATA_MIB; m++) {
    const got = await vol.read(m * MIB, MIB);
    if (Buffer.compare(got, pattern(m)) !== 0) return false;
  }
  return true;
}

/**
 * Chapter "volumes": a log-structured volume, RS(4,2) over six disk files, T10 DIF on every
 * block, served by the storage I/O worker: write, lose two disks and read everything back from
 * parity, replace them and rebuild online while reads go on, then show QoS: a volume with a
 * reservation keeps it while a neighbour with 1000 times its weight floods the worker through
 * a volume queue (the path a virtio-blk kernel on a DPU core uses).
 */
export const volumes: DemoChapter = {
  title: 'Volumes: log + RS(4,2) + DIF on six disk files; lose two, rebuild online; QoS under a noisy neighbour',
  async run({ host, seconds, say, record }) {
    const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    const dir = mkdtempSync(join(base, 'qt-demo-volumes-'));
    try {
      const vol = await host.storage.createVolume({ dir: join(dir, 'vol0'), name: 'vol0', sizeBytes: 64 * MIB });
      for (let m = 0; m < DATA_MIB; m++) await vol.write(m * MIB, pattern(m));
      await vol.flush();
      const s0 = await vol.stats();
      say(
        `vol0: ${DATA_MIB} MiB written and flushed (data + map durable); ${s0.writes.unitsWritten} units on six disk ` +
          `files, device write amplification ${s0.writes.deviceWriteAmplification.toFixed(2)} (parity and padding)`,
      );
      await vol.loseDisk(1);
      await vol.loseDisk(4);
      const degraded = await allEqual(vol);
      const s1 = await vol.stats();
      say(
        `disks 1 and 4 lost: every byte read back equal: ${degraded} (${s1.reads.degradedReads} blocks rebuilt from parity on the way)`,
      );
      record('volume, two of six disks lost', `all ${DATA_MIB} MiB read back equal: ${degraded}`);
      await vol.replaceDisk(1);
      await vol.replaceDisk(4);
      const t = performance.now();
      let reads = 0;
      let rebuilding = true;
      const done = vol.waitRebuilt(5).finally(() => (rebuilding = false));
      while (rebuilding) {
        const m = reads++ % DATA_MIB;
        if (Buffer.compare(await vol.read(m * MIB, MIB), pattern(m)) !== 0)
          throw new Error('a read during the rebuild differed');
      }
      const p = await done;
      const ms = performance.now() - t;
      await vol.loseDisk(0);
      await vol.loseDisk(2);
      const rebuilt = await allEqual(vol);
      say(
        `disks 1 and 4 replaced and rebuilt online in ${ms.toFixed(0)} ms (${p.stripesRebuilt} stripes), ${reads} MiB read meanwhile; ` +
          `with disks 0 and 2 then lost, every byte still equal: ${rebuilt}`,
      );
      record(
        'volume, online rebuild of two disks',
        `${ms.toFixed(0)} ms, ${reads} MiB of reads during it, data equal: ${rebuilt}`,
      );
      await vol.close();

      const quiet = await host.storage.createVolume({ dir: join(dir, 'quiet'), name: 'quiet', sizeBytes: 32 * MIB });
      const noisy = await host.storage.createVolume({ dir: join(dir, 'noisy'), name: 'noisy', sizeBytes: 32 * MIB });
      const words = host.memory.alloc({
        name: 'demo:load-words',
        owner: 'demo',
        kind: 'core-scratch',
        sizeBytes: 4096,
      });
      try {
        const qq = await quiet.openQueue({
          depth: 64,
          completionDoorbell: words.base,
          completionSleeping: words.base + 64,
        });
        const nq = await noisy.openQueue({
          depth: 128,
          completionDoorbell: words.base + 128,
          completionSleeping: words.base + 192,
        });
        const ms2 = Math.max(800, Math.min(3000, seconds * 400));
        const measure = async (): Promise<[number, number]> => {
          const [a, b] = await Promise.all([
            runQueueLoad(host.memory, qq, words.base, {
              op: VolumeOp.Read,
              blocks: quiet.blockCount,
              depth: 64,
              ms: ms2,
              seed: 1,
            }),
            runQueueLoad(host.memory, nq, words.base + 128, {
              op: VolumeOp.Write,
              blocks: noisy.blockCount,
              depth: 128,
              ms: ms2,
              seed: 2,
            }),
          ]);
          return [(a.ops / a.elapsedMs) * 1000, (b.ops / b.elapsedMs) * 1000];
        };
        await quiet.setQos({ weight: 1 });
        await noisy.setQos({ weight: 1000 });
        const [q0, n0] = await measure();
        await quiet.setQos({ weight: 1, reservation: RESERVED });
        const [q1, n1] = await measure();
        say(
          `QoS, two volumes flooding the worker through volume queues (quiet: reads, QD64; noisy: writes, QD128, 1000x the weight): ` +
            `by weight alone quiet gets ${q0.toFixed(0)}/s (noisy ${n0.toFixed(0)}/s); with a reservation of ${RESERVED}/s it gets ` +
            `${q1.toFixed(0)}/s (noisy ${n1.toFixed(0)}/s)`,
        );
        record(
          'QoS reservation under a noisy neighbour',
          `${q1.toFixed(0)}/s for a reservation of ${RESERVED}/s (${q0.toFixed(0)}/s by weight alone)`,
        );
        await qq.close();
        await nq.close();
      } finally {
        host.memory.free(words, 'demo');
        await quiet.close();
        await noisy.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
