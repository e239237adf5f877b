// Burst buffer (magic 'VQBR', layout 2): where a pop writes the chains it took, already validated
// and translated, for the device to consume without touching the guest's descriptors again.
//
//   +64  u32 maxChains   +68 u32 segCap   +72 u32 segUsed (this burst)
//   +76  u32 descs       descriptors the last pop walked (ring descriptors and table entries)
//   +80  u32 descBudget  a pop starts no new chain once it has walked this many (0: no limit)
//   +96  16 bytes of scratch (an indirect entry that straddles two guest slots)
//   +128 chain[maxChains], 32 bytes each:
//          +0 u16 token      split: head index; packed: first slot (device-chosen, < N)
//          +2 u16 id         split: head index; packed: buffer id (echoed, never used as an index)
//          +4 u16 descCount  ring slots the chain consumed (packed skip; split: descriptors walked)
//          +6 u16 status     0, or REJ_* (the chain is returned with len 0)
//          +8 u32 segStart   +12 u16 readSegs  +14 u16 writeSegs
//          +16 u32 readBytes +20 u32 writeBytes +24 u32 usedLen (set by the device before push)
//   then seg[segCap], 16 bytes: u32 hostAddr, u32 len, u64 gpa — each chain's readable segments,
//   then its writable ones. The GPA lets a chain finished in a later turn be translated again
//   (no host address outlives a turn: docs/design.md, "Rules for the systems that come next").

import { gpaContig, gpaToHost } from '../common/gpa';
import { VQ_REJ_ADDR, VQ_REJ_ORDER, VQ_REJ_SEGS, VQ_REJ_TOO_LONG, VQ_MAX_SEGS } from './queue-state';

export const BR_MAGIC: u32 = 0x52425156; // 'VQBR'
export const BR_LAYOUT: u32 = 2;
export const BR_MAX_CHAINS: u32 = 64;
export const BR_SEG_CAP: u32 = 68;
export const BR_SEG_USED: u32 = 72;
export const BR_DESCS: u32 = 76;
export const BR_DESC_BUDGET: u32 = 80;
export const BR_SCRATCH: u32 = 96;
export const BR_CHAINS: u32 = 128;
export const CHAIN_BYTES: u32 = 32;
export const SEG_BYTES: u32 = 16;
export const SEG_HOST: u32 = 0;
export const SEG_LEN: u32 = 4;
export const SEG_GPA: u32 = 8;

export const CH_TOKEN: u32 = 0;
export const CH_ID: u32 = 2;
export const CH_DESC_COUNT: u32 = 4;
export const CH_STATUS: u32 = 6;
export const CH_SEG_START: u32 = 8;
export const CH_READ_SEGS: u32 = 12;
export const CH_WRITE_SEGS: u32 = 14;
export const CH_READ_BYTES: u32 = 16;
export const CH_WRITE_BYTES: u32 = 20;
export const CH_USED_LEN: u32 = 24;

/** emit() result meaning "the segment pool of this burst is full: end the burst before this chain". */
export const NEED_SPACE: u16 = 0xffff;

@inline export function chainAt(burst: usize, i: u32): usize {
  return burst + BR_CHAINS + <usize>i * CHAIN_BYTES;
}

@inline export function segsBase(burst: usize): usize {
  return burst + BR_CHAINS + <usize>load<u32>(burst, BR_MAX_CHAINS) * CHAIN_BYTES;
}

/** Starts a chain record (segments go from the burst's current fill level). */
@inline export function chainBegin(burst: usize, rec: usize, token: u16): void {
  store<u16>(rec, token, CH_TOKEN);
  store<u16>(rec, token, CH_ID);
  store<u16>(rec, 0, CH_DESC_COUNT);
  store<u16>(rec, 0, CH_STATUS);
  store<u32>(rec, load<u32>(burst, BR_SEG_USED), CH_SEG_START);
  store<u32>(rec, 0, CH_READ_SEGS); // readSegs and writeSegs together
  store<u64>(rec, 0, CH_READ_BYTES); // readBytes and writeBytes together
  store<u32>(rec, 0, CH_USED_LEN);
}

/**
 * Adds one descriptor's buffer [gpa, gpa + len) to the chain: translated, bounds-checked,
 * split where it straddles two adjacent guest slots (C4a). Returns 0, a REJ_* reason, or
 * NEED_SPACE. Zero-length buffers add nothing (C6 policy: accepted and ignored; there are no
 * bytes to check, and every walk is bounded by the hop budget, so they cannot stall it).
 */
