// core_io_probe: a job that keeps `depth` requests in flight on an I/O channel
// (assembly/common/io-channel.ts) until `total` have completed, never waiting for one. It is
// the round-trip probe of `qingtian bench io` and the proof, in tests, that a core goes on
// serving its other jobs while a request is outstanding (a file read, say, that takes as long
// as the file takes).
//
// State 'IOPB' (layout 1):
//   +64  u32 channel     the I/O channel (IOCH)
//   +68  u32 op          op of every request (the worker's handler defines them)
//   +72  u32 depth       requests kept in flight, 1..64 (each owns one buffer slot)
//   +76  u32 total       requests to complete in all (0: no limit)
//   +80  u32 buffers     host address of depth x bufferBytes bytes the probe owns
//   +84  u32 bufferBytes len of every request; request n reads into / writes from its slot
//   +88  u64 arg0Step    arg0 of request n = n x arg0Step (a file offset, say)
//   +96  u32 issued      +100 u32 completed  +104 u32 failed (result < 0)
//   +112 u64 busy        bit s set while buffer slot s belongs to a request in flight
//   +120 u64 resultSum   sum of the results >= 0 (bytes moved)
//   +128 u64 lastValue   the value of the last completion consumed

import { headerOk } from '../common/header';
import {
  IOC_RESULT,
  IOC_TAG,
  IOC_VALUE,
  IOR_ADDR,
  IOR_ARG0,
  IOR_ARG1,
  IOR_LEN,
  IOR_OP,
  IOR_TAG,
  ioChannelOk,
  ioCompletionAt,
  ioCompletions,
  ioInflight,
  ioRelease,
  ioRequestAt,
  ioSubmit,
} from '../common/io-channel';

export const IOP_MAGIC: u32 = 0x42504f49; // 'IOPB'
export const IOP_CHANNEL: u32 = 64;
export const IOP_OP: u32 = 68;
export const IOP_DEPTH: u32 = 72;
export const IOP_TOTAL: u32 = 76;
export const IOP_BUFFERS: u32 = 80;
export const IOP_BUFFER_BYTES: u32 = 84;
export const IOP_ARG0_STEP: u32 = 88;
export const IOP_ISSUED: u32 = 96;
export const IOP_COMPLETED: u32 = 100;
export const IOP_FAILED: u32 = 104;
export const IOP_BUSY: u32 = 112;
export const IOP_RESULT_SUM: u32 = 120;
export const IOP_LAST_VALUE: u32 = 128;
export const IOP_BYTES: u32 = 192;
export const IOP_E_STATE: i32 = -1;

/** One turn: consume what completed, then top the flight back up to `depth`. Items = both. */
export function ioProbeRun(state: usize, budget: i32): i32 {
  if (!headerOk(state, IOP_MAGIC, 1, IOP_BYTES) || budget <= 0) return IOP_E_STATE;
  const ch = <usize>load<u32>(state, IOP_CHANNEL);
  const depth = load<u32>(state, IOP_DEPTH);
  if (!ioChannelOk(ch) || depth == 0 || depth > 64) return IOP_E_STATE;
  let busy = load<u64>(state, IOP_BUSY);
  let items: u32 = 0;

  // Completions, in whatever order the worker finished them.
  let done = ioCompletions(ch);
  if (done > <u32>budget) done = <u32>budget;
  let sum = load<u64>(state, IOP_RESULT_SUM);
  let failed = load<u32>(state, IOP_FAILED);
  for (let k: u32 = 0; k < done; k++) {
    const c = ioCompletionAt(ch, k);
    const slot = load<u32>(c, IOC_TAG);
    const result = load<i32>(c, IOC_RESULT);
    if (result < 0) failed++;
    else sum += <u64>result;
    store<u64>(state, load<u64>(c, IOC_VALUE), IOP_LAST_VALUE);
    // A tag the probe never issued would be the worker's bug; it frees nothing then.
    if (slot < 64) busy &= ~((<u64>1) << slot);
  }
  ioRelease(ch, done);
  store<u64>(state, sum, IOP_RESULT_SUM);
  store<u32>(state, failed, IOP_FAILED);
  store<u32>(state, load<u32>(state, IOP_COMPLETED) + done, IOP_COMPLETED);
  items += done;

  // New requests, up to depth in flight and total issued.
  const total = load<u32>(state, IOP_TOTAL);
  let issued = load<u32>(state, IOP_ISSUED);
  const bytes = load<u32>(state, IOP_BUFFER_BYTES);
  const buffers = <usize>load<u32>(state, IOP_BUFFERS);
  let k: u32 = 0;
  while (items + k < <u32>budget && ioInflight(ch) + k < depth && (total == 0 || issued < total)) {
    const r = ioRequestAt(ch, k);
    if (r == 0) break;
    const slot = <u32>ctz(~busy);
    busy |= (<u64>1) << slot;
    store<u32>(r, slot, IOR_TAG);
    store<u32>(r, load<u32>(state, IOP_OP), IOR_OP);
    store<u64>(r, <u64>issued * load<u64>(state, IOP_ARG0_STEP), IOR_ARG0);
    store<u32>(r, <u32>(buffers + <usize>slot * bytes), IOR_ADDR);
    store<u32>(r, bytes, IOR_LEN);
    store<u64>(r, 0, IOR_ARG1);
    issued++;
    k++;
  }
  ioSubmit(ch, k);
  store<u32>(state, issued, IOP_ISSUED);
  store<u64>(state, busy, IOP_BUSY);
  return <i32>(items + k);
}

/** Arm entry: completions waiting keep the core awake; the worker rings the core for later ones. */
export function ioProbeArm(state: usize): i32 {
  if (!headerOk(state, IOP_MAGIC, 1, IOP_BYTES)) return 0;
  const ch = <usize>load<u32>(state, IOP_CHANNEL);
  if (!ioChannelOk(ch)) return 0;
  return <i32>ioCompletions(ch);
}
