import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { diskIoHelper, type DiskIoChoice, type DiskIoHelper, type DiskIoOption, type NativeHandle } from './disk-io.js';
import type { DiskState } from './volume-config.js';

const EIO = 5;

/**
 * The k + m disk files of a volume, read and written with synchronous calls. This runs only on
 * the thread that owns the volume (an I/O worker, or a tool such as the CLI), never on a DPU
 * core: on files in tmpfs or the page cache a synchronous call costs less than handing it to
 * libuv's thread pool and back (measured by `qingtian bench volume`, case disk-io).
 *
 * With the native helper ('mapped'), each file is mapped once and a read, or a write inside the
 * file, is one copy with no system call; a write past the end of the file (the log growing) and
 * a read past it go through pread / pwrite, which extend the file and read holes as zeros.
 *
 * A disk whose call fails (EIO, a vanished file) is taken out of service: its state becomes
 * 'lost' and the volume serves its shards from parity from then on.
 */
export class DiskSet {
  private readonly fds: number[];
  /** Per disk: its mapping ('mapped' only), and the file size the mapping may be read below. */
  private readonly maps: (NativeHandle | null)[];
  private readonly sizes: number[];
  private readonly helper: DiskIoHelper | null;
  /** What the disks' reads and writes go through. */
  readonly io: DiskIoChoice;
  /** Why `io` is what it is. */
  readonly ioReason: string;
  readonly states: DiskState[];
  /** Bit d set: disk d takes reads and writes (state ok or rebuilding). */
  presentMask = 0;
  /** Disk calls that failed (each took its disk out). */
  failures = 0;

  constructor(
    readonly dir: string,
    readonly files: readonly string[],
    states: readonly DiskState[],
    create: boolean,
    /** Largest size a disk file reaches (the mapping's length). */
    readonly maxFileBytes = 1 << 30,
    io: DiskIoOption = 'auto',
  ) {
    const h = io === 'sync' ? 'sync I/O asked for' : diskIoHelper();
    this.helper = typeof h === 'string' ? null : h;
    this.io = this.helper ? 'mapped' : 'sync';
    this.ioReason = typeof h === 'string' ? h : 'disk files mapped by the native helper';
    this.maps = files.map(() => null);
    this.sizes = files.map(() => 0);
    this.states = states.slice();
    this.fds = files.map((f, d) => {
      if (this.states[d] === 'lost') return -1;
      if (create) return openSync(join(dir, f), 'w+');
      try {
        return openSync(join(dir, f), 'r+');
      } catch {
        // A disk file that is gone (or unreadable) at open is a lost disk, served from parity.
        this.failures++;
        this.states[d] = 'lost';
        return -1;
      }
    });
    for (let d = 0; d < this.fds.length; d++) this.mapDisk(d);
    this.updateMask();
  }

  present(d: number): boolean {
    return (this.presentMask & (1 << d)) !== 0;
  }

  /**
   * Reads `len` bytes at `pos` into u8[off..]. Bytes past the end of the file (a region never
   * written: disk files are sparse) read as zeros. False if the disk is absent or failed.
   */
  read(d: number, u8: Uint8Array, off: number, len: number, pos: number): boolean {
    const fd = this.fds[d]!;
    if (fd < 0) return false;
    const map = this.maps[d]!;
    if (map !== null && pos + len <= this.sizes[d]!) {
      const r = this.helper!.copyIn(map, u8, off, pos, len);
      if (r === 0) return true;
      // -EIO: the file shrank under the mapping (someone else truncated it): learn its size and
      // let pread say what is there now.
      if (r === -EIO) this.restat(d);
    }
    try {
      let done = 0;
      while (done < len) {
        const n = readSync(fd, u8, off + done, len - done, pos + done);
        if (n === 0) {
          u8.fill(0, off + done, off + len);
          break;
        }
        done += n;
      }
      return true;
    } catch {
      this.fail(d);
      return false;
    }
  }