export function emit(burst: usize, rec: usize, map: usize, gpa: u64, len: u32, write: bool): u16 {
  if (len == 0) return 0;
  // C4: addr + len must not wrap past 2^64.
  if (gpa > 0xffffffffffffffff - <u64>len) return VQ_REJ_ADDR;
  const readSegs = <u32>load<u16>(rec, CH_READ_SEGS);
  const writeSegs = <u32>load<u16>(rec, CH_WRITE_SEGS);
  // C5: every device-writable descriptor comes after every device-readable one (§2.7.4.2).
  if (!write && writeSegs != 0) return VQ_REJ_ORDER;
  const total = <u64>load<u32>(rec, CH_READ_BYTES) + <u64>load<u32>(rec, CH_WRITE_BYTES) + <u64>len;
  if (total > 0xffffffff) return VQ_REJ_TOO_LONG; // C3 (§2.7.5.2: at most 2^32 bytes per chain)
  let used = load<u32>(burst, BR_SEG_USED);
  const cap = load<u32>(burst, BR_SEG_CAP);
  let segs = readSegs + writeSegs;
  if (segs >= VQ_MAX_SEGS) return VQ_REJ_SEGS; // C7
  if (used >= cap) return NEED_SPACE;
  const base = segsBase(burst);
  // Fast path: the whole buffer inside one slot (always, unless guest RAM has several slots).
  const host = gpaToHost(map, gpa, <u64>len);
  if (host != 0) {
    // SAFETY: used < cap, so the segment slot lies inside the burst buffer the host sized.
    const s = base + <usize>used * SEG_BYTES;
    store<u32>(s, <u32>host, SEG_HOST);
    store<u32>(s, len, SEG_LEN);
    store<u64>(s, gpa, SEG_GPA);
    store<u32>(burst, used + 1, BR_SEG_USED);
    if (write) {
      store<u16>(rec, <u16>(writeSegs + 1), CH_WRITE_SEGS);
      store<u32>(rec, load<u32>(rec, CH_WRITE_BYTES) + len, CH_WRITE_BYTES);
    } else {
      store<u16>(rec, <u16>(readSegs + 1), CH_READ_SEGS);
      store<u32>(rec, load<u32>(rec, CH_READ_BYTES) + len, CH_READ_BYTES);
    }
    return 0;
  }
  let rest: u64 = <u64>len;
  let at = gpa;
  while (rest != 0) {
    const c = gpaContig(map, at);
    if (c == 0) return VQ_REJ_ADDR; // C4: outside guest RAM or in a hole
    let take = c >>> 32;
    if (take > rest) take = rest;
    if (segs >= VQ_MAX_SEGS) return VQ_REJ_SEGS; // C7
    if (used >= cap) return NEED_SPACE;
    // SAFETY: used < cap, so the segment slot lies inside the burst buffer the host sized.
    const s = base + <usize>used * SEG_BYTES;
    store<u32>(s, <u32>c, SEG_HOST);
    store<u32>(s, <u32>take, SEG_LEN);
    store<u64>(s, at, SEG_GPA);
    used++;
    segs++;
    rest -= take;
    at += take;
  }
  store<u32>(burst, used, BR_SEG_USED);
  if (write) {
    store<u16>(rec, <u16>(segs - readSegs), CH_WRITE_SEGS);
    store<u32>(rec, load<u32>(rec, CH_WRITE_BYTES) + len, CH_WRITE_BYTES);
  } else {
    store<u16>(rec, <u16>segs, CH_READ_SEGS);
    store<u32>(rec, load<u32>(rec, CH_READ_BYTES) + len, CH_READ_BYTES);
  }
  return 0;
}

/** Gives back the segments a chain took (it was rejected, or ended the burst for lack of space). */
@inline export function chainDropSegs(burst: usize, rec: usize): void {
  store<u32>(burst, load<u32>(rec, CH_SEG_START), BR_SEG_USED);
  store<u32>(rec, 0, CH_READ_SEGS);
}

/** Counts one descriptor (ring descriptor or table entry) walked by this pop. */
@inline export function countDesc(burst: usize): void {
  store<u32>(burst, load<u32>(burst, BR_DESCS) + 1, BR_DESCS);
}

/** True when this pop has walked its descriptor budget: it starts no further chain. */
@inline export function descBudgetSpent(burst: usize): bool {
  const budget = load<u32>(burst, BR_DESC_BUDGET);
  return budget != 0 && load<u32>(burst, BR_DESCS) >= budget;
}
