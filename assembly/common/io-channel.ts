// I/O channel (state region 'IOCH', layout 1): how a kernel on a DPU core hands work that may
// block (file reads and writes, socket sends, timers) to an I/O worker thread and takes the
// results back, without ever blocking itself. Two SPSC rings (spsc-ring.ts) of fixed-size
// records: requests (kernel -> worker) and completions (worker -> kernel).
//
//   +0    header
//   +64   u32 capacity      records per ring (a power of two, 1..IO_MAX_CAPACITY)
//   +68   u32 recordBytes   IO_RECORD_BYTES
//   +72   u32 coreControl   control region of the core running the kernel side (0: none); the
//                           worker rings that core's doorbell after it posts completions
//   +128  i32 doorbell      the worker sleeps on it; the kernel adds 1 after a burst of requests
//   +132  i32 sleeping      1 while the worker is (about to be) asleep: only then is it notified
//   +136  i32 stop          set by the control plane to end the worker
//   +192  u64 submitted  +200 u64 completed  +208 u64 kicks          (kernel side, out of band)
//   +256  u64 handled    +264 u64 failed     +272 u64 wakeups  +280 u64 coreRings   (worker side)
//   +320  request ring, then the completion ring (each ringBytes(capacity, recordBytes))
//
// Request record:    +0 u32 tag  +4 u32 op  +8 u64 arg0  +16 u32 addr  +20 u32 len  +24 u64 arg1
// Completion record: +0 u32 tag  +4 i32 result (>= 0, or a negative errno)  +8 u64 value
// `tag` is the kernel's, echoed back; `addr` names a buffer the device owns (never guest RAM:
// the kernel copies into the guest through guest-write.ts, so the dirty log sees it).
//
// The kernel never has more than `capacity` requests without a consumed completion, so the
// worker always finds room for its one completion per request and never has to wait either.

import { HDR_SIZE_BYTES, headerOk } from './header';
import {
  RING_HEAD,
  RING_RECORDS,
  RING_TAIL,
  ringAvailable,
  ringBytes,
  ringConsumeAt,
  ringProduceAt,
  ringPublish,
  ringRelease,
} from './spsc-ring';

export const IO_MAGIC: u32 = 0x48434f49; // 'IOCH'
export const IO_LAYOUT: u32 = 1;
export const IO_CAPACITY: u32 = 64;
export const IO_RECORD: u32 = 68;
export const IO_CORE_CONTROL: u32 = 72;
export const IO_DOORBELL: u32 = 128;
export const IO_SLEEPING: u32 = 132;
export const IO_STOP: u32 = 136;
export const IO_SUBMITTED: u32 = 192;
export const IO_COMPLETED: u32 = 200;
export const IO_KICKS: u32 = 208;
export const IO_HANDLED: u32 = 256;
export const IO_FAILED: u32 = 264;
export const IO_WAKEUPS: u32 = 272;
export const IO_CORE_RINGS: u32 = 280;
export const IO_RINGS: u32 = 320;
export const IO_RECORD_BYTES: u32 = 32;
export const IO_MAX_CAPACITY: u32 = 4096;

export const IOR_TAG: u32 = 0;
export const IOR_OP: u32 = 4;
export const IOR_ARG0: u32 = 8;
export const IOR_ADDR: u32 = 16;
export const IOR_LEN: u32 = 20;
export const IOR_ARG1: u32 = 24;
export const IOC_TAG: u32 = 0;
export const IOC_RESULT: u32 = 4;
export const IOC_VALUE: u32 = 8;

/** Bytes of a channel region with rings of `capacity` records. */
@inline export function ioChannelBytes(capacity: u32): u32 {
  return IO_RINGS + 2 * ringBytes(capacity, IO_RECORD_BYTES);
}

@inline function requests(ch: usize): usize {
  return ch + IO_RINGS;
}

@inline function completions(ch: usize): usize {
  return ch + IO_RINGS + ringBytes(load<u32>(ch, IO_CAPACITY), IO_RECORD_BYTES);
}

/** True when `ch` is a well-formed channel (checked once per burst, before any other call). */
export function ioChannelOk(ch: usize): bool {
  if (ch == 0 || !headerOk(ch, IO_MAGIC, IO_LAYOUT, RING_RECORDS)) return false;
  const cap = load<u32>(ch, IO_CAPACITY);
  if (cap == 0 || cap > IO_MAX_CAPACITY || (cap & (cap - 1)) != 0) return false;
  return load<u32>(ch, IO_RECORD) == IO_RECORD_BYTES && load<u32>(ch, HDR_SIZE_BYTES) >= ioChannelBytes(cap);
}

/** Requests submitted whose completion the kernel has not consumed yet. */
@inline export function ioInflight(ch: usize): u32 {
  return <u32>(load<i32>(requests(ch), RING_HEAD) - load<i32>(completions(ch), RING_TAIL));
}

/**
 * Address of the k-th request record this burst may fill (k = 0, 1, ...), or 0 when the channel
 * has no room for it (`capacity` requests already in flight). Fill it, then ioSubmit.
 */
@inline export function ioRequestAt(ch: usize, k: u32): usize {
  const cap = load<u32>(ch, IO_CAPACITY);
  if (ioInflight(ch) + k >= cap) return 0;
  return ringProduceAt(requests(ch), cap, IO_RECORD_BYTES, k);
}

/**
 * Publishes the first `k` requests this burst filled, with one store, then rings the worker's
 * doorbell: one add, and one notify only if the worker said it sleeps. At most once per burst.
 */
export function ioSubmit(ch: usize, k: u32): void {
  if (k == 0) return;
  ringPublish(requests(ch), k);
  store<u64>(ch, load<u64>(ch, IO_SUBMITTED) + k, IO_SUBMITTED);
  // Sequentially consistent: the worker, which sets `sleeping` before re-checking the ring and
  // then waits on the doorbell value it read before draining, either sees these requests or
  // sees the doorbell move.
  atomic.add<i32>(ch, 1, IO_DOORBELL);
  if (atomic.load<i32>(ch, IO_SLEEPING) != 0) {
    atomic.notify(ch + IO_DOORBELL, 1);
    store<u64>(ch, load<u64>(ch, IO_KICKS) + 1, IO_KICKS);
  }
}

/** Completions waiting for the kernel. */
@inline export function ioCompletions(ch: usize): u32 {
  return ringAvailable(completions(ch));
}

/** Address of the k-th waiting completion (the caller checked k < ioCompletions). */
@inline export function ioCompletionAt(ch: usize, k: u32): usize {
  return ringConsumeAt(completions(ch), load<u32>(ch, IO_CAPACITY), IO_RECORD_BYTES, k);
}

/** Frees the first `k` waiting completions (after reading them), with one store. */
export function ioRelease(ch: usize, k: u32): void {
  if (k == 0) return;
  ringRelease(completions(ch), k);
  store<u64>(ch, load<u64>(ch, IO_COMPLETED) + k, IO_COMPLETED);
}
