import { closeSync, fdatasyncSync, ftruncateSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { DiskState } from './volume-config.js';

/**
 * The k + m disk files of a volume, read and written with synchronous calls. This runs only on
 * the thread that owns the volume (an I/O worker, or a tool such as the CLI), never on a DPU
 * core: on files in tmpfs or the page cache a synchronous pread costs about a microsecond, less
 * than handing the call to libuv's thread pool and back (measured by `qingtian bench volume`,
 * case disk-io).
 *
 * A disk whose call fails (EIO, a vanished file) is taken out of service: its state becomes
 * 'lost' and the volume serves its shards from parity from then on.
 */
export class DiskSet {
  private readonly fds: number[];
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
  ) {
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
    try {
      let done = 0;
      while (done < len) done += writeSync(fd, u8, off + done, len - done, pos + done);
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

  private fail(d: number): void {
    this.failures++;
    this.close(d);
    this.states[d] = 'lost';
    this.updateMask();
  }

  private close(d: number): void {
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
