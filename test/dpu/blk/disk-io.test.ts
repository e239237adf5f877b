import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import {
  diskIoHelper,
  diskIoSupport,
  URING_OP_FIELDS,
  type DiskIoChoice,
} from '../../../src/dpu/blk/volume/disk-io.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { decode, hostBuffer, pattern, removeDir, tmpDir } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  while (dirs.length) removeDir(dirs.pop()!);
});

const helper = diskIoHelper();
if (typeof helper === 'string') console.warn(`disk-io tests: the 'mapped' cases skip: ${helper}`);
const choices: DiskIoChoice[] = typeof helper === 'string' ? ['sync'] : ['mapped', 'sync'];

function newVolume(diskIo: DiskIoChoice): Volume {
  const dir = tmpDir('dio');
  dirs.push(dir);
  return Volume.create({ dir: `${dir}/v`, sizeBytes: 4 << 20, chunkBlocks: 4, stripesPerSegment: 2 }, { diskIo });
}

/** Every block once, then overwrite churn (the cleaner moves blocks), flushed; returns the versions. */
function churn(v: Volume, buf: { addr: number; view: Uint8Array }, seed: number): Map<number, number> {
  const versions = new Map<number, number>();
  for (let lba = 0; lba < v.blockCount; lba += 16) {
    for (let b = 0; b < 16; b++) pattern(buf.view, b * 4096, lba + b, 1);
    expect(v.write(lba, 16, buf.addr)).toBe(VolumeStatus.Ok);
    for (let b = 0; b < 16; b++) versions.set(lba + b, 1);
  }
  const rng = new Prng(seed);
  for (let i = 0; i < v.blockCount * 3; i++) {
    const lba = rng.int(v.blockCount);
    const version = (versions.get(lba) ?? 0) + 1;
    pattern(buf.view, 0, lba, version);
    expect(v.write(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
    versions.set(lba, version);
  }
  expect(v.flush()).toBe(VolumeStatus.Ok);
  return versions;
}

function expectAll(v: Volume, buf: { addr: number; view: Uint8Array }, versions: Map<number, number>): void {
  let bad = 0;
  for (const [lba, version] of versions) {
    expect(v.read(lba, 1, buf.addr)).toBe(VolumeStatus.Ok);
    const got = decode(buf.view, 0);
    if (got?.lba !== lba || got.version !== version) bad++;
  }
  expect(bad).toBe(0);
}

describe('volume disk I/O choices', () => {
  it('says what auto picks and why', () => {
    const s = diskIoSupport();
    expect(s.choice).toBe(typeof helper === 'string' ? 'sync' : 'mapped');
    expect(s.reason.length).toBeGreaterThan(0);
  });

  for (const io of choices) {
    it(`${io}: churn, a flipped bit, two lost disks and a reopen through the other choice read back byte-exact`, () => {
      const v = newVolume(io);
      expect(v.diskIo.choice).toBe(io);
      expect(v.stats().diskIo.choice).toBe(io);
      const buf = hostBuffer(16 * 4096);
      try {
        const versions = churn(v, buf, 7);
        expect(v.stats().cleaner.blocksMoved).toBeGreaterThan(0);
        expectAll(v, buf, versions);
        // A flipped bit in a disk file: the read finds it through DIF and repairs it from parity.
        const at = v.locate(3)!;
        const fd = openSync(at.file, 'r+');
        const b = Buffer.alloc(1);
        readSync(fd, b, 0, 1, at.offset + 100);
        b[0] = b[0]! ^ 0x10;
        writeSync(fd, b, 0, 1, at.offset + 100);
        closeSync(fd);
        expectAll(v, buf, versions);
        expect(v.stats().reads.repairs).toBeGreaterThan(0);
        v.loseDisk(0);
        v.loseDisk(5);
        expectAll(v, buf, versions);
        const dir = v.dir;
        v.close();
        const other = io === 'mapped' ? 'sync' : choices[0]!;
        const w = Volume.open(dir, { diskIo: other });
        try {
          expect(w.diskIo.choice).toBe(other);
          expectAll(w, buf, versions);
        } finally {
          w.close();
        }
      } finally {
        buf.free();
        if (!v.isClosed) v.close();
      }
    });
  }

  it.runIf(typeof helper !== 'string')(
    'mapped: a disk file truncated under the mapping is read from parity, not a crash',
    () => {
      const v = newVolume('mapped');
      const buf = hostBuffer(16 * 4096);
      try {
        const versions = churn(v, buf, 11);
        // Not the disk that holds LBA 0: a zero unit read from a hole passes T10 DIF type 1 for
        // LBA 0 (guard of zeros 0, reference tag 0), through either I/O choice.
        const zeroDisk = v.locate(0)!.disk;
        let lba = 1;
        while (v.locate(lba)!.disk === zeroDisk) lba++;
        const at = v.locate(lba)!;
        const size = statSync(at.file).size;
        // Someone else shrinks the file: the pages behind the mapping are gone (SIGBUS if touched
        // unguarded). The helper reports it, the volume re-reads its size and rebuilds from parity.
        const fd = openSync(at.file, 'r+');
        ftruncateSync(fd, 4096);
        closeSync(fd);
        expect(statSync(at.file).size).toBeLessThan(size);
        expectAll(v, buf, versions);
        expect(v.stats().reads.degradedReads).toBeGreaterThan(0);
      } finally {
        buf.free();
        v.close();
      }
    },
  );

  it.runIf(typeof helper !== 'string')('the helper refuses ranges outside host memory or the mapping', () => {
    const h = helper as Exclude<typeof helper, string>;
    const dir = tmpDir('dio');
    dirs.push(dir);
    const fd = openSync(`${dir}/f`, 'w+');
    try {
      ftruncateSync(fd, 65536);
      const m = h.mapFile(fd, 65536);
      expect(typeof m).toBe('object');
      const map = m as object;
      const mem = new Uint8Array(new SharedArrayBuffer(8192));
      expect(h.copyIn(map, mem, 8000, 0, 4096)).toBe(-14);
      expect(h.copyOut(map, mem, 0, 65000, 4096)).toBe(-14);
      expect(h.copyIn(map, mem, -1, 0, 16)).toBe(-14);
      mem.fill(7, 0, 4096);
      expect(h.copyOut(map, mem, 0, 4096, 4096)).toBe(0);
      expect(
        readFileSync(`${dir}/f`)
          .subarray(4096, 8192)
          .every((b) => b === 7),
      ).toBe(true);
      h.unmapFile(map);
      expect(h.copyIn(map, mem, 0, 0, 16)).toBe(-9);
    } finally {
      closeSync(fd);
    }
  });

  it.runIf(typeof helper !== 'string')(
    'io_uring: a burst of writes then reads (plain and two-segment) byte-exact; bad records refused',
    () => {
      const h = helper as Exclude<typeof helper, string>;
      const ring = h.create(8);
      if (typeof ring === 'number') {
        console.warn(`io_uring case skipped: io_uring_setup failed with errno ${-ring}`);
        return;
      }
      const dir = tmpDir('dio');
      dirs.push(dir);
      const fd = openSync(`${dir}/f`, 'w+');
      try {
        const mem = new Uint8Array(new SharedArrayBuffer(64 * 4104));
        const n = 20; // more than the ring holds: run submits in rounds
        const ops = new Float64Array((n + 1) * URING_OP_FIELDS);
        const res = new Int32Array(n + 1);
        const rng = new Prng(3);
        for (let i = 0; i < 20 * 4104; i++) mem[i] = rng.int(256);
        const want = mem.slice(0, 20 * 4104);
        for (let i = 0; i < n; i++) ops.set([1, fd, (n - 1 - i) * 4104, i * 4104, 4104, 0, 0], i * URING_OP_FIELDS);
        expect(h.run(ring, mem, ops, n, res)).toBe(n);
        expect([...res.subarray(0, n)].every((r) => r === 4104)).toBe(true);
        // Read back: data to one place, the 8 bytes after it to another (readv).
        const dataAt = 24 * 4104;
        const piAt = 60 * 4104;
        for (let i = 0; i < n; i++)
          ops.set([0, fd, (n - 1 - i) * 4104, dataAt + i * 4096, 4096, piAt + i * 8, 8], i * URING_OP_FIELDS);
        ops.set([0, fd, 0, mem.length - 100, 4096, 0, 0], n * URING_OP_FIELDS);
        expect(h.run(ring, mem, ops, n + 1, res)).toBe(n + 1);
        expect(res[n]).toBe(-14);
        let bad = 0;
        for (let i = 0; i < n; i++) {
          expect(res[i]).toBe(4104);
          for (let b = 0; b < 4096; b++) if (mem[dataAt + i * 4096 + b] !== want[i * 4104 + b]) bad++;
          for (let b = 0; b < 8; b++) if (mem[piAt + i * 8 + b] !== want[i * 4104 + 4096 + b]) bad++;
        }
        expect(bad).toBe(0);
      } finally {
        h.close(ring);
        closeSync(fd);
      }
    },
  );

  it('falls back to pread / pwrite when the helper is not there (QT_NO_NATIVE), and says why', () => {
    const code = [
      "const { diskIoSupport } = await import('./dist/src/dpu/blk/volume/disk-io.js');",
      'console.log(JSON.stringify(diskIoSupport()));',
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      env: { ...process.env, QT_NO_NATIVE: '1' },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout) as unknown).toEqual({ choice: 'sync', reason: 'QT_NO_NATIVE is set' });
    // And a volume asked for sync I/O uses it even where the helper is built.
    const v = newVolume('sync');
    try {
      expect(v.diskIo).toEqual({ choice: 'sync', reason: 'sync I/O asked for' });
    } finally {
      v.close();
    }
  });
});