  /** Writes u8[off, off + len) at `pos`. False if the disk is absent or failed. */
  write(d: number, u8: Uint8Array, off: number, len: number, pos: number): boolean {
    const fd = this.fds[d]!;
    if (fd < 0) return false;
    const map = this.maps[d]!;
    if (map !== null && pos + len <= this.sizes[d]!) {
      const r = this.helper!.copyOut(map, u8, off, pos, len);
      if (r === 0) return true;
      if (r === -EIO) this.restat(d);
    }
    try {
      let done = 0;
      while (done < len) done += writeSync(fd, u8, off + done, len - done, pos + done);
      if (pos + len > this.sizes[d]!) this.sizes[d] = pos + len;
      return true;
    } catch {
      this.fail(d);
      return false;
    }
  }

  /** fdatasync on every present disk. */
  sync(): void {
    for (let d = 0; d < this.fds.length; d++) {
      const fd = this.fds[d]!;
      if (fd < 0) continue;
      try {
        fdatasyncSync(fd);
      } catch {
        this.fail(d);
      }
    }
  }

  /** Shrinks (or extends, sparse) every present disk to `bytes`. */
  truncate(bytes: number): void {
    for (let d = 0; d < this.fds.length; d++) {
      const fd = this.fds[d]!;
      if (fd < 0) continue;
      try {
        ftruncateSync(fd, bytes);
        this.sizes[d] = bytes;
      } catch {
        this.fail(d);
      }
    }
  }

  /**
   * Takes disk d out of service (a failure, or an operator pulling it). Its file is renamed to
   * `<file>.lost` so that nothing reads it by mistake and an operator can look at it.
   */
  lose(d: number): void {
    this.close(d);
    this.states[d] = 'lost';
    try {
      renameSync(join(this.dir, this.files[d]!), join(this.dir, `${this.files[d]!}.lost`));
    } catch {
      // already gone: the failure that took the disk out may have been that
    }
    this.updateMask();
  }

  /** Puts an empty replacement file in place of disk d; it takes writes at once and is rebuilt. */
  replace(d: number): void {
    this.close(d);
    this.fds[d] = openSync(join(this.dir, this.files[d]!), 'w+');
    this.mapDisk(d);
    this.states[d] = 'rebuilding';
    this.updateMask();
  }

  /** Marks a rebuilt disk as whole. */
  rebuilt(d: number): void {
    if (this.states[d] === 'rebuilding') this.states[d] = 'ok';
  }

  closeAll(): void {
    for (let d = 0; d < this.fds.length; d++) this.close(d);
  }

  /** Takes disk d out of service after a call on it failed (here or in the stripe writer thread). */
  markFailed(d: number): void {
    const fd = this.fds[d];
    if (fd === undefined || fd < 0) return;
    this.fail(d);
  }

  private fail(d: number): void {
    this.failures++;
    this.close(d);
    this.states[d] = 'lost';
    this.updateMask();
  }

  /** Maps disk d (when the helper is there) and learns its size. */
  private mapDisk(d: number): void {
    const fd = this.fds[d]!;
    if (fd < 0) return;
    this.restat(d);
    if (!this.helper) return;
    const m = this.helper.mapFile(fd, this.maxFileBytes);
    // A refused mapping leaves this disk on pread / pwrite.
    this.maps[d] = typeof m === 'number' ? null : m;
  }

  private restat(d: number): void {
    try {
      this.sizes[d] = fstatSync(this.fds[d]!).size;
    } catch {
      this.sizes[d] = 0;
    }
  }

  private close(d: number): void {
    const map = this.maps[d]!;
    if (map !== null) {
      this.maps[d] = null;
      this.helper!.unmapFile(map);
    }
    const fd = this.fds[d]!;
    if (fd >= 0) {
      this.fds[d] = -1;
      try {
        closeSync(fd);
      } catch {
        // closing a failed descriptor may fail again; it is gone either way
      }
    }
  }

  private updateMask(): void {
    let mask = 0;
    for (let d = 0; d < this.fds.length; d++) if (this.fds[d]! >= 0) mask |= 1 << d;
    this.presentMask = mask >>> 0;
  }
}
