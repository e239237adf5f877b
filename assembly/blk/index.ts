// Kernel family "blk": the virtio-blk device (virtio 1.2 §5.2) on DPU cores. Exports: the job
// entries blk_run / blk_arm (one job per virtqueue) and the layout constants that
// src/generated/blk.ts is generated from. Queue set-up and burst buffers are the virtio family's.

import { KERNEL_ABI } from '../common/abi';
import { burstBucket } from '../common/burst-latency';
import { blkArm, blkComplete, blkRun } from './device';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x6b6c62; // "blk"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function blk_run(job: usize, budget: i32): i32 {
  return blkRun(job, budget);
}

export function blk_arm(job: usize, budget: i32): i32 {
  return blkArm(job);
}

export function blk_complete(job: usize): i32 {
  return blkComplete(job);
}

/** The request-latency bucket of `ns` (assembly/common/burst-latency.ts), for tests of the bounds. */
export function blk_latency_bucket(ns: f64): u32 {
  return burstBucket(ns);
}

export {
  BLK_T_IN,
  BLK_T_OUT,
  BLK_T_FLUSH,
  BLK_T_GET_ID,
  BLK_T_DISCARD,
  BLK_T_WRITE_ZEROES,
  BLK_S_OK,
  BLK_S_IOERR,
  BLK_S_UNSUPP,
  BLK_HDR_BYTES,
  BLK_SECTOR_BYTES,
  BLK_ID_BYTES,
  BLK_RANGE_BYTES,
  BLK_RANGE_F_UNMAP,
  BLK_MAX_SEG_LIMIT,
  BLK_F_SIZE_MAX,
  BLK_F_SEG_MAX,
  BLK_F_RO,
  BLK_F_BLK_SIZE,
  BLK_F_FLUSH,
  BLK_F_MQ,
  BLK_F_DISCARD,
  BLK_F_WRITE_ZEROES,
  BLK_MAGIC,
  BLK_LAYOUT,
  BLK_FLAGS,
  BLK_BACKEND,
  BLK_RAM,
  BLK_CAPACITY,
  BLK_MAX_DISCARD_SECTORS,
  BLK_MAX_DISCARD_SEG,
  BLK_MAX_WZ_SECTORS,
  BLK_MAX_WZ_SEG,
  BLK_ID,
  BLK_STATE_BYTES,
  BLKF_RO,
  BLKF_DISCARD,
  BLKF_WRITE_ZEROES,
  BLK_BACKEND_NULL,
  BLK_BACKEND_RAM,
  BLK_BACKEND_VOLUME,
  BJ_MAGIC,
  BJ_LAYOUT,
  BJ_DEVICE,
  BJ_QUEUE,
  BJ_BURST,
  BJ_MAX_BURST,
  BJ_REQUESTS,
  BJ_READS,
  BJ_WRITES,
  BJ_FLUSHES,
  BJ_GET_IDS,
  BJ_DISCARDS,
  BJ_WRITE_ZEROES,
  BJ_BYTES_READ,
  BJ_BYTES_WRITTEN,
  BJ_IO_ERRORS,
  BJ_UNSUPPORTED,
  BJ_REJECTED,
  BJ_CLOCK,
  BJ_HEADER,
  BJ_RANGES,
  BJ_VOLQ,
  BJ_SLOTS,
  BJ_SLOT_COUNT,
  BJ_BOUNCE,
  BJ_SLOT_DATA,
  BJ_FREE,
  BJ_DONE,
  BJ_PENDING,
  BJ_SUBMITS,
  BJ_LATENCY,
  BJ_BYTES,
  BS_MAGIC,
  BS_LAYOUT,
  BS_SLOTS,
  BS_BYTES,
  BS_OP,
  BSO_FREE,
} from './layout';
export {
  VOLQ_DEPTH,
  VOLQ_VOLUME_ID,
  VOLQ_BUFFER_BASE,
  VOLQ_BUFFER_BYTES,
  VOLQ_BLOCKS_LO,
  VOLQ_BLOCKS_HI,
  VOLQ_ENGINE_DOORBELL,
  VOLQ_ENGINE_SLEEPING,
  VOLQ_COMPLETION_DOORBELL,
  VOLQ_COMPLETION_SLEEPING,
  VOLQ_STATE,
  VOLQ_REQUEST_RING,
  VOLQ_REQUEST_BYTES,
  VOLQ_COMPLETION_BYTES,
  VOLQ_MIN_DEPTH,
  VOLQ_MAX_DEPTH,
  VOLQ_MAX_LENGTH,
  REQ_OP,
  REQ_FLAGS,
  REQ_TAG,
  REQ_OFFSET,
  REQ_LENGTH,
  REQ_BUFFER,
  CPL_TAG,
  CPL_STATUS,
  CPL_BYTES,
} from './volume-queue';
