import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runQueueLoad } from '../../dpu/blk/engine/queue-load.js';
import { VolumeOp } from '../../dpu/blk/engine/volume-queue-layout.js';
import type { StorageVolume } from '../../dpu/blk/storage-volume.js';
import type { DemoChapter } from './demo-context.js';
import { featureWord } from '../../common/virtio/features.js';
import { Guest } from '../../hypervisor/guest/guest.js';
import { GuestVcpu } from '../../hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../../hypervisor/guest/virtio/blk-workload.js';

const MIB = 1 << 20;
const RESERVED = 4000;

const BLOCKS = 2048;
const SPLIT = { packed: false, eventIdx: true, indirect: false, inOrder: false };

/** Blocks of the volume that differ from what the guest believes it wrote. */
async function mismatches(vol: StorageVolume, w: GuestBlkWorkload): Promise<number> {
  let bad = 0;
  for (let b = 0; b < BLOCKS; b += 256) {
    const data = await vol.read(b * 4096, 256 * 4096);
    for (let k = 0; k < 256; k++) {
      const want = GuestBlkWorkload.expectedBlock(b + k, w.version(b + k));
      if (Buffer.compare(data.subarray(k * 4096, (k + 1) * 4096), want) !== 0) bad++;
    }
  }
  return bad;
}

/**
 * Chapter "volumes": a log-structured volume, RS(4,2) over six disk files, T10 DIF on every
 * block, served by the storage I/O worker, attached to a guest as virtio-blk: the guest writes
 * and checks its reads, two disks are lost and then rebuilt online while it keeps going, and
 * the volume holds exactly what the guest wrote. Then QoS: a volume with a
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
      // A guest whose own Wasm, on its vCPU, drives a virtio-blk device over vol0: each request
      // goes DPU core -> volume queue -> storage worker and completes in a later turn.
      const guest = new Guest(host.memory, { name: 'demo-blk', ramBytes: 8 * MIB });
      const vcpu = new GuestVcpu(host.memory, 'demo-blk-vcpu');
      const dev = await host.storage.attachBlk(vol, guest, { depth: 64 });
      try {
        const all = featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true });
        dev.negotiate(dev.features() & ~(all & ~featureWord(SPLIT)));
        const w = await GuestBlkWorkload.create(guest, vcpu, { size: 64, features: SPLIT, blocks: BLOCKS, seed: 5 });
        const { features: _f, ...rings } = w.queue.config;
        void _f;
        dev.setQueue(0, rings);
        await dev.start({ core: host.dpu.cores[0]!, budget: 32 });
        await w.bind(dev.notifyWords(0), dev.queues[0]!.irqAddr);
        const rounds = Math.max(100, Math.min(400, seconds * 40));
        const r0 = await w.run(8, rounds);
        const s0 = await vol.stats();
        say(
          `a guest wrote, read (checking every byte), flushed, zeroed and discarded through virtio-blk on vol0: ` +
            `${r0.completed} requests, ${r0.errors} errors; ${s0.writes.unitsWritten} units on six disk files, ` +
            `device write amplification ${s0.writes.deviceWriteAmplification.toFixed(2)} (parity and padding)`,
        );
        const running = w.run(8, rounds);
        await vol.loseDisk(1);
        await vol.loseDisk(4);
        const r1 = await running;
        const bad1 = await mismatches(vol, w);
        const s1 = await vol.stats();
        say(
          `disks 1 and 4 lost while the guest kept going: ${r1.completed} more requests, ${r1.errors} errors; ` +
            `blocks differing from the guest's record: ${bad1} (${s1.reads.degradedReads} blocks rebuilt from parity on the way)`,
        );
        record('virtio-blk on a volume, two of six disks lost', `${r1.errors} guest errors, ${bad1} blocks differ`);
        await vol.replaceDisk(1);
        await vol.replaceDisk(4);
        const t = performance.now();
        const during = w.run(8, rounds);
        const p = await vol.waitRebuilt(5);
        const ms = performance.now() - t;
        const r2 = await during;
        const bad2 = await mismatches(vol, w);
        say(
          `disks 1 and 4 replaced and rebuilt online in ${ms.toFixed(0)} ms (${p.stripesRebuilt} stripes) under guest I/O: ` +
            `${r2.completed} more requests, ${r2.errors} errors; blocks differing: ${bad2}`,
        );
        record(
          'virtio-blk on a volume, online rebuild of two disks',
          `${ms.toFixed(0)} ms under guest I/O, ${r2.errors} guest errors, ${bad2} blocks differ`,
        );
      } finally {
        await dev.close();
        await vcpu.stop();
        guest.destroy();
      }
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
