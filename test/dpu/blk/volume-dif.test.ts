import { closeSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, QingtianError } from '../../../src/common/errors.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { appTagOf } from '../../../src/dpu/blk/volume/volume-config.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { decode, hostBuffer, pattern, removeDir, tmpDir } from './helpers.js';

const UNIT = 4104;
const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

function newDir(): string {
  const dir = tmpDir('voldif');
  dirs.push(dir);
  return join(dir, 'v');
}

/** Writes LBAs 0..n-1 (pattern version 1), closes; returns where each block's unit is on disk. */
function writeAndClose(dir: string, n: number): Map<number, { file: string; offset: number }> {
  const v = Volume.create({ dir, sizeBytes: 1 << 20, chunkBlocks: 4, stripesPerSegment: 2 });
  const buf = hostBuffer(n * 4096);
  try {
    for (let lba = 0; lba < n; lba++) pattern(buf.view, lba * 4096, lba, 1);
    expect(v.write(0, n, buf.addr)).toBe(VolumeStatus.Ok);
    expect(v.flush()).toBe(VolumeStatus.Ok);
    const at = new Map<number, { file: string; offset: number }>();
    for (let lba = 0; lba < n; lba++) at.set(lba, v.locate(lba)!);
    return at;
  } finally {
    buf.free();
    v.close();
  }
}

/** Overwrites a unit (4096 data bytes and 8 of PI) of a disk file with one byte value. */
function fillUnit(where: { file: string; offset: number }, value: number): void {
  const fd = openSync(where.file, 'r+');
  writeSync(fd, Buffer.alloc(UNIT, value), 0, UNIT, where.offset);
  closeSync(fd);
}

function unitBytes(where: { file: string; offset: number }): Buffer {
  const fd = openSync(where.file, 'r');
  const b = Buffer.alloc(UNIT);
  readSync(fd, b, 0, UNIT, where.offset);
  closeSync(fd);
  return b;
}

function expectBlocks(v: Volume, n: number): void {
  const buf = hostBuffer(4096);
  try {
    for (let lba = 0; lba < n; lba++) {
      expect(v.read(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
      expect(decode(buf.view, 0)).toEqual({ lba, version: 1 });
    }
  } finally {
    buf.free();
  }
}

describe('volume: DIF application tag', () => {
  it("stamps every block with the volume's own application tag, never 0 nor 0xFFFF", () => {
    const dir = newDir();
    const at = writeAndClose(dir, 4);
    const sb = JSON.parse(readFileSync(join(dir, 'volume.json'), 'utf8')) as { version: number; appTag: number };
    expect(sb.version).toBe(2);
    expect(sb.appTag).toBeGreaterThanOrEqual(1);
    expect(sb.appTag).toBeLessThanOrEqual(0xfffe);
    for (const where of at.values()) expect(unitBytes(where).readUInt16BE(4096 + 2)).toBe(sb.appTag);
    for (const uuid of ['00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
      const t = appTagOf(uuid);
      expect(t).toBeGreaterThanOrEqual(1);
      expect(t).toBeLessThanOrEqual(0xfffe);
    }
  });

  it('detects a zeroed block at LBA 0 (data and PI all zero) on read and repairs it from parity', () => {
    const dir = newDir();
    const at = writeAndClose(dir, 8);
    fillUnit(at.get(0)!, 0);
    const v = Volume.open(dir);
    try {
      expectBlocks(v, 8);
      const s = v.stats();
      expect(s.reads.difErrors).toBe(1);
      expect(s.reads.repairs).toBe(1);
      // Written back in place: the disk holds the block again.
      expect(
        unitBytes(at.get(0)!)
          .subarray(0, 4096)
          .some((b) => b !== 0),
      ).toBe(true);
    } finally {
      v.close();
    }
  });

  it('finds a zeroed block at LBA 0 by scrub and repairs it from parity', () => {
    const dir = newDir();
    const at = writeAndClose(dir, 8);
    fillUnit(at.get(0)!, 0);
    const v = Volume.open(dir);
    try {
      v.startScrub();
      v.maintainUntilIdle();
      const r = v.scrubReport()!;
      expect(r.done).toBe(true);
      expect(r.difErrors).toBe(1);
      expect(r.repaired).toBe(1);
      expect(r.unrecoverable).toBe(0);
      expect(v.stats().reads.difErrors).toBe(0);
      expectBlocks(v, 8);
    } finally {
      v.close();
    }
  });

  it("refuses a unit carrying T10's escape tag (an all-ones region) and repairs it", () => {
    const dir = newDir();
    const at = writeAndClose(dir, 8);
    fillUnit(at.get(3)!, 0xff);
    const v = Volume.open(dir);
    try {
      expectBlocks(v, 8);
      expect(v.stats().reads.difErrors).toBe(1);
      expect(v.stats().reads.repairs).toBe(1);
    } finally {
      v.close();
    }
  });

  it('refuses a format-version-1 volume with QT_FORMAT_VERSION, and upgrades it when asked', () => {
    const dir = newDir();
    const at = writeAndClose(dir, 8);
    // Make it what version 1 wrote: application tag 0 in every block's PI, no appTag in volume.json.
    for (const where of at.values()) {
      const fd = openSync(where.file, 'r+');
      writeSync(fd, Buffer.alloc(2), 0, 2, where.offset + 4096 + 2);
      closeSync(fd);
    }
    const sbFile = join(dir, 'volume.json');
    const sb = JSON.parse(readFileSync(sbFile, 'utf8')) as Record<string, unknown>;
    sb['version'] = 1;
    delete sb['appTag'];
    writeFileSync(sbFile, JSON.stringify(sb));
    let err: unknown;
    try {
      Volume.open(dir).close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QingtianError);
    expect((err as QingtianError).code).toBe(ErrorCode.FormatVersion);
    expect((err as QingtianError).details).toMatchObject({ version: 1, expected: 2 });
    const v = Volume.open(dir, { upgrade: true });
    try {
      expect(v.upgrade).toEqual({ blocksRewritten: 8, blocksUnreadable: 0 });
      expectBlocks(v, 8);
    } finally {
      v.close();
    }
    const after = JSON.parse(readFileSync(sbFile, 'utf8')) as { version: number; appTag: number };
    expect(after.version).toBe(2);
    expect(after.appTag).toBe(appTagOf(sb['uuid'] as string));
    const again = Volume.open(dir);
    try {
      expect(again.upgrade).toBeNull();
      expectBlocks(again, 8);
      expect(again.check(true).ok).toBe(true);
      expect(again.stats().reads.difErrors).toBe(0);
    } finally {
      again.close();
    }
  });

  it('refuses volume.json with an application tag that does not fit its version', () => {
    const dir = newDir();
    writeAndClose(dir, 1);
    const sbFile = join(dir, 'volume.json');
    const sb = JSON.parse(readFileSync(sbFile, 'utf8')) as Record<string, unknown>;
    for (const bad of [{ appTag: 0 }, { appTag: 0xffff }, { appTag: undefined }, { version: 1 }]) {
      writeFileSync(sbFile, JSON.stringify({ ...sb, ...bad }));
      expect(() => Volume.open(dir)).toThrow(expect.objectContaining({ code: ErrorCode.BadFormat }));
    }
  });
});
