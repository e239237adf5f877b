/**
 * A volume queue: how a submitter that must never block (a virtio-blk kernel on a DPU core, or
 * any other thread) hands block requests to the storage I/O worker that owns a volume, and gets
 * completions back, through shared memory only: no main-thread hop, no message port.
 *
 * One state region per queue (magic 'VOLQ'), allocated by the control plane and attached to the
 * worker. Two single-producer/single-consumer rings in the layout of src/dpu/core/spsc-ring.ts:
 * requests (submitter -> worker) and completions (worker -> submitter).
 *
 *   +0    region header (64 bytes): magic 'VOLQ', layout version, size, kind
 *   +64   u32 depth                   slots in each ring (power of two, 8-4096)
 *   +68   u32 volumeId                the worker's id of the volume
 *   +72   u32 bufferBase              the submitter's data window: every request's bytes lie in
 *   +76   u32 bufferBytes               [bufferBase, bufferBase + bufferBytes), or it is refused
 *   +80   u32 blockCount (low)        volume size in 4096-byte blocks
 *   +84   u32 blockCount (high)
 *   +88   u32 engineDoorbell          host address of the worker's doorbell (i32)
 *   +92   u32 engineSleeping          host address of the worker's sleeping flag (i32)
 *   +96   u32 completionDoorbell      host address the worker adds 1 to after a completion burst
 *                                       (0: the submitter polls), e.g. a DPU core's doorbell
 *   +100  u32 completionSleeping      host address of the submitter's sleeping flag: the worker
 *                                       notifies only while it is non-zero (0: always notify)
 *   +104  u32 state                   0 attached, 1 detached (the worker serves no more)
 *   +128  request ring:    head i32 +0 | tail i32 +64 | records of 32 bytes from +128
 *   +..   completion ring: head i32 +0 | tail i32 +64 | records of 16 bytes from +128
 *
 * Submitting a burst: write the records, publish the request ring's head (release), then
 * Atomics.add(engineDoorbell, 1) and Atomics.notify(engineDoorbell) if engineSleeping is non-zero.
 * At most `depth` requests may be outstanding: the completion ring then always has room.
 *
 * Request record (32 bytes)              Completion record (16 bytes)
 *   +0  u8  op                             +0  u32 tag
 *   +1  u8  flags                          +4  u32 status (VolumeStatus: 0 ok, 5 EIO,
 *   +2  u16 0                                      22 EINVAL, 28 ENOSPC, 95 ENOTSUP)
 *   +4  u32 tag (returned as is)           +8  u32 bytes done
 *   +8  u64 offset (bytes, 4096-aligned)   +12 u32 0
 *   +16 u32 length (bytes, 4096-aligned; 0 for FLUSH)
 *   +20 u32 buffer (host address of the data)
 *   +24 u64 0
 *
 * Requests of one queue are served in order; a FLUSH covers every write completed before it.
 */
export const VOLQ_MAGIC = 'VOLQ';
export const VOLQ_LAYOUT = 1;

// The offsets and sizes are the kernel's (assembly/blk/volume-queue.ts), generated into src/generated/blk.ts.
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
  REQ_OP,
  REQ_FLAGS,
  REQ_TAG,
  REQ_OFFSET,
  REQ_LENGTH,
  REQ_BUFFER,
  CPL_TAG,
  CPL_STATUS,
  CPL_BYTES,
  /** Largest request: 4 MiB. */
  VOLQ_MAX_LENGTH,
} from '../../../generated/blk.js';

/** Operation of a volume-queue request (byte +0 of its record). */
export const VolumeOp = { Read: 0, Write: 1, Flush: 2, Discard: 3, WriteZeroes: 4 } as const;
export type VolumeOp = (typeof VolumeOp)[keyof typeof VolumeOp];
/** Flags of a volume-queue request (byte +1): FUA, and UNMAP for write zeroes. */
export const VolumeFlag = {
  /** Write: durable (with the map) before it completes. */
  Fua: 1,
  /** Write zeroes: the blocks may be unmapped (thin) instead of written. */
  Unmap: 2,
} as const;

import {
  VOLQ_COMPLETION_BYTES as COMPLETION_BYTES,
  VOLQ_REQUEST_BYTES as REQUEST_BYTES,
  VOLQ_REQUEST_RING as REQUEST_RING,
} from '../../../generated/blk.js';

/** Byte offset of the completion ring in a queue of `depth`. */
export function completionRingOffset(depth: number): number {
  return REQUEST_RING + 128 + depth * REQUEST_BYTES;
}

/** Payload bytes (after the 64-byte header) of a queue region of `depth`. */
export function volumeQueuePayloadBytes(depth: number): number {
  return completionRingOffset(depth) + 128 + depth * COMPLETION_BYTES - 64;
}
