// The submitter's end of a volume queue ('VOLQ'): the ring pair through which a blk job hands
// block requests to the storage I/O worker and takes completions back, in shared memory only.
// These constants are the layout's one definition: src/dpu/blk/engine/volume-queue-layout.ts
// re-exports them from src/generated/blk.ts. The rings are assembly/common/spsc-ring.ts's.

import { headerOk } from '../common/header';
import { ringAvailable, ringConsumeAt, ringProduceAt, ringPublish, ringRelease } from '../common/spsc-ring';

export const VOLQ_MAGIC_U32: u32 = 0x514c4f56; // 'VOLQ'
export const VOLQ_LAYOUT: u32 = 1;
export const VOLQ_DEPTH: u32 = 64;
export const VOLQ_VOLUME_ID: u32 = 68;
export const VOLQ_BUFFER_BASE: u32 = 72;
export const VOLQ_BUFFER_BYTES: u32 = 76;
export const VOLQ_BLOCKS_LO: u32 = 80;
export const VOLQ_BLOCKS_HI: u32 = 84;
export const VOLQ_ENGINE_DOORBELL: u32 = 88;
export const VOLQ_ENGINE_SLEEPING: u32 = 92;
export const VOLQ_COMPLETION_DOORBELL: u32 = 96;
export const VOLQ_COMPLETION_SLEEPING: u32 = 100;
export const VOLQ_STATE: u32 = 104;
export const VOLQ_REQUEST_RING: u32 = 128;
export const VOLQ_REQUEST_BYTES: u32 = 32;
export const VOLQ_COMPLETION_BYTES: u32 = 16;
export const VOLQ_MIN_DEPTH: u32 = 8;
export const VOLQ_MAX_DEPTH: u32 = 4096;
export const VOLQ_MAX_LENGTH: u32 = 4 << 20;
// Request record fields.
export const REQ_OP: u32 = 0;
export const REQ_FLAGS: u32 = 1;
export const REQ_TAG: u32 = 4;
export const REQ_OFFSET: u32 = 8;
export const REQ_LENGTH: u32 = 16;
export const REQ_BUFFER: u32 = 20;
// Completion record fields.
export const CPL_TAG: u32 = 0;
export const CPL_STATUS: u32 = 4;
export const CPL_BYTES: u32 = 8;
// Operations and flags.
export const VOP_READ: u8 = 0;
export const VOP_WRITE: u8 = 1;
export const VOP_FLUSH: u8 = 2;
export const VOP_DISCARD: u8 = 3;
export const VOP_WRITE_ZEROES: u8 = 4;
export const VOPF_FUA: u8 = 1;
export const VOPF_UNMAP: u8 = 2;
// Statuses (errno values) the kernel maps to virtio-blk ones.
export const VST_OK: u32 = 0;
export const VST_NOT_SUPPORTED: u32 = 95;

@inline export function volqCompletions(q: usize): usize {
  return q + VOLQ_REQUEST_RING + 128 + <usize>load<u32>(q, VOLQ_DEPTH) * VOLQ_REQUEST_BYTES;
}

/** True when `q` is a well-formed queue of `depth` slots still attached (checked once per burst). */
export function volqOk(q: usize, depth: u32): bool {
  if (q == 0 || !headerOk(q, VOLQ_MAGIC_U32, VOLQ_LAYOUT, 128)) return false;
  return load<u32>(q, VOLQ_DEPTH) == depth && load<u32>(q, VOLQ_STATE) == 0;
}

/** Writes the k-th request record of this burst (the caller keeps at most depth outstanding). */
@inline export function volqRequest(
  q: usize,
  k: u32,
  op: u8,
  flags: u8,
  tag: u32,
  offset: u64,
  length: u32,
  buffer: usize,
): void {
  const r = ringProduceAt(q + VOLQ_REQUEST_RING, load<u32>(q, VOLQ_DEPTH), VOLQ_REQUEST_BYTES, k);
  store<u8>(r, op, REQ_OP);
  store<u8>(r, flags, REQ_FLAGS);
  store<u16>(r, 0, 2);
  store<u32>(r, tag, REQ_TAG);
  store<u64>(r, offset, REQ_OFFSET);
  store<u32>(r, length, REQ_LENGTH);
  store<u32>(r, <u32>buffer, REQ_BUFFER);
  store<u64>(r, 0, 24);
}

/** Publishes `k` requests with one store, then rings the worker: one add, a notify only if it sleeps. */
export function volqSubmit(q: usize, k: u32): void {
  if (k == 0) return;
  ringPublish(q + VOLQ_REQUEST_RING, k);
  const bell = <usize>load<u32>(q, VOLQ_ENGINE_DOORBELL);
  const sleeping = <usize>load<u32>(q, VOLQ_ENGINE_SLEEPING);
  if (bell == 0) return;
  // SAFETY: the worker wrote both addresses at attach (its own i32 words in host memory).
  atomic.add<i32>(bell, 1);
  if (sleeping == 0 || atomic.load<i32>(sleeping) != 0) atomic.notify(bell, 1);
}

@inline export function volqCompleted(q: usize): u32 {
  return ringAvailable(volqCompletions(q));
}

@inline export function volqCompletionAt(q: usize, k: u32): usize {
  return ringConsumeAt(volqCompletions(q), load<u32>(q, VOLQ_DEPTH), VOLQ_COMPLETION_BYTES, k);
}

@inline export function volqRelease(q: usize, k: u32): void {
  if (k != 0) ringRelease(volqCompletions(q), k);
}
