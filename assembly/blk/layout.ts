// virtio-blk (virtio 1.2 §5.2) as the kernel sees it: request types and statuses, feature bits,
// and the device's state ('VBLK') and job state ('VBJB') layouts.
//
// Device state 'VBLK' (layout 1): the common device prefix (assembly/virtio/device-state.ts:
// status, config interrupt, queues at DEV_QUEUES), then
//   +256 u32 flags          BLKF_* (read-only, discard and write-zeroes offered)
//   +260 u32 backend        BLK_BACKEND_NULL (no data moves) or BLK_BACKEND_RAM
//   +264 u32 ram            host address of the RAM disk's first byte (RAM backend)
//   +272 u64 capacity       512-byte sectors
//   +280 u32 maxDiscardSectors  +284 u32 maxDiscardSeg  +288 u32 maxWriteZeroesSectors  +292 u32 maxWriteZeroesSeg
//   +296 u8[20] id          the GET_ID string (unused bytes zero)
//
// Job state 'VBJB' (layout 1): one per virtqueue, so that each queue's job can run on a core of
// its own and its counters have one writer.
//   +64 u32 device  +68 u32 queue index  +72 u32 burst (VQBR)  +76 u32 maxBurst
//   +128 u64 counters: requests, reads, writes, flushes, getIds, discards, writeZeroes,
//        bytesRead, bytesWritten, ioErrors, unsupported, rejected
//   +224 f64 clock      the core's clock (ns) as this burst started, written by the core before
//        each call (the kernel has no clock of its own)
//   +240 u8[16] header scratch (a header split across descriptors is gathered here)
//   +256 range[BLK_MAX_SEG_LIMIT] (16 bytes each): DISCARD / WRITE_ZEROES ranges, copied once
//   then the volume backend's words (BJ_VOLQ ..), then BJ_LATENCY: per request pushed, the time
//   from the clock of the burst that popped its chain to the clock of the burst that pushed it
//   (assembly/common/burst-latency.ts histogram; 0 when both are the same burst)

import { BURST_LAT_BYTES, burstObserve } from '../common/burst-latency';
import { DEV_PAYLOAD } from '../virtio/device-state';

// Request types (§5.2.6).
export const BLK_T_IN: u32 = 0;
export const BLK_T_OUT: u32 = 1;
export const BLK_T_FLUSH: u32 = 4;
export const BLK_T_GET_ID: u32 = 8;
export const BLK_T_DISCARD: u32 = 11;
export const BLK_T_WRITE_ZEROES: u32 = 13;
// Status byte values.
export const BLK_S_OK: u8 = 0;
export const BLK_S_IOERR: u8 = 1;
export const BLK_S_UNSUPP: u8 = 2;
/** Header: u32 type, u32 reserved, u64 sector. */
export const BLK_HDR_BYTES: u32 = 16;
export const BLK_SECTOR_BYTES: u32 = 512;
/** GET_ID answer length. */
export const BLK_ID_BYTES: u32 = 20;
/** A DISCARD / WRITE_ZEROES range: u64 sector, u32 num_sectors, u32 flags. */
export const BLK_RANGE_BYTES: u32 = 16;
export const BLK_RANGE_F_UNMAP: u32 = 1;
/** Most ranges one DISCARD / WRITE_ZEROES request may carry (max_discard_seg is at most this). */
export const BLK_MAX_SEG_LIMIT: u32 = 32;

// Feature bits (§5.2.3).
export const BLK_F_SIZE_MAX: u32 = 1;
export const BLK_F_SEG_MAX: u32 = 2;
export const BLK_F_RO: u32 = 5;
export const BLK_F_BLK_SIZE: u32 = 6;
export const BLK_F_FLUSH: u32 = 9;
export const BLK_F_MQ: u32 = 12;
export const BLK_F_DISCARD: u32 = 13;
export const BLK_F_WRITE_ZEROES: u32 = 14;

// Device state.
export const BLK_MAGIC: u32 = 0x4b4c4256; // 'VBLK'
export const BLK_LAYOUT: u32 = 1;
export const BLK_FLAGS: u32 = DEV_PAYLOAD;
export const BLK_BACKEND: u32 = DEV_PAYLOAD + 4;
export const BLK_RAM: u32 = DEV_PAYLOAD + 8;
export const BLK_CAPACITY: u32 = DEV_PAYLOAD + 16;
export const BLK_MAX_DISCARD_SECTORS: u32 = DEV_PAYLOAD + 24;
export const BLK_MAX_DISCARD_SEG: u32 = DEV_PAYLOAD + 28;
export const BLK_MAX_WZ_SECTORS: u32 = DEV_PAYLOAD + 32;
export const BLK_MAX_WZ_SEG: u32 = DEV_PAYLOAD + 36;
export const BLK_ID: u32 = DEV_PAYLOAD + 40;
export const BLK_STATE_BYTES: u32 = DEV_PAYLOAD + 64;
export const BLKF_RO: u32 = 1;
export const BLKF_DISCARD: u32 = 2;
export const BLKF_WRITE_ZEROES: u32 = 4;
export const BLK_BACKEND_NULL: u32 = 0;
export const BLK_BACKEND_RAM: u32 = 1;
/** Requests go to a volume through the job's volume queue and complete in later turns (volume-path.ts). */
export const BLK_BACKEND_VOLUME: u32 = 2;

