import { EcOffload } from '../../dpu/ec/ec-offload.js';
import { ReedSolomon } from '../../dpu/ec/reed-solomon.js';
import { T10Dif } from '../../dpu/dif/t10-dif.js';
import { DIF_PI_BYTES } from '../../generated/dif.js';
import type { DemoChapter } from './demo-context.js';

const K = 10;
const M = 4;
const BLOCK = 4096;
const UNIT = BLOCK + DIF_PI_BYTES;
/** Protected blocks per shard: a shard is 16 x 4104 bytes. */
const BLOCKS_PER_SHARD = 16;
const SHARD = BLOCKS_PER_SHARD * UNIT;
const STRIPES = 24;

/**
 * Chapter "erasure coding and T10 DIF": a volume's 4 KiB blocks get T10 PI (type 1, ref tag =
 * LBA), are striped RS(10,4) (ISA-L Cauchy) over 14 "disks" by a batch job on the DPU cores,
 * four disks are lost and rebuilt, DIF verifies every rebuilt block, and one flipped bit is
 * caught with the block and tag named.
 */
export const erasureDif: DemoChapter = {
  title: 'Erasure coding and T10 DIF: stripe, lose four disks, rebuild, catch a flipped bit',
  async run({ host, say, record }) {
    const mem = host.memory;
    const rs = new ReedSolomon({ dataShards: K, parityShards: M, matrix: 'isal-cauchy', runtime: host.runtime });
    const dif = new T10Dif({
      blockSize: BLOCK,
      type: 1,
      refTag: 0,
      appTag: 0x5154,
      checks: { appTag: true },
      runtime: host.runtime,
      simd: rs.flavour,
    });
    const off = await EcOffload.start(host.runtime, host.dpu, { simd: rs.flavour });
    const disks = mem.alloc({
      name: 'demo:disks',
      owner: 'demo',
      kind: 'guest-ram',
      sizeBytes: STRIPES * (K + M) * SHARD,
    });
    const addr = (stripe: number, disk: number): number => disks.base + (stripe * (K + M) + disk) * SHARD;
    try {
      // Volume data: every data shard holds 16 protected blocks, LBA = position in the volume.
      let seed = 0x2545f491;
      for (let s = 0; s < STRIPES; s++) {
        for (let d = 0; d < K; d++) {
          const a = addr(s, d);
          for (let i = 0; i < SHARD; i += 4) {
            seed ^= seed << 13;
            seed ^= seed >>> 17;
            seed ^= seed << 5;
            mem.view.setUint32(a + i, seed >>> 0, true);
          }
        }
      }
      const lba = (s: number, d: number): number => (s * K + d) * BLOCKS_PER_SHARD;
      let t = performance.now();
      for (let s = 0; s < STRIPES; s++)
        for (let d = 0; d < K; d++) dif.withRefTag(lba(s, d)).generateAt(addr(s, d), BLOCKS_PER_SHARD);
      const genMs = performance.now() - t;
      const volumeBytes = STRIPES * K * BLOCKS_PER_SHARD * BLOCK;
      say(
        `T10 PI type 1 on ${STRIPES * K * BLOCKS_PER_SHARD} blocks of 4 KiB (${(volumeBytes / 2 ** 20).toFixed(1)} MiB): guard CRC16, app tag 0x5154, ref tag = LBA, in ${genMs.toFixed(1)} ms`,
      );

      const stripes = Array.from({ length: STRIPES }, (_, s) => ({
        data: [...Array(K).keys()].map((d) => addr(s, d)),
        parity: [...Array(M).keys()].map((p) => addr(s, K + p)),
      }));
      await off.encode(rs, stripes, SHARD); // first pass: the core's kernel tiers up (Liftoff -> TurboFan)
      t = performance.now();
      const enc = await off.encode(rs, stripes, SHARD);
      const encS = (performance.now() - t) / 1000;
      say(
        `RS(${K},${M}) ${rs.matrix} (${rs.flavour} kernels): ${STRIPES} stripes encoded by an ec_batch job on ${off.cores} DPU core(s), ${(enc.bytes / encS / 1e9).toFixed(2)} GB/s of data (second pass)`,
      );
      record(`RS(${K},${M}) encode, batch on ${off.cores} DPU core(s)`, `${(enc.bytes / encS / 1e9).toFixed(2)} GB/s`);

      const expected = mem.u8.slice(disks.base, disks.base + disks.sizeBytes);
      const lost = [1, 4, 9, 12];
      for (let s = 0; s < STRIPES; s++) for (const d of lost) mem.u8.fill(0, addr(s, d), addr(s, d) + SHARD);
      say(
        `disks ${lost.join(', ')} lost (three data disks and one parity disk): ${STRIPES * lost.length} shards zeroed`,
      );
      t = performance.now();
      const rec = await off.reconstruct(
        rs,
        stripes.map((_, s) => ({ shards: [...Array(K + M).keys()].map((d) => addr(s, d)) })),
        lost,
        SHARD,
      );
      const recS = (performance.now() - t) / 1000;
      const same = Buffer.from(mem.u8.buffer, disks.base, disks.sizeBytes).equals(expected);
      say(
        `rebuilt on the DPU: ${(rec.bytes / recS / 1e9).toFixed(2)} GB/s; every byte equal to before the loss: ${same}`,
      );
      record(
        `RS(${K},${M}) rebuild of 4 lost disks`,
        `${(rec.bytes / recS / 1e9).toFixed(2)} GB/s, byte-exact: ${same}`,
      );

      t = performance.now();
      let failures = 0;
      for (let s = 0; s < STRIPES; s++)
        for (let d = 0; d < K; d++)
          if (!dif.withRefTag(lba(s, d)).verifyAt(addr(s, d), BLOCKS_PER_SHARD).ok) failures++;
      const verS = (performance.now() - t) / 1000;
      say(
        `DIF verify of the whole volume after the rebuild: ${failures} failing shards, ${(volumeBytes / verS / 1e9).toFixed(2)} GB/s`,
      );

      const victim = addr(7, 4) + 5 * UNIT + 1234;
      mem.u8[victim]! ^= 0x10;
      const r = dif.withRefTag(lba(7, 4)).verifyAt(addr(7, 4), BLOCKS_PER_SHARD);
      const what = r.ok
        ? 'NOT caught'
        : `caught: LBA ${lba(7, 4) + r.block}, ${r.tag} expected 0x${r.expected.toString(16)}, found 0x${r.actual.toString(16)}`;
      say(`one bit flipped in stripe 7, disk 4, block 5: ${what}`);
      record('T10 DIF on a flipped bit', what);
      record('T10 DIF verify, whole volume', `${(volumeBytes / verS / 1e9).toFixed(2)} GB/s, ${failures} failures`);
    } finally {
      await off.close();
      rs.dispose();
      mem.free(disks, 'demo');
    }
  },
};
