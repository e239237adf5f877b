// Layout of the route tables' state region, shared by the update engine (lpm.ts) and the IPv4
// lookup structure (lpm4-nodes.ts).
//
// State region 'FLPM' (layout 2):
//   +0   header (64 B)
//   +64  u32 active (0/1)   +68 u32 topBits (24 or 16)   +72 u32 groupCap   +76 u32 copyBytes
//   +80  u32 copy0Off       +84 u32 copy1Off             +88 u32 syncNeeded
//   +96  u32 nodeUnits (IPv4: node heap size per copy, in 8-byte units; 0 for IPv6)
//   +100 u32 stop: why the last flow_lpm_apply stopped early (LPM_STOP_*)
//   +128 u32 readers of copy 0 (own cache line)          +192 u32 readers of copy 1
//   +256 copy 0, then copy 1, then (IPv4) the writer's rebuild scratch (1 KiB + 32 B). A copy
//        (every offset inside is relative to it, so one memory.copy clones it):
//        +0 u32 groupsUsed (high water)  +4 u32 freeHead (group + 1)  +8 u32 groups live
//        +12 u32 heap bump (units handed out, the dummy node included)   +16 u32 heap units live
//        +20 u32 compactions   +24 u32 dirty words [begin, end) (end 0: none; writer only)
//        +64 u32 free-list heads by node size, 1..133 units (unit + 1)
//        +1024 top table (4 << topBits bytes): the DIR-24-8 first level, the update engine's truth
//        then groupCap groups of 256 entries (1 KiB each)
//        IPv4 only, the compact lookup structure derived from the two above (lpm4-nodes.ts):
//        direct table (2^16 u32) | dirty /16 bitmap (8 KiB, writer only, zero between
//        batches) | node heap (nodeUnits units of
//        8 B, then NODE_SLACK_UNITS spare units so that a lookup may read a whole node's worth
//        past any unit it is given)

import { LR_COPY0, LR_COPY_BYTES, LR_CTRL_BYTES } from './left-right';

export const LPM_MAGIC: u32 = 0x4d504c46; // 'FLPM'
export const LPM_LAYOUT: u32 = 2;
export const LPM_CTRL_BYTES: u32 = LR_CTRL_BYTES;
export const LPM_OP_BYTES: u32 = 32;
// An update op (lpm.ts): kind, prefix length, next hop, covering length, then four address words.
export const LPM_OP_KIND: usize = 0;
export const LPM_OP_LENGTH: usize = 4;
export const LPM_OP_NEXT_HOP: usize = 8;
export const LPM_OP_COVER_LENGTH: usize = 12;
export const LPM_OP_ADDR: usize = 16;
export const LPM_MAX_NEXT_HOP: u32 = 0x3fffff;
export const LPM_OP_ADD: u32 = 1;
export const LPM_OP_DELETE: u32 = 2;
export const LPM_NO_COVER: u32 = 0xffffffff;
export const LPM_E_STATE: i32 = -1;
export const LPM_E_RANGE: i32 = -2;
export const LPM_E_BUSY: i32 = -3;
/** Why the last apply stopped before the end of its batch (state word +100). */
export const LPM_STOP_NONE: u32 = 0;
export const LPM_STOP_GROUPS: u32 = 1;
export const LPM_STOP_NODES: u32 = 2;
export const LPM_STOP_BAD_OP: u32 = 3;
/** Node heap bounds (8-byte units per copy): the dummy node and one node of the largest size;
 * the dummy and a node of the largest size under every /16 (never full). */
export const LPM_NODE_MAX_UNITS_PER_NODE: u32 = 133;
export const LPM_NODE_DUMMY_UNITS: u32 = 5;
export const LPM_NODE_MIN_UNITS: u32 = LPM_NODE_DUMMY_UNITS + LPM_NODE_MAX_UNITS_PER_NODE;
export const LPM_NODE_MAX_UNITS: u32 = LPM_NODE_DUMMY_UNITS + 65536 * LPM_NODE_MAX_UNITS_PER_NODE;

export const TOP_BITS: usize = 68;
export const GROUP_CAP: usize = 72;
export const NODE_UNITS: usize = 96;
export const STOP: usize = 100;

export const C_USED: usize = 0;
export const C_FREE: usize = 4;
export const C_LIVE: usize = 8;
export const C_HEAP_BUMP: usize = 12;
export const C_HEAP_LIVE: usize = 16;
export const C_COMPACTIONS: usize = 20;
export const C_DIRTY_BEGIN: usize = 24;
export const C_DIRTY_END: usize = 28;
export const C_FREE_UNITS: usize = 64; // + 4 * units, units in 1..133
export const C_TOP: usize = 1024;

// Entry (u32) of the top table and of groups: bit 31 valid | bit 30 extended | bits 22..29 depth
// (prefix length) | bits 0..21 next hop, or the group index when extended.
export const VALID: u32 = 0x80000000;
export const EXT: u32 = 0x40000000;
export const VAL_MASK: u32 = 0x3fffff;

export const DIRECT_BYTES: usize = 4 << 16;
export const DIRTY_BYTES: usize = 65536 >> 3;
export const SCRATCH_BYTES: usize = 1024 + 32;
/** Past the last node: a node's worth (133 units), or what a corrupt bitmap could make a lookup
 * read (36 B + 4 B × (255 + 64) runs + 4 B), whichever is more. */
export const NODE_SLACK_UNITS: u32 = 168;

@inline export function align64(x: u64): u64 {
  return (x + 63) & ~(<u64>63);
}

/** Bytes of one copy. */
@inline export function copyBytes(topBits: u32, groupCap: u32, nodeUnits: u32): u64 {
  const base = <u64>C_TOP + ((<u64>4) << topBits) + ((<u64>groupCap) << 10);
  if (nodeUnits == 0) return align64(base);
  return align64(align64(base + <u64>(DIRECT_BYTES + DIRTY_BYTES)) + ((<u64>nodeUnits + NODE_SLACK_UNITS) << 3));
}

@inline export function groupAt(copy: usize, topBits: u32, g: u32): usize {
  return copy + C_TOP + ((<usize>4) << topBits) + ((<usize>g) << 10);
}

/** The direct table of an IPv4 copy (the dirty bitmap, the scratch and the heap follow it). */
@inline export function directAt(copy: usize, groupCap: u32): usize {
  return copy + C_TOP + ((<usize>4) << 24) + ((<usize>groupCap) << 10);
}

@inline export function dirtyAt(copy: usize, groupCap: u32): usize {
  return directAt(copy, groupCap) + DIRECT_BYTES;
}

/** Unit 0 of the node heap (64-byte aligned: the copy and the parts before it are). */
@inline export function heapAt(copy: usize, groupCap: u32): usize {
  return dirtyAt(copy, groupCap) + DIRTY_BYTES;
}

/** The writer's scratch, after the two copies (not part of either: they stay byte-equal). */
@inline export function scratchOf(state: usize): usize {
  return state + <usize>load<u32>(state, LR_COPY0 + 4) + <usize>load<u32>(state, LR_COPY_BYTES);
}
