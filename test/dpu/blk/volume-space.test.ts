import { statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { decode, hostBuffer, isZero, pattern, removeDir, tmpDir } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function newVolume(opts: { sizeBytes: number; capacityBytes?: number }): Volume {
  const dir = tmpDir('vols');
  dirs.push(dir);
  return Volume.create({ dir: `${dir}/v`, chunkBlocks: 4, stripesPerSegment: 2, ...opts });
}

function diskBytes(v: Volume): number {
  let sum = 0;
  for (const d of v.stats().disks) sum += statSync(`${v.dir}/${d.file}`).blocks * 512;
  return sum;
}

describe('volume: garbage collection, thin provisioning, discard', () => {
  it('keeps every block intact under overwrite churn, cleaning segments and reporting write amplification', () => {
    const v = newVolume({ sizeBytes: 4 << 20 });
    const buf = hostBuffer(8 * 4096);
    try {
      const rng = new Prng(11);
      const versions = new Map<number, number>();
      // Ten times the volume's size in random overwrites, with hot and cold halves.
      for (let i = 0; i < v.blockCount * 10; i++) {
        const lba = rng.next() < 0.8 ? rng.int(v.blockCount / 5) : rng.int(v.blockCount);
        pattern(buf.view, 0, lba, i);
        expect(v.write(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
        versions.set(lba, i);
        if (i % 997 === 0) v.flush();
      }
      v.flush();
      const s = v.stats();
      expect(s.cleaner.segmentsCleaned + s.cleaner.segmentsEmptied).toBeGreaterThan(10);
      expect(s.cleaner.blocksMoved).toBeGreaterThan(0);
      expect(s.writes.writeAmplification).toBeGreaterThan(1);
      expect(s.writes.writeAmplification).toBeLessThan(4);
      // 4 data + 2 parity units a data block, at least.
      expect(s.writes.deviceWriteAmplification).toBeGreaterThanOrEqual(1.5 * s.writes.writeAmplification - 1e-9);
      for (const [lba, version] of versions) {
        expect(v.read(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
        expect(decode(buf.view, 0)).toEqual({ lba, version });
      }
      expect(v.check(true).ok).toBe(true);
    } finally {
      buf.free();
      v.close();
    }
  });

  it('is thin: a large volume uses disk only for what is written, and DISCARD gives it back', () => {
    const v = newVolume({ sizeBytes: 64 << 20, capacityBytes: 8 << 20 });
    const buf = hostBuffer(64 * 4096);
    try {
      expect(diskBytes(v)).toBe(0);
      for (let lba = 0; lba < 1024; lba += 64) {
        for (let b = 0; b < 64; b++) pattern(buf.view, b * 4096, lba + b, 1);
        expect(v.write(lba, 64, buf.addr)).toBe(VolumeStatus.Ok);
      }
      v.flush();
      const used = diskBytes(v);
      // 4 MiB of data, 1.5x for parity, PI and a partial segment or two.
      expect(used).toBeGreaterThan(6 << 20);
      expect(used).toBeLessThan(8 << 20);
      expect(v.stats().space.mappedBytes).toBe(4 << 20);
      expect(v.discard(0, 1024)).toBe(VolumeStatus.Ok);
      expect(v.read(5, 1, buf.addr)).toBe(VolumeStatus.Ok);
      expect(isZero(buf.view, 0)).toBe(true);
      expect(v.stats().space.mappedBytes).toBe(0);
      // The cleaner frees the dead segments; the checkpoint after it truncates the files.
      v.maintainUntilIdle();
      for (let i = 0; i < 40; i++) v.maintain();
      v.close();
      const again = Volume.open(v.dir);
      expect(diskBytes(again)).toBeLessThan(used / 4);
      again.close();
    } finally {
      buf.free();
    }
  });

  it('refuses writes past the thin capacity with ENOSPC, and takes them again after a discard', () => {
    const v = newVolume({ sizeBytes: 64 << 20, capacityBytes: 1 << 20 });
    const buf = hostBuffer(64 * 4096);
    try {
      let lba = 0;
      let status: number = VolumeStatus.Ok;
      while (status === VolumeStatus.Ok && lba < v.blockCount) {
        status = v.write(lba, 64, buf.addr);
        if (status === VolumeStatus.Ok) lba += 64;
      }
      expect(status).toBe(VolumeStatus.NoSpace);
      expect(lba * 4096).toBeGreaterThanOrEqual(1 << 20);
      // Overwriting mapped blocks needs no new space.
      expect(v.write(0, 64, buf.addr)).toBe(VolumeStatus.Ok);
      expect(v.discard(0, 256)).toBe(VolumeStatus.Ok);
      expect(v.write(lba, 64, buf.addr)).toBe(VolumeStatus.Ok);
      expect(v.check(true).ok).toBe(true);
    } finally {
      buf.free();
      v.close();
    }
  });

  it('WRITE_ZEROES reads back zeros, unmapping or allocating as asked', () => {
    const v = newVolume({ sizeBytes: 4 << 20 });
    const buf = hostBuffer(16 * 4096);
    try {
      for (let b = 0; b < 16; b++) pattern(buf.view, b * 4096, b, 1);
      expect(v.write(0, 16, buf.addr)).toBe(VolumeStatus.Ok);
      expect(v.writeZeroes(0, 8, true)).toBe(VolumeStatus.Ok);
      expect(v.stats().space.mappedBlocks).toBe(8);
      expect(v.writeZeroes(8, 8, false)).toBe(VolumeStatus.Ok);
      expect(v.stats().space.mappedBlocks).toBe(8);
      expect(v.read(0, 16, buf.addr)).toBe(VolumeStatus.Ok);
      expect(isZero(buf.view, 0, 16 * 4096)).toBe(true);
    } finally {
      buf.free();
      v.close();
    }
  });
});
