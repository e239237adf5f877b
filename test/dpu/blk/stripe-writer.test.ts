import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import type { StripeWriterChoice } from '../../../src/dpu/blk/volume/stripe-writer.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { decode, hostBuffer, pattern, removeDir, tmpDir } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

/** Overwrite churn with flushes and reads between (blocks read back from handed-over stripes too). */
function churn(choice: StripeWriterChoice): { versions: Map<number, number>; dir: string } {
  const dir = join(tmpDir('volsw'), 'v');
  dirs.push(join(dir, '..'));
  const v = Volume.create({ dir, sizeBytes: 4 << 20, chunkBlocks: 4, stripesPerSegment: 2 }, { stripeWriter: choice });
  const buf = hostBuffer(4096);
  const versions = new Map<number, number>();
  const rng = new Prng(11);
  try {
    for (let i = 0; i < v.blockCount * 4; i++) {
      const lba = rng.int(v.blockCount);
      const version = (versions.get(lba) ?? 0) + 1;
      pattern(buf.view, 0, lba, version);
      expect(v.write(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
      versions.set(lba, version);
      if (i % 97 === 0) {
        const back = rng.int(v.blockCount);
        expect(v.read(back, 1, buf.addr)).toBe(VolumeStatus.Ok);
        if (versions.has(back)) expect(decode(buf.view, 0)).toEqual({ lba: back, version: versions.get(back) });
      }
      if (i % 1000 === 999) expect(v.flush()).toBe(VolumeStatus.Ok);
    }
    const s = v.stats();
    expect(s.cleaner.segmentsCleaned).toBeGreaterThan(0);
    expect(s.stripeWriter.choice).toBe(choice);
    if (choice === 'thread') expect(s.stripeWriter.jobs).toBeGreaterThan(100);
    else expect(s.stripeWriter.jobs).toBe(0);
    expect(v.check(true).ok).toBe(true);
  } finally {
    buf.free();
    v.close();
  }
  return { versions, dir };
}

describe('volume: stripe writer thread', () => {
  for (const choice of ['thread', 'inline'] as const) {
    it(`${choice}: overwrite churn with the cleaner at work reads back exactly, before and after reopen`, () => {
      const { versions, dir } = churn(choice);
      const v = Volume.open(dir, { stripeWriter: choice === 'thread' ? 'inline' : 'thread' });
      const buf = hostBuffer(4096);
      try {
        for (const [lba, version] of versions) {
          expect(v.read(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
          expect(decode(buf.view, 0)).toEqual({ lba, version });
        }
        expect(v.stats().reads.difErrors).toBe(0);
      } finally {
        buf.free();
        v.close();
      }
    });
  }

  it('never reads a block of a reused segment from the buffer of the stripe it held before', () => {
    // One stripe a segment, four blocks a stripe: hot overwrites and flushes free segments and
    // take them again while their old stripes may still sit in a head's buffers.
    const dir = join(tmpDir('volsw'), 'v');
    dirs.push(join(dir, '..'));
    const v = Volume.create(
      { dir, sizeBytes: 1 << 20, chunkBlocks: 1, stripesPerSegment: 1 },
      { stripeWriter: 'thread' },
    );
    const buf = hostBuffer(4096);
    const versions = new Map<number, number>();
    const rng = new Prng(5);
    try {
      for (let i = 0; i < 20_000; i++) {
        const lba = rng.next() < 0.9 ? rng.int(8) : 8 + rng.int(v.blockCount - 8);
        const version = (versions.get(lba) ?? 0) + 1;
        pattern(buf.view, 0, lba, version);
        expect(v.write(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
        versions.set(lba, version);
        if (i % 7 === 0) v.flush();
        const back = rng.int(8);
        if (versions.has(back)) {
          expect(v.read(back, 1, buf.addr)).toBe(VolumeStatus.Ok);
          expect(decode(buf.view, 0)).toEqual({ lba: back, version: versions.get(back) });
        }
      }
      expect(v.stats().reads.difErrors).toBe(0);
    } finally {
      buf.free();
      v.close();
    }
  });

  it('refuses an unknown stripeWriter choice, naming the option', () => {
    const dir = join(tmpDir('volsw'), 'v');
    dirs.push(join(dir, '..'));
    expect(() => Volume.create({ dir, sizeBytes: 1 << 20 }, { stripeWriter: 'fast' as StripeWriterChoice })).toThrow(
      /stripeWriter/,
    );
  });
});
