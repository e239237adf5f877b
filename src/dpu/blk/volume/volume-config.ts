import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { intIn, multipleIn, nameString, oneOf, parseArgs } from '../../../common/validate.js';
import { crc32 } from './crc32.js';
import { BLOCK_BYTES, Geometry, MAX_DISKS } from './geometry.js';

const MIB = 1 << 20;
const GIB = 1 << 30;
/** Logical size limit: the block map is a u32 per block in memory (64 MiB at the limit). */
export const MAX_VOLUME_BYTES = 64 * GIB;
/** Segments kept back for the log heads and the cleaner beyond the capacity asked for. */
export const RESERVE_SEGMENTS = 4;

/** A new volume: where, how big, its RS(k, m) geometry and thin capacity. */
export interface VolumeCreateOptions {
  /** Directory of the volume's files (created; must not exist or be empty). */
  dir: string;
  /** Name (export name over NBD, serial over virtio-blk). Default: the directory's base name. */
  name?: string | undefined;
  /** Logical size: a multiple of 4096 in [1 MiB, 64 GiB]. */
  sizeBytes: number;
  /** k: data disks, 1-16. Default 4. */
  dataDisks?: number | undefined;
  /** m: parity disks, 1-8 (reads survive m lost disks). Default 2. */
  parityDisks?: number | undefined;
  /** Blocks (4 KiB) per chunk: one stripe is k chunks of data. 1-256, default 16. */
  chunkBlocks?: number | undefined;
  /** Stripes per segment (the unit the cleaner frees). 1-256, default 4. */
  stripesPerSegment?: number | undefined;
  /**
   * Physical data capacity of the log: a multiple of 4096 in [64 KiB, 64 GiB]. Default 1.25 x
   * sizeBytes. Smaller than sizeBytes is thin over-commitment: writes fail with ENOSPC once live
   * data fills it. Disk files grow only as segments are written.
   */
  capacityBytes?: number | undefined;
}

const createSchema = z.strictObject({
  dir: nameString(4096),
  name: nameString(64).optional(),
  sizeBytes: multipleIn(BLOCK_BYTES, MIB, MAX_VOLUME_BYTES),
  dataDisks: intIn(1, 16).optional(),
  parityDisks: intIn(1, 8).optional(),
  chunkBlocks: intIn(1, 256).optional(),
  stripesPerSegment: intIn(1, 256).optional(),
  capacityBytes: multipleIn(BLOCK_BYTES, 64 << 10, MAX_VOLUME_BYTES).optional(),
});

/** A disk file's state: in service, out of service (its shards come from parity), being rebuilt. */
export type DiskState = 'ok' | 'lost' | 'rebuilding';
const DISK_STATES = ['ok', 'lost', 'rebuilding'] as const satisfies readonly DiskState[];

/** The format version volumes are made in: 2 (every block's PI carries the volume's application tag). */
export const VOLUME_FORMAT_VERSION = 2;

/** volume.json: what a volume is. Read back as untrusted input. */
export interface Superblock {
  /** Always 'qingtian-volume'. */
  format: 'qingtian-volume';
  /**
   * Format version: 2; 1 is a volume made before blocks carried an application tag (its PI app
   * tag is 0 and was never checked); Volume.open refuses it unless asked to upgrade it.
   */
  version: 1 | 2;
  /**
   * The T10 application tag every block of the volume carries and every read checks (version 2):
   * in [1, 0xFFFE], made from the UUID at create. Absent in version 1.
   */
  appTag?: number | undefined;
  /** The volume's UUID, made at create. */
  uuid: string;
  /** The volume's name. */
  name: string;
  /** Size the guest sees, in bytes. */
  sizeBytes: number;
  /** k: data shards per stripe. */
  dataDisks: number;
  /** m: parity shards per stripe. */
  parityDisks: number;
  /** Units (4096 bytes of data + 8 of PI) per chunk: one disk's share of a stripe. */
  chunkBlocks: number;
  /** Stripes per segment (the unit of allocation and cleaning). */
  stripesPerSegment: number;
  /** Segments in the log. */
  segments: number;
  /** The k + m disk files and their states. */
  disks: { file: string; state: DiskState }[];
}

