import { z } from 'zod';
import { intIn } from '../../common/validate.js';
import { BLK_ID_BYTES, BLK_MAX_SEG_LIMIT } from '../../generated/blk.js';

/**
 * Byte offsets of the virtio-blk device configuration space (virtio 1.2 §5.2.4), little-endian,
 * and its size. The kernel never reads it (it keeps its own copies of the limits in the device
 * state), so its layout is written down here alone.
 */
export const BlkConfig = {
  CAPACITY: 0, // le64, 512-byte sectors
  SIZE_MAX: 8, // le32
  SEG_MAX: 12, // le32
  GEOMETRY: 16, // le16 cylinders, u8 heads, u8 sectors
  BLK_SIZE: 20, // le32
  TOPOLOGY: 24, // u8 physical_block_exp, u8 alignment_offset, le16 min_io_size, le32 opt_io_size
  WRITEBACK: 32, // u8
  NUM_QUEUES: 34, // le16
  MAX_DISCARD_SECTORS: 36,
  MAX_DISCARD_SEG: 40,
  DISCARD_SECTOR_ALIGNMENT: 44,
  MAX_WRITE_ZEROES_SECTORS: 48,
  MAX_WRITE_ZEROES_SEG: 52,
  WRITE_ZEROES_MAY_UNMAP: 56, // u8
  BYTES: 60,
} as const;

/** Options of {@link BlkDevice}. Unknown keys are refused. */
export interface BlkOptions {
  /**
   * Where the data lives: 'null' (reads move no data, writes are dropped; used.len counts the
   * status byte only), 'ram' (a RAM disk in host memory, zero at start) or 'volume' (a volume of
   * host.storage: made only by `host.storage.attachBlk`, which opens its volume queues).
   */
  backend: 'null' | 'ram' | 'volume';
  /** Disk size in bytes, a multiple of 4096, 4 KiB–1 TiB ('ram': at most 1 GiB). */
  capacityBytes: number;
  /** Virtqueues (VIRTIO_BLK_F_MQ), 1–32, one job each. Default 1. */
  queues?: number;
  /** Largest queue size the driver may configure, 2–32768. Default 256. */
  maxQueueSize?: number;
  /** Chains per burst, 1–1024. Default 64. */
  maxBurst?: number;
  /** Offer VIRTIO_BLK_F_RO: every write, discard and write-zeroes fails with IOERR. Default false. */
  readOnly?: boolean;
  /** Logical block size offered (VIRTIO_BLK_F_BLK_SIZE), a power of two 512–65536. Default 512. */
  blkSize?: number;
  /** Largest single segment the driver should use (VIRTIO_BLK_F_SIZE_MAX), 4096–2^31. Default 1 MiB. */
  sizeMax?: number;
  /** Offer DISCARD with these limits; false to leave it out. Default { maxSectors: 2048, maxSeg: 8 }. */
  discard?: false | { maxSectors: number; maxSeg: number };
  /** Offer WRITE_ZEROES with these limits; false to leave it out. Default { maxSectors: 2048, maxSeg: 8 }. */
  writeZeroes?: false | { maxSectors: number; maxSeg: number };
  /** GET_ID answer: up to 20 printable ASCII characters. Default the device name, cut to 20. */
  id?: string;
}

const limits = z.union([
  z.literal(false),
  z.strictObject({ maxSectors: intIn(1, 1 << 22), maxSeg: intIn(1, BLK_MAX_SEG_LIMIT) }),
]);

export const blkOptionsSchema = z.strictObject({
  backend: z.enum(['null', 'ram', 'volume']),
  capacityBytes: intIn(4096, 2 ** 40).refine((n) => n % 4096 === 0, { error: 'a multiple of 4096' }),
  queues: intIn(1, 32).optional(),
  maxQueueSize: intIn(2, 32768).optional(),
  maxBurst: intIn(1, 1024).optional(),
  readOnly: z.boolean().optional(),
  blkSize: intIn(512, 65536)
    .refine((n) => (n & (n - 1)) === 0, { error: 'a power of two' })
    .optional(),
  sizeMax: intIn(4096, 2 ** 31).optional(),
  discard: limits.optional(),
  writeZeroes: limits.optional(),
  id: z
    .string()
    .max(BLK_ID_BYTES)
    .regex(/^[\x20-\x7e]*$/, { error: 'printable ASCII' })
    .optional(),
});
