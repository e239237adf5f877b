import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../../common/package-paths.js';

/**
 * How a volume moves blocks between host memory and its disk files:
 * - 'mapped': each disk file is mapped once (native/disk-io) and a read or write is one copy,
 *   with no system call; the helper turns a page that vanished under the mapping into an error;
 * - 'sync': a synchronous pread / pwrite per call (Node's fs), the fallback when the helper is
 *   not built or the mapping is refused.
 * 'auto' picks 'mapped' when it can.
 */
export type DiskIoChoice = 'mapped' | 'sync';
/** What VolumeOpenOptions.diskIo accepts: a choice, or 'auto' (mapped when the helper is built). */
export type DiskIoOption = 'auto' | DiskIoChoice;
/** Every DiskIoOption, for validation. */
export const DISK_IO_CHOICES = ['auto', 'mapped', 'sync'] as const satisfies readonly DiskIoOption[];

/** An opaque handle of the native helper (a mapping or a ring). */
export type NativeHandle = object;

/** The native helper's calls (native/disk-io/disk-io.c documents them). */
export interface DiskIoHelper {
  mapFile(fd: number, bytes: number): NativeHandle | number;
  unmapFile(mapping: NativeHandle): void;
  copyIn(mapping: NativeHandle, memory: Uint8Array, address: number, fileOffset: number, length: number): number;
  copyOut(mapping: NativeHandle, memory: Uint8Array, address: number, fileOffset: number, length: number): number;
  create(entries: number): NativeHandle | number;
  run(ring: NativeHandle, memory: Uint8Array, ops: Float64Array, count: number, results: Int32Array): number;
  close(ring: NativeHandle): void;
}

/** Numbers per io_uring record in `run`'s ops: kind, fd, file offset, address, length, address 2, length 2. */
export const URING_OP_FIELDS = 7;

let helper: DiskIoHelper | string | undefined;

/** The native helper (built at install), or why there is none. */
export function diskIoHelper(): DiskIoHelper | string {
  if (helper !== undefined) return helper;
  if (process.platform !== 'linux') return (helper = `${process.platform}: the disk I/O helper is Linux only`);
  if (process.env['QT_NO_NATIVE']) return (helper = 'QT_NO_NATIVE is set');
  const file = join(packageRoot(), 'native', 'disk-io', 'build', 'qt_disk_io.node');
  try {
    helper = createRequire(import.meta.url)(file) as DiskIoHelper;
  } catch (e) {
    helper = `disk I/O helper not loaded (${(e as Error).message.split('\n')[0]}); \`npm run build:native\` builds it`;
  }
  return helper;
}

/** What 'auto' resolves to here, and why: for a bench's JSON and `volume inspect`. */
export function diskIoSupport(): { choice: DiskIoChoice; reason: string } {
  const h = diskIoHelper();
  return typeof h === 'string'
    ? { choice: 'sync', reason: h }
    : { choice: 'mapped', reason: 'native helper loaded: disk files mapped, one copy a block' };
}
