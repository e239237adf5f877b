import { afterEach, describe, expect, it } from 'vitest';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { Prng } from '../../../src/common/prng.js';
import { decode, hostBuffer, isZero, pattern, removeDir, tmpDir } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function newVolume(sizeBytes = 16 << 20, extra: Record<string, number> = {}): Volume {
  const dir = tmpDir('vol');
  dirs.push(dir);
  return Volume.create({ dir: `${dir}/v`, sizeBytes, ...extra });
}

describe('volume: reads and writes', () => {
  it('reads back what was written, zeros where nothing was, across close and reopen', () => {
    const v = newVolume();
    const buf = hostBuffer(64 * 4096);
    try {
      const rng = new Prng(7);
      const written = new Map<number, number>();
      for (let i = 0; i < 500; i++) {
        const lba = rng.int(v.blockCount - 8);
        const n = 1 + rng.int(8);
        for (let b = 0; b < n; b++) {
          pattern(buf.view, b * 4096, lba + b, i);
          written.set(lba + b, i);
        }
        expect(v.write(lba, n, buf.addr)).toBe(VolumeStatus.Ok);
      }
      const check = (vol: Volume): void => {
        for (let lba = 0; lba < vol.blockCount; lba += 1) {
          expect(vol.read(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
          const want = written.get(lba);
          if (want === undefined) expect(isZero(buf.view, 0)).toBe(true);
          else expect(decode(buf.view, 0)).toEqual({ lba, version: want });
        }
      };
      check(v);
      expect(v.check(true).ok).toBe(true);
      v.close();
      const again = Volume.open(v.dir);
      check(again);
      expect(again.check(true)).toMatchObject({ ok: true, mappedBlocks: written.size });
      again.close();
    } finally {
      buf.free();
    }
  });

  it('refuses out-of-range requests with EINVAL and counts them', () => {
    const v = newVolume();
    const buf = hostBuffer(4096);
    try {
      expect(v.read(v.blockCount, 1, buf.addr)).toBe(VolumeStatus.Invalid);
      expect(v.write(v.blockCount - 1, 2, buf.addr)).toBe(VolumeStatus.Invalid);
      expect(v.write(0, 1, 0)).toBe(VolumeStatus.Invalid);
      expect(v.discard(-1, 1)).toBe(VolumeStatus.Invalid);
      expect(v.stats().ops.errors).toBe(4);
    } finally {
      buf.free();
      v.close();
    }
  });
});