const superblockSchema = z.strictObject({
  format: z.literal('qingtian-volume'),
  version: z.union([z.literal(1), z.literal(2)], { error: 'one of 1, 2' }),
  appTag: intIn(1, 0xfffe).optional(),
  uuid: z.string().regex(/^[0-9a-f-]{36}$/),
  name: nameString(64),
  sizeBytes: multipleIn(BLOCK_BYTES, MIB, MAX_VOLUME_BYTES),
  dataDisks: intIn(1, 16),
  parityDisks: intIn(1, 8),
  chunkBlocks: intIn(1, 256),
  stripesPerSegment: intIn(1, 256),
  segments: intIn(RESERVE_SEGMENTS + 1, 1 << 24),
  disks: z
    .array(z.strictObject({ file: z.string().regex(/^disk-[0-9]{1,2}\.img$/), state: oneOf(DISK_STATES) }))
    .min(2)
    .max(MAX_DISKS),
});

export const SUPERBLOCK_FILE = 'volume.json';

/** Validates create options into a superblock. */
export function newSuperblock(options: VolumeCreateOptions): Superblock {
  const o = parseArgs(createSchema, options, 'volume options');
  const dataDisks = o.dataDisks ?? 4;
  const parityDisks = o.parityDisks ?? 2;
  const chunkBlocks = o.chunkBlocks ?? 16;
  const stripesPerSegment = o.stripesPerSegment ?? 4;
  const segmentBlocks = dataDisks * chunkBlocks * stripesPerSegment;
  const capacityBytes = o.capacityBytes ?? Math.ceil((o.sizeBytes * 1.25) / BLOCK_BYTES) * BLOCK_BYTES;
  const segments = Math.ceil(capacityBytes / BLOCK_BYTES / segmentBlocks) + RESERVE_SEGMENTS;
  if (segments * segmentBlocks >= 2 ** 32 - 1) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `volume options.capacityBytes: expected at most ${(2 ** 32 - 2) * BLOCK_BYTES} bytes of log (block addresses are u32), got ${capacityBytes}`,
      { field: 'volume options.capacityBytes' },
    );
  }
  const disks = dataDisks + parityDisks;
  const uuid = randomUUID();
  return {
    format: 'qingtian-volume',
    version: VOLUME_FORMAT_VERSION,
    uuid,
    appTag: appTagOf(uuid),
    name: o.name ?? (basename(o.dir) || 'volume'),
    sizeBytes: o.sizeBytes,
    dataDisks,
    parityDisks,
    chunkBlocks,
    stripesPerSegment,
    segments,
    disks: Array.from({ length: disks }, (_, i) => ({ file: `disk-${i}.img`, state: 'ok' as const })),
  };
}

/** Parses volume.json text; anything off is QT_BAD_FORMAT naming the field. */
export function parseSuperblock(text: string, where: string): Superblock {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new QingtianError(ErrorCode.BadFormat, `${where}: not JSON (${(e as Error).message})`);
  }
  try {
    const sb: Superblock = parseArgs(superblockSchema, raw, where);
    if ((sb.version === 2) !== (sb.appTag !== undefined)) {
      throw new QingtianError(
        ErrorCode.BadFormat,
        `${where}.appTag: expected an application tag in [1, 65534] with version 2 and none with version 1, got ${String(sb.appTag)} with version ${sb.version}`,
      );
    }
    if (sb.disks.length !== sb.dataDisks + sb.parityDisks) {
      throw new QingtianError(
        ErrorCode.BadFormat,
        `${where}.disks: expected ${sb.dataDisks + sb.parityDisks} entries (dataDisks + parityDisks), got ${sb.disks.length}`,
      );
    }
    return sb;
  } catch (e) {
    if (e instanceof QingtianError && e.code === ErrorCode.InvalidArgument)
      throw new QingtianError(ErrorCode.BadFormat, e.message, e.details);
    throw e;
  }
}

export function geometryOf(sb: Superblock): Geometry {
  return new Geometry({
    blockCount: sb.sizeBytes / BLOCK_BYTES,
    dataDisks: sb.dataDisks,
    parityDisks: sb.parityDisks,
    chunkBlocks: sb.chunkBlocks,
    stripesPerSegment: sb.stripesPerSegment,
    segments: sb.segments,
  });
}

/**
 * A volume's application tag: made from its UUID, in [1, 0xFFFE]. Never 0 (an all-zero unit,
 * a zeroed disk region, would otherwise pass at LBA 0: the CRC of zeros is 0) and never 0xFFFF
 * (T10's escape value, which turns every check of a block off).
 */
export function appTagOf(uuid: string): number {
  return 1 + (crc32(Buffer.from(uuid, 'utf8')) % 0xfffe);
}