// Job state.
export const BJ_MAGIC: u32 = 0x424a4256; // 'VBJB'
export const BJ_LAYOUT: u32 = 3;
export const BJ_DEVICE: u32 = 64;
export const BJ_QUEUE: u32 = 68;
export const BJ_BURST: u32 = 72;
export const BJ_MAX_BURST: u32 = 76;
export const BJ_REQUESTS: u32 = 128;
export const BJ_READS: u32 = 136;
export const BJ_WRITES: u32 = 144;
export const BJ_FLUSHES: u32 = 152;
export const BJ_GET_IDS: u32 = 160;
export const BJ_DISCARDS: u32 = 168;
export const BJ_WRITE_ZEROES: u32 = 176;
export const BJ_BYTES_READ: u32 = 184;
export const BJ_BYTES_WRITTEN: u32 = 192;
export const BJ_IO_ERRORS: u32 = 200;
export const BJ_UNSUPPORTED: u32 = 208;
export const BJ_REJECTED: u32 = 216;
export const BJ_CLOCK: u32 = 224;
export const BJ_HEADER: u32 = 240;
export const BJ_RANGES: u32 = 256;
// Volume backend (0 elsewhere): where this queue's requests go and the chains they belong to.
export const BJ_VOLQ: u32 = BJ_RANGES + BLK_MAX_SEG_LIMIT * BLK_RANGE_BYTES;
export const BJ_SLOTS: u32 = BJ_VOLQ + 4;
export const BJ_SLOT_COUNT: u32 = BJ_VOLQ + 8;
export const BJ_BOUNCE: u32 = BJ_VOLQ + 12;
export const BJ_SLOT_DATA: u32 = BJ_VOLQ + 16;
export const BJ_FREE: u32 = BJ_VOLQ + 20;
export const BJ_DONE: u32 = BJ_VOLQ + 24;
export const BJ_PENDING: u32 = BJ_VOLQ + 28;
export const BJ_SUBMITS: u32 = BJ_VOLQ + 32;
export const BJ_LATENCY: u32 = BJ_VOLQ + 64;
export const BJ_BYTES: u32 = BJ_LATENCY + BURST_LAT_BYTES;

// Slot table (region 'VBSL', one per volume-backed job): slotCount chains in flight at most.
//   +64 slot[slotCount] of BS_BYTES, then u32 freeStack[slotCount], then the writable segments
//   of each slot (VQ_MAX_SEGS x SEG_BYTES each: u32 host, u32 len, u64 gpa; only len and gpa
//   are used: host addresses are translated again in the turn that writes).
export const BS_MAGIC: u32 = 0x4c534256; // 'VBSL'
export const BS_LAYOUT: u32 = 1;
export const BS_SLOTS: u32 = 64;
export const BS_BYTES: u32 = 48;
export const BS_TOKEN: u32 = 0; // u16, the pop's chain token
export const BS_ID: u32 = 2; // u16, the chain's buffer id
export const BS_OP: u32 = 4; // u32, BSO_*
export const BS_SEGS: u32 = 8; // u32, writable data segments (IN)
export const BS_BYTES_IN: u32 = 12; // u32, data bytes to scatter (IN)
export const BS_STATUS_GPA: u32 = 16; // u64, the status byte
export const BS_RANGES: u32 = 24; // u32, DISCARD / WRITE_ZEROES ranges in the slot's bounce buffer
export const BS_NEXT: u32 = 28; // u32, the next range to submit
export const BS_KIND: u32 = 32; // u32, BLK_T_DISCARD or BLK_T_WRITE_ZEROES for ranges
export const BS_STAMP: u32 = 40; // f64, the job's clock in the burst that popped the chain
export const BSO_FREE: u32 = 0;
export const BSO_READ: u32 = 1;
export const BSO_WRITE: u32 = 2;
export const BSO_FLUSH: u32 = 3;
export const BSO_RANGES: u32 = 4;

@inline export function bump(job: usize, counter: u32, by: u64 = 1): void {
  store<u64>(job + counter, load<u64>(job + counter) + by);
}

/** `n` requests pushed `ns` after their pop (request latency, BJ_LATENCY). */
@inline export function observeRequests(job: usize, ns: f64, n: u32): void {
  burstObserve(job + BJ_LATENCY, ns, n);
}
