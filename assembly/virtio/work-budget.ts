// A device job's work budget: how much one turn (one call of its job entry) may do, and the
// work it has done, which the DPU core's fair share charges (src/dpu/core/fair-share.ts: the
// job's work counter is `state + <block offset> + WB_WORK`). A block of WB_BYTES inside the
// device's state region, written by the control plane (the two limits) and the kernel (the rest):
//
//   +0  u32 turnBytes   bytes the job may move in one turn; 0: no limit
//   +4  u32 turnDescs   descriptors its pops may walk in one turn (a pop starts no chain past
//                       it; a chain is never cut); 0: no limit
//   +8  u64 work        work units, ever: bytes moved + DESC_WORK_UNITS per descriptor walked
//   +16 u64 bytes       bytes moved, ever
//   +24 u64 resumed     chains finished in a later turn than the one that began them
//
// A chain longer than the turn's bytes is done in pieces across turns (chain-cursor.ts); the
// guest sees one completion. So a turn does at most turnBytes of copying plus the descriptors of
// turnDescs and one more chain (at most 2N), whatever the guest posts.

import { BR_DESC_BUDGET } from './burst';

export const WB_TURN_BYTES: u32 = 0;
export const WB_TURN_DESCS: u32 = 4;
export const WB_WORK: u32 = 8;
export const WB_BYTES_MOVED: u32 = 16;
export const WB_RESUMED: u32 = 24;
export const WB_BYTES: u32 = 32;

/** Work units a descriptor costs: about the bytes copied in the time it takes to walk one. */
export const DESC_WORK_UNITS: u32 = 64;

/** Bytes this turn may move (no limit: 2^32 - 1). */
@inline export function wbTurnBytes(wb: usize): u32 {
  const b = load<u32>(wb, WB_TURN_BYTES);
  return b == 0 ? 0xffffffff : b;
}

/** Sets the descriptor limit of the pop this turn is about to make. */
@inline export function wbLimitPop(wb: usize, burst: usize): void {
  store<u32>(burst, load<u32>(wb, WB_TURN_DESCS), BR_DESC_BUDGET);
}

/** Adds a turn's bytes and descriptors to the counters (once per turn, at its end). */
@inline export function wbCharge(wb: usize, bytes: u64, descs: u32): void {
  store<u64>(wb, load<u64>(wb, WB_WORK) + bytes + <u64>descs * DESC_WORK_UNITS, WB_WORK);
  store<u64>(wb, load<u64>(wb, WB_BYTES_MOVED) + bytes, WB_BYTES_MOVED);
}

/** Counts a chain completed in a later turn than the one that began it. */
@inline export function wbResumed(wb: usize): void {
  store<u64>(wb, load<u64>(wb, WB_RESUMED) + 1, WB_RESUMED);
}
