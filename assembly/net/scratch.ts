// The switch's private scratch region ('NSCR'): per-burst working memory, nothing that outlives
// a burst (no host pointer derived from a guest address survives one). Laid out from maxBurst
// alone, so the kernel recomputes every offset and checks the total against the region's size.
//
//   +64  u32 maxBurst   +68 u32 portCursor (next port served first)   +72 u32 ringCount
//   +76  u32 slotCount (receive slots in use this run)
//   +80  the output context of the packet in hand (OutCtx, output.ts, 40 B)
//   +120 u32 ageCursor  +124 u32 flushCursor (flow-table.ts)
//   +128 rings to ring at the end of the run: u32[NET_SC_RINGS]
//   +256 u32 upcalled (an upcall was written this run)   +260 i32 a single lookup's result
//   +320 pkts[maxBurst]            64 B: one per packet of the current sub-burst (PK_*)
//        descs[maxBurst]           8 B: parser input (frame address, length)
//        recs[maxBurst]            64 B: parser output (key + meta)
//        keys[maxBurst]            48 B: flow keys (ingress port at +42)
//        out[maxBurst]             4 B: lookup results (flow record index or -1)
//        ws                        NET_SC_WS_BYTES: the header workspace (edited head, outer headers)
//        ctrl                      NET_SC_CTRL_BYTES: a control command, gathered
//        txBurst                   burst buffer (VQBR) for TX pops
//        tmpBurst                  burst buffer for receive-buffer pops (appended to a slot)
//        slots[NET_SC_SLOTS]       32 B: receive slots (a destination queue and its buffers)
//        slotBursts[NET_SC_SLOTS]  burst buffers of the slots
//        gather[maxBurst]          NET_SC_GATHER_BYTES each: frames that arrived in pieces
//
// PK record: +0 u32 src (host address of the frame's first byte)  +4 u32 frameLen
//   +8 u16 inPort  +10 u16 devPort  +12 u16 pair  +14 u16 flags (PK_*)  +16 virtio_net_hdr (12 B)
//   +28 u32 hash  +32 4 B remote IPv4  +36 u16 remote UDP port  +40 i32 flow record or -1

import { BR_CHAINS, CHAIN_BYTES, SEG_BYTES } from '../virtio/burst';
import { VQ_MAX_SEGS } from '../virtio/queue-state';

export const NET_SC_MAGIC: u32 = 0x5243534e; // 'NSCR'
export const NET_SC_LAYOUT: u32 = 1;
export const NET_SC_MAX_BURST: u32 = 64;
export const NET_SC_PORT_CURSOR: u32 = 68;
export const NET_SC_RING_COUNT: u32 = 72;
export const NET_SC_SLOT_COUNT: u32 = 76;
export const NET_SC_RING_LIST: u32 = 128;
export const NET_SC_RINGS: u32 = 32;
export const NET_SC_CTX: u32 = 80;
export const NET_SC_UPCALLED: u32 = 256;
export const NET_SC_ONE_OUT: u32 = 260;
export const NET_SC_PKTS: u32 = 320;

export const NET_SC_BURST_LIMIT: u32 = 128;
export const NET_SC_WS_BYTES: u32 = 512;
export const NET_SC_CTRL_BYTES: u32 = 2048;
export const NET_SC_SLOTS: u32 = 8;
export const NET_SC_SLOT_BYTES: u32 = 32;
export const NET_SC_SLOT_CHAINS: u32 = 256;
export const NET_SC_SLOT_SEGS: u32 = 1024;
export const NET_SC_TMP_CHAINS: u32 = 64;
export const NET_SC_GATHER_BYTES: u32 = 65536;

export const PK_BYTES: u32 = 64;
export const PK_SRC: u32 = 0;
export const PK_LEN: u32 = 4;
export const PK_IN_PORT: u32 = 8;
export const PK_DEV_PORT: u32 = 10;
export const PK_PAIR: u32 = 12;
export const PK_FLAGS: u32 = 14;
export const PK_HDR: u32 = 16;
export const PK_HASH: u32 = 28;
export const PK_REMOTE_IP: u32 = 32;
export const PK_REMOTE_PORT: u32 = 36;
export const PK_RESULT: u32 = 40;

export const PKF_DROP: u32 = 1; // refused or malformed: no lookup, no actions
export const PKF_TUNNEL: u32 = 2; // arrived on a tunnel port (already decapsulated)
export const PKF_NET_HDR: u32 = 4; // the header asks for a checksum or segmentation
export const PKF_TRUNCATED: u32 = 8; // (re-injection) the frame is incomplete

// Receive slot: +0 u32 vq  +4 u32 dev  +8 u16 port  +10 u16 pair  +12 u32 burst  +16 u32 popped
//   +20 u32 used (chains filled, in order)  +24 u32 wasted
export const SL_VQ: u32 = 0;
export const SL_DEV: u32 = 4;
export const SL_PORT: u32 = 8;
export const SL_PAIR: u32 = 10;
export const SL_BURST: u32 = 12;
export const SL_POPPED: u32 = 16;
export const SL_USED: u32 = 20;

@inline function burstSize(chains: u32, segs: u32): u32 {
  return BR_CHAINS + chains * CHAIN_BYTES + segs * SEG_BYTES;
}

@inline export function txSegCap(maxBurst: u32): u32 {
  return max<u32>(VQ_MAX_SEGS, maxBurst * 8);
}

// Offsets of the parts, from maxBurst alone (each 64-byte aligned).
@inline export function offDescs(mb: u32): u32 {
  return NET_SC_PKTS + mb * PK_BYTES;
}
@inline export function offRecs(mb: u32): u32 {
  return offDescs(mb) + ((mb * 8 + 63) & ~63);
}
@inline export function offKeys(mb: u32): u32 {
  return offRecs(mb) + mb * 64;
}
@inline export function offOut(mb: u32): u32 {
  return offKeys(mb) + ((mb * 48 + 63) & ~63);
}
@inline export function offWs(mb: u32): u32 {
  return offOut(mb) + ((mb * 4 + 63) & ~63);
}
@inline export function offCtrl(mb: u32): u32 {
  return offWs(mb) + NET_SC_WS_BYTES;
}
@inline export function offTxBurst(mb: u32): u32 {
  return offCtrl(mb) + NET_SC_CTRL_BYTES;
}
@inline export function offTmpBurst(mb: u32): u32 {
  return offTxBurst(mb) + ((burstSize(mb, txSegCap(mb)) + 63) & ~63);
}
@inline export function offSlots(mb: u32): u32 {
  return offTmpBurst(mb) + ((burstSize(NET_SC_TMP_CHAINS, VQ_MAX_SEGS * 2) + 63) & ~63);
}
@inline export function offSlotBursts(mb: u32): u32 {
  return offSlots(mb) + NET_SC_SLOTS * NET_SC_SLOT_BYTES;
}
@inline export function slotBurstBytes(): u32 {
  return (burstSize(NET_SC_SLOT_CHAINS, NET_SC_SLOT_SEGS) + 63) & ~63;
}
@inline export function offGather(mb: u32): u32 {
  return offSlotBursts(mb) + NET_SC_SLOTS * slotBurstBytes();
}
/** Bytes of a scratch region for bursts of `mb` packets (header included). */
@inline export function scratchBytes(mb: u32): u32 {
  return offGather(mb) + mb * NET_SC_GATHER_BYTES;
}

@inline export function pktAt(sc: usize, i: u32): usize {
  return sc + NET_SC_PKTS + <usize>i * PK_BYTES;
}
