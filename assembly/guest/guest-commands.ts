// What the guest agent answers for the drivers its vCPU runs (guest-program.ts): requests that
// start work on the guest's own devices and report their counters. Bodies are little-endian.
//
//   QGA_NET_STATS  ()                              -> 16 x u64: the stack's counters (GNC_*, 12),
//                                                     pings sent, ping replies, program steps, sleeps
//   QGA_NET_PING   { u32 dst (network order), u32 count }  -> ()   pings dst, one at a time
//   QGA_BLK_CHECK  { u32 base, u32 count, u32 depth }      -> ()   write, flush, read back, verify
//   QGA_BLK_STATUS ()                              -> { u32 phase, u32 run, u64 writes, u64 reads,
//                                                     u64 flushes, u64 errors, u64 elapsedNs }

import { AFS_BAD_REQUEST, AFS_BAD_STATE, AFS_NOT_FOUND } from './agent-frame';
import {
  BJP_DONE,
  BJP_FAILED,
  BJ_END_NS,
  BJ_ERRORS,
  BJ_FLUSHES,
  BJ_PHASE,
  BJ_READS,
  BJ_RUN,
  BJ_START_NS,
  BJ_WRITES,
  blkJobStart,
} from './blk-job';
import { GN_COUNTERS, GN_PING_IDENT, GN_PING_REPLIES } from './net-state';
import {
  GP_BLK,
  GP_NET,
  GP_PING_BASE,
  GP_PING_COUNT,
  GP_PING_DST,
  GP_PING_LAST,
  GP_PING_IDENT,
  GP_PING_PENDING,
  GP_PING_RUNS,
  GP_PING_SENT,
  GP_SLEEPS,
  GP_STEPS,
} from './program-state';

export const QGA_NET_STATS: u16 = 4;
export const QGA_NET_PING: u16 = 5;
export const QGA_BLK_CHECK: u16 = 6;
export const QGA_BLK_STATUS: u16 = 7;
export const QGA_NET_STATS_BYTES: u32 = 128;
export const QGA_BLK_STATUS_BYTES: u32 = 48;
/** Longest request body these commands read. */
export const QGA_COMMAND_BODY: u32 = 16;

/** Whether `type` is one of these commands. */
export function isProgramCommand(type: u16): bool {
  return type >= QGA_NET_STATS && type <= QGA_BLK_STATUS;
}

/**
 * Answers command `type` with body `body` (`len` bytes) for the program block `prog` (0: the
 * guest runs no drivers). Returns the answer's length written at `out`, or -status (AFS_*).
 */
export function programCommand(prog: usize, type: u16, body: usize, len: u32, out: usize, nowNs: u64): i32 {
  if (prog == 0) return -(<i32>AFS_BAD_STATE);
  if (type == QGA_NET_STATS || type == QGA_NET_PING) {
    const st = <usize>load<u32>(prog, GP_NET);
    if (st == 0) return -(<i32>AFS_NOT_FOUND);
    if (type == QGA_NET_STATS) {
      memory.copy(out, st + GN_COUNTERS, 12 * 8);
      store<u64>(out, <u64>load<u32>(prog, GP_PING_SENT), 96);
      store<u64>(out, <u64>(atomic.load<u32>(st, GN_PING_REPLIES) - load<u32>(prog, GP_PING_BASE)), 104);
      store<u64>(out, load<u64>(prog, GP_STEPS), 112);
      store<u64>(out, load<u64>(prog, GP_SLEEPS), 120);
      return <i32>QGA_NET_STATS_BYTES;
    }
    if (len < 8) return -(<i32>AFS_BAD_REQUEST);
    const count = load<u32>(body, 4);
    if (count == 0 || count > 65535) return -(<i32>AFS_BAD_REQUEST);
    const run = load<u32>(prog, GP_PING_RUNS) + 1;
    store<u32>(prog, run, GP_PING_RUNS);
    // The stack counts replies carrying the identifier of the last ping sent: this run's.
    store<u16>(st, <u16>(GP_PING_IDENT + run), GN_PING_IDENT);
    store<u32>(prog, load<u32>(body), GP_PING_DST);
    store<u32>(prog, 0, GP_PING_SENT);
    store<u32>(prog, atomic.load<u32>(st, GN_PING_REPLIES), GP_PING_BASE);
    store<u64>(prog, 0, GP_PING_LAST);
    store<u32>(prog, 0, GP_PING_PENDING);
    store<u32>(prog, count, GP_PING_COUNT);
    return 0;
  }
  const job = <usize>load<u32>(prog, GP_BLK);
  if (job == 0) return -(<i32>AFS_NOT_FOUND);
  if (type == QGA_BLK_CHECK) {
    if (len < 12) return -(<i32>AFS_BAD_REQUEST);
    const rc = blkJobStart(job, load<u32>(body), load<u32>(body, 4), load<u32>(body, 8), nowNs);
    return rc == 0 ? 0 : rc == -2 ? -(<i32>AFS_BAD_STATE) : -(<i32>AFS_BAD_REQUEST);
  }
  const phase = atomic.load<u32>(job, BJ_PHASE);
  store<u32>(out, phase);
  store<u32>(out, load<u32>(job, BJ_RUN), 4);
  store<u64>(out, load<u64>(job, BJ_WRITES), 8);
  store<u64>(out, load<u64>(job, BJ_READS), 16);
  store<u64>(out, load<u64>(job, BJ_FLUSHES), 24);
  store<u64>(out, load<u64>(job, BJ_ERRORS), 32);
  const end = phase == BJP_DONE || phase == BJP_FAILED ? load<u64>(job, BJ_END_NS) : nowNs;
  const start = load<u64>(job, BJ_START_NS);
  store<u64>(out, start == 0 || end < start ? 0 : end - start, 40);
  return <i32>QGA_BLK_STATUS_BYTES;
}
