import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';

/** A fresh directory on tmpfs when there is one (the volume's disk files live there). */
export function tmpDir(tag: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, `qt-${tag}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A buffer in the default runtime's memory: host address and a view. */
export function hostBuffer(bytes: number, name = 'test-buffer'): { addr: number; view: Uint8Array; free(): void } {
  const mem = defaultRuntime().memory;
  const r = mem.alloc({ name, owner: 'test', kind: 'core-scratch', sizeBytes: Math.ceil(bytes / 4096) * 4096 });
  return { addr: r.base, view: mem.u8.subarray(r.base, r.base + bytes), free: () => mem.free(r, 'test') };
}

/** Fills one 4096-byte block with a pattern that names its LBA and version. */
export function pattern(out: Uint8Array, off: number, lba: number, version: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + off, 4096);
  let x = (lba * 2654435761 + version * 40503 + 1) >>> 0;
  for (let i = 0; i < 4096; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dv.setUint32(i, x >>> 0, true);
  }
  dv.setUint32(0, lba, true);
  dv.setUint32(4, version, true);
}

/** The (lba, version) a block written by pattern() carries, or null if its bytes do not match. */
export function decode(buf: Uint8Array, off: number): { lba: number; version: number } | null {
  const dv = new DataView(buf.buffer, buf.byteOffset + off, 4096);
  const lba = dv.getUint32(0, true);
  const version = dv.getUint32(4, true);
  const want = new Uint8Array(4096);
  pattern(want, 0, lba, version);
  for (let i = 0; i < 4096; i++) if (buf[off + i] !== want[i]) return null;
  return { lba, version };
}

export function isZero(buf: Uint8Array, off: number, len = 4096): boolean {
  for (let i = off; i < off + len; i++) if (buf[i] !== 0) return false;
  return true;
}
