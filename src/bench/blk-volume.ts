import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { featureWord, type RingFeatures } from '../common/virtio/features.js';
import { runQueueLoad } from '../dpu/blk/engine/queue-load.js';
import { VolumeOp } from '../dpu/blk/engine/volume-queue-layout.js';
import { Storage } from '../dpu/blk/storage.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { Guest } from '../hypervisor/guest/guest.js';
import { GuestVcpu } from '../hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../hypervisor/guest/virtio/blk-workload.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median } from './lib/stats.js';

const MIB = 1 << 20;
const RING = 512;
const QD = 128;
const VOLUME_BYTES = 64 * MIB;
const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };
const ALL_RING: RingFeatures = { packed: true, eventIdx: true, indirect: true, inOrder: true };

/**
 * Case "randread-4k-qd128-volume" of suite "blk": the full path, guest vCPU (Wasm driver) ->
 * virtio-blk kernel on one DPU core -> volume queue -> storage worker (log + RS(4,2) + DIF, disk
 * files on tmpfs) and back, 4 KiB random reads of a filled 64 MiB volume, 128 in flight. Peer in
 * the same run, interleaved: a thread keeping 128 reads in flight on a volume queue of the same
 * volume (the engine through its queue, no virtio).
 */
export async function volumeCase(ctx: BenchContext, seconds: number): Promise<void> {
  if (!ctx.wants('randread-4k-qd128-volume')) return;
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'qt-bench-blkvol-'));
  const memory = new HostMemory({ sizeBytes: 256 * MIB });
  const rt = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 256 });
  const storage = new Storage(memory, undefined, {
    runtime: rt,
    loadBlkKernel: () => pool.loadKernel(rt.kernel('blk')),
  });
  const vcpu = new GuestVcpu(memory, 'blk-vol-bench-vcpu', { nice: null });
  const guest = new Guest(memory, { name: 'bv', ramBytes: 8 * MIB });
  const words = memory.alloc({ name: 'bench:blkvol-words', owner: 'bench', kind: 'core-scratch', sizeBytes: 4096 });
  try {
    ctx.progress(`filling a ${VOLUME_BYTES >> 20} MiB volume in ${dir}`);
    const vol = await storage.createVolume({ dir: join(dir, 'vol'), name: 'bv', sizeBytes: VOLUME_BYTES });
    const chunk = new Uint8Array(MIB).map((_, i) => (i * 131) & 0xff);
    for (let off = 0; off < VOLUME_BYTES; off += MIB) await vol.write(off, chunk);
    await vol.flush();
    const load = await GuestBlkWorkload.create(guest, vcpu, {
      size: RING,
      features: SPLIT,
      blocks: vol.blockCount,
      seed: 0x2545f491,
    });
    const dev = await storage.attachBlk(vol, guest, { maxQueueSize: RING, depth: QD, maxBurst: 64 });
    dev.negotiate((dev.features() & ~featureWord(ALL_RING)) | featureWord(SPLIT));
    const { features: _f, ...rings } = load.queue.config;
    void _f;
    dev.setQueue(0, rings);
    await dev.start({ core: pool.cores[0]!, budget: 64 });
    await load.bind(dev.notifyWords(0), dev.queues[0]!.irqAddr);
    await load.benchStart(QD, 4096);
    await load.benchPump(100);
    const q = await vol.openQueue({ depth: QD, completionDoorbell: words.base, completionSleeping: words.base + 64 });
    const rates = { blk: [] as number[], queue: [] as number[] };
    for (let r = 0; r < ctx.runs; r++) {
      const p = await load.benchPump(seconds * 1000);
      if (load.errors()) throw new Error(`blk volume bench: ${load.errors()} requests failed`);
      rates.blk.push(p.completed / (p.elapsedNs / 1e9));
      const l = await runQueueLoad(memory, q, words.base, {
        op: VolumeOp.Read,
        blocks: vol.blockCount,
        depth: QD,
        ms: seconds * 1000,
        seed: 7 + r,
      });
      if (l.errors) throw new Error(`blk volume bench: ${l.errors} queue requests failed`);
      rates.queue.push((l.ops / l.elapsedMs) * 1000);
      ctx.progress(
        `volume run ${r + 1}: virtio-blk ${rates.blk[r]!.toFixed(0)} IOPS, queue ${rates.queue[r]!.toFixed(0)}`,
      );
    }
    ctx.report({
      case: 'randread-4k-qd128-volume',
      metric: 'IOPS, guest vCPU -> blk kernel (one DPU core) -> volume (log + RS(4,2) + DIF, tmpfs)',
      value: median(rates.blk),
      unit: 'IOPS',
      better: 'higher',
      peer: { name: 'volume queue from a thread, QD128 (no virtio)', value: median(rates.queue) },
      target: 3e5,
    });
    await q.close();
    await vcpu.stop();
    await dev.close();
  } finally {
    await vcpu.stop();
    await storage.close();
    memory.free(words, 'bench');
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
