import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { decode, hostBuffer, pattern, removeDir, tmpDir } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function newVolume(sizeBytes = 8 << 20): Volume {
  const dir = tmpDir('volf');
  dirs.push(dir);
  return Volume.create({ dir: `${dir}/v`, sizeBytes, chunkBlocks: 4, stripesPerSegment: 2 });
}

/** Writes every block once (version 1), some of them twice (version 2), flushes. */
function fill(v: Volume, buf: { addr: number; view: Uint8Array }, seed: number): Map<number, number> {
  const versions = new Map<number, number>();
  for (let lba = 0; lba < v.blockCount; lba += 16) {
    for (let b = 0; b < 16; b++) pattern(buf.view, b * 4096, lba + b, 1);
    expect(v.write(lba, 16, buf.addr)).toBe(VolumeStatus.Ok);
    for (let b = 0; b < 16; b++) versions.set(lba + b, 1);
  }
  const rng = new Prng(seed);
  for (let i = 0; i < v.blockCount / 4; i++) {
    const lba = rng.int(v.blockCount);
    pattern(buf.view, 0, lba, 2);
    expect(v.write(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
    versions.set(lba, 2);
  }
  expect(v.flush()).toBe(VolumeStatus.Ok);
  return versions;
}

function expectAll(v: Volume, buf: { addr: number; view: Uint8Array }, versions: Map<number, number>): void {
  for (const [lba, version] of versions) {
    expect(v.read(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
    expect(decode(buf.view, 0)).toEqual({ lba, version });
  }
}

function flipBit(file: string, offset: number, bit: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, offset + (bit >> 3));
  b[0] = b[0]! ^ (1 << (bit & 7));
  writeSync(fd, b, 0, 1, offset + (bit >> 3));
  closeSync(fd);
}

describe('volume: lost disks, rebuild, scrub', () => {
  it('serves every block with m = 2 disks lost (degraded reads from parity), byte-exact', () => {
    const v = newVolume();
    const buf = hostBuffer(16 * 4096);
    try {
      const versions = fill(v, buf, 1);
      v.loseDisk(1);
      v.loseDisk(4);
      expectAll(v, buf, versions);
      expect(v.stats().reads.degradedReads).toBeGreaterThan(0);
      expect(v.stats().disks.map((d) => d.state)).toEqual(['ok', 'lost', 'ok', 'ok', 'lost', 'ok']);
      // A third loss is past what RS(4,2) covers: some blocks fail with EIO, none read wrong.
      v.loseDisk(0);
      let eio = 0;
      for (const [lba, version] of versions) {
        const s = v.read(lba, 1, buf.addr);
        if (s === VolumeStatus.IoError) eio++;
        else expect(decode(buf.view, 0)).toEqual({ lba, version });
      }
      expect(eio).toBeGreaterThan(0);
    } finally {
      buf.free();
      v.close();
    }
  });

  it('rebuilds two replaced disks online while writes and reads go on, then reads them directly', () => {
    const v = newVolume();
    const buf = hostBuffer(16 * 4096);
    try {
      const versions = fill(v, buf, 2);
      v.loseDisk(2);
      v.loseDisk(5);
      v.replaceDisk(2);
      v.replaceDisk(5);
      const rng = new Prng(9);
      let version = 3;
      while (v.maintain(2)) {
        // I/O between rebuild steps: overwrite some blocks and check others.
        for (let i = 0; i < 8; i++) {
          const lba = rng.int(v.blockCount);
          pattern(buf.view, 0, lba, version);
          expect(v.write(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
          versions.set(lba, version++);
          const probe = rng.int(v.blockCount);
          expect(v.read(probe, 1, buf.addr)).toBe(VolumeStatus.Ok);
          expect(decode(buf.view, 0)).toEqual({ lba: probe, version: versions.get(probe) });
        }
      }
      const progress = v.rebuildProgress()!;
      expect(progress).toMatchObject({ done: true, stripesFailed: 0 });
      expect(v.stats().disks.every((d) => d.state === 'ok')).toBe(true);
      v.flush();
      // Every block now reads from its own disk: lose two other disks and read again.
      v.loseDisk(0);
      v.loseDisk(1);
      expectAll(v, buf, versions);
      expect(v.check(true).ok).toBe(true);
    } finally {
      buf.free();
      v.close();
    }
  });

  it('finds a flipped bit with scrub through DIF and repairs it from parity', () => {
    const v = newVolume();
    const buf = hostBuffer(16 * 4096);
    try {
      const versions = fill(v, buf, 3);
      v.flush();
      const where = v.locate(1234)!;
      flipBit(where.file, where.offset, 777);
      v.startScrub();
      v.maintainUntilIdle();
      expect(v.scrubReport()).toMatchObject({ done: true, difErrors: 1, repaired: 1, unrecoverable: 0 });
      // Repaired on disk: a second scrub finds nothing, and the block reads back without a rebuild.
      const before = v.stats().reads.degradedReads;
      expect(v.read(1234, 1, buf.addr)).toBe(VolumeStatus.Ok);
      expect(decode(buf.view, 0)).toEqual({ lba: 1234, version: versions.get(1234) });
      expect(v.stats().reads.degradedReads).toBe(before);
      v.startScrub();
      v.maintainUntilIdle();
      expect(v.scrubReport()).toMatchObject({ difErrors: 0, repaired: 0 });
    } finally {
      buf.free();
      v.close();
    }
  });

  it('repairs a flipped bit on the read that finds it', () => {
    const v = newVolume();
    const buf = hostBuffer(16 * 4096);
    try {
      const versions = fill(v, buf, 4);
      const where = v.locate(99)!;
      flipBit(where.file, where.offset, 4096 * 8 + 40); // in the PI's reference tag
      expect(v.read(99, 1, buf.addr)).toBe(VolumeStatus.Ok);
      expect(decode(buf.view, 0)).toEqual({ lba: 99, version: versions.get(99) });
      expect(v.stats().reads).toMatchObject({ difErrors: 1, repairs: 1 });
    } finally {
      buf.free();
      v.close();
    }
  });

  it('scrub rewrites a parity shard whose bit flipped', () => {
    const v = newVolume();
    const buf = hostBuffer(16 * 4096);
    try {
      fill(v, buf, 5);
      const where = v.locate(500)!;
      const geo = v.geometry;
      const g = geo.stripeOf(where.pba);
      const parityDisk = geo.diskOf(g, geo.dataDisks);
      flipBit(where.file.replace(/disk-\d+\.img$/, `disk-${parityDisk}.img`), where.offset, 3);
      v.startScrub();
      v.maintainUntilIdle();
      expect(v.scrubReport()).toMatchObject({ difErrors: 0, parityRepaired: 1 });
    } finally {
      buf.free();
      v.close();
    }
  });
});
