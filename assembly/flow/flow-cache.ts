// Exact-match flow cache (the fast path's "L1 cache", after OVS's EMC but sized for millions of
// flows): bucketised cuckoo hashing with signatures, as in DPDK's rte_hash (Zhou, Fan, Lim,
// Andersen, Kaminsky, "Scalable, high performance Ethernet forwarding with CuckooSwitch",
// CoNEXT 2013). Keys are the parser's 48-byte flow keys.
//
// A bucket is one cache line: 8 signatures then 8 entry references. A key may live in its
// primary bucket (sig & mask) or its alternative (primary ^ alt(sig)); the alternative is
// computable from the signature alone, so entries can be moved without their keys' hashes.
//
//   bucket (64 B):  +0  u32 sig[8]   (0 = empty slot)       +32 u32 entry + 1 [8]
//   entry  (64 B):  +0  key[48]  +48 u32 value  +52 u32 lastHit  +56 u32 sig  +60 u32 free link
//
// Lookups are staged over a burst (hash all, then probe all buckets, then compare all keys) so
// that the cache misses of different packets overlap. Insertion: an empty slot in either
// bucket, else one cuckoo move into a neighbour's other bucket, else eviction of the entry with
// the oldest last hit among the 16 candidates (recently hit flows survive churn). Aging removes
// entries idle longer than a limit, a slice of buckets per call.
//
// State region 'FEMC' (layout 1):
//   +64 u32 seq (seqlock)  +68 u32 bucketMask  +72 u32 entryCap  +76 u32 count  +80 u32 freeHead
//   +84 u32 highWater      +88 u32 bucketsOff  +92 u32 entriesOff +96 u32 ageCursor
//   +104 u64 evictions     +112 u64 cuckooMoves  +120 u32 scratch
//   +128 hash seeds: 12 × u32 (NH multipliers) + u64 final seed (+176)
//   +192 buckets, then entries

import { headerOk } from '../common/header';
import { finish64, rangeOk } from './hash';

export const FC_MAGIC: u32 = 0x434d4546; // 'FEMC'
export const FC_LAYOUT: u32 = 1;
export const FC_KEY_BYTES: u32 = 48;
export const FC_CTRL_BYTES: u32 = 192;
export const FC_INSERTED: i32 = 0;
export const FC_UPDATED: i32 = 1;
export const FC_EVICTED: i32 = 2;
export const FC_E_STATE: i32 = -1;
export const FC_E_RANGE: i32 = -2;
export const FC_E_BUSY: i32 = -3;

export const SEQ: usize = 64;
export const BUCKET_MASK: usize = 68;
export const ENTRY_CAP: usize = 72;
export const COUNT: usize = 76;
export const FREE_HEAD: usize = 80;
export const HIGH_WATER: usize = 84;
export const BUCKETS_OFF: usize = 88;
export const ENTRIES_OFF: usize = 92;
export const AGE_CURSOR: usize = 96;
export const EVICTIONS: usize = 104;
export const MOVES: usize = 112;
export const SCRATCH: usize = 120;
export const SEEDS: usize = 128;
export const FINAL_SEED: usize = 176;

export const E_VALUE: usize = 48;
export const E_LAST: usize = 52;
export const E_SIG: usize = 56;
export const E_FREE: usize = 60;
export const MAX_SPINS: i32 = 1 << 22;

/** Bytes of a flow cache state region for `entryCap` flows and `bucketCount` buckets (a power of two). */
export function flow_fc_bytes(entryCap: u32, bucketCount: u32): f64 {
  if (entryCap == 0 || bucketCount < 2 || (bucketCount & (bucketCount - 1)) != 0) return 0;
  return <f64>(<u64>FC_CTRL_BYTES + (<u64>bucketCount << 6) + (<u64>entryCap << 6));
}

/** Lays out a zeroed region; the seeds are expanded from `seed` (the hash key). */
export function flow_fc_init(state: usize, entryCap: u32, bucketCount: u32, seed: u64): i32 {
  const need = flow_fc_bytes(entryCap, bucketCount);
  if (need == 0 || !headerOk(state, FC_MAGIC, FC_LAYOUT, <u32>min<f64>(need, 4294967295)) || !rangeOk(state, <u64>need)) return FC_E_STATE;
  store<u32>(state, bucketCount - 1, BUCKET_MASK);
  store<u32>(state, entryCap, ENTRY_CAP);
  store<u32>(state, 0, COUNT);
  store<u32>(state, 0, FREE_HEAD);
  store<u32>(state, 0, HIGH_WATER);
  store<u32>(state, FC_CTRL_BYTES, BUCKETS_OFF);
  store<u32>(state, FC_CTRL_BYTES + (bucketCount << 6), ENTRIES_OFF);
  let x = seed;
  for (let i: usize = 0; i < 6; i++) {
    x = finish64(x + 0x9e3779b97f4a7c15);
    store<u64>(state + SEEDS + (i << 3), x);
  }
  store<u64>(state, finish64(x ^ 0xa0761d6478bd642f), FINAL_SEED);
  return 0;
}

/**
 * NH hash (the universal hash of UMAC): sum over word pairs of (k0 + s0) * (k1 + s1) as 64-bit
 * products, then a 64-bit finaliser. Three SIMD extended multiplies for a 48-byte key. Never 0.
 */
@inline export function sigOf(state: usize, key: usize): u32 {
  const a0 = i32x4.add(v128.load(key, 0), v128.load(state, SEEDS));
  const a1 = i32x4.add(v128.load(key, 16), v128.load(state, SEEDS + 16));
  const a2 = i32x4.add(v128.load(key, 32), v128.load(state, SEEDS + 32));
  let acc = i64x2.extmul_low_i32x4_u(i32x4.shuffle(a0, a0, 0, 2, 0, 2), i32x4.shuffle(a0, a0, 1, 3, 1, 3));
  acc = i64x2.add(acc, i64x2.extmul_low_i32x4_u(i32x4.shuffle(a1, a1, 0, 2, 0, 2), i32x4.shuffle(a1, a1, 1, 3, 1, 3)));
  acc = i64x2.add(acc, i64x2.extmul_low_i32x4_u(i32x4.shuffle(a2, a2, 0, 2, 0, 2), i32x4.shuffle(a2, a2, 1, 3, 1, 3)));
  const h = finish64(i64x2.extract_lane(acc, 0) + rotl<u64>(i64x2.extract_lane(acc, 1), 29) + load<u64>(state, FINAL_SEED));
  const s = <u32>h ^ <u32>(h >> 32);
  return s == 0 ? 1 : s;
}

/** The other bucket of a key whose signature is `sig`, seen from bucket `b`. Never b itself. */
@inline export function altBucket(b: u32, sig: u32, mask: u32): u32 {
  return (b ^ ((sig >> 16) * 0x5bd1e995 | 1)) & mask;
}

@inline export function keyEq(a: usize, b: usize): bool {
  const e0 = i32x4.eq(v128.load(a, 0), v128.load(b, 0));
  const e1 = i32x4.eq(v128.load(a, 16), v128.load(b, 16));
  const e2 = i32x4.eq(v128.load(a, 32), v128.load(b, 32));
  return v128.all_true<i32>(v128.and(v128.and(e0, e1), e2));
}

/** Bitmask (bit i = slot i) of the slots of bucket `bp` holding signature `sig`. */
@inline export function sigMatches(bp: usize, sig: u32): u32 {
  const s = i32x4.splat(<i32>sig);
  return <u32>i32x4.bitmask(i32x4.eq(v128.load(bp, 0), s)) | (<u32>i32x4.bitmask(i32x4.eq(v128.load(bp, 16), s)) << 4);
}

@inline export function bucketPtr(state: usize, b: u32): usize {
  return state + FC_CTRL_BYTES + ((<usize>b) << 6);
}

@inline export function entryPtr(state: usize, e: u32): usize {
  return state + load<u32>(state, ENTRIES_OFF) + ((<usize>e) << 6);
}

/** Entry index + 1 of `key` in bucket `b`, or 0. Checks every signature match. */
export function findIn(state: usize, b: u32, sig: u32, key: usize): u32 {
  const bp = bucketPtr(state, b);
  let m = sigMatches(bp, sig);
  const cap = load<u32>(state, ENTRY_CAP);
  while (m != 0) {
    const slot = ctz<u32>(m);
    const ref = load<u32>(bp + 32 + (<usize>slot << 2));
    // SAFETY: an entry reference read during a concurrent write may be stale; bound it.
    if (ref != 0 && ref <= cap && keyEq(entryPtr(state, ref - 1), key)) return ref;
    m &= m - 1;
  }
  return 0;
}

/** Slot (0..7) of entry ref `ref` in bucket `b`, or -1. */
@inline export function slotOf(state: usize, b: u32, ref: u32): i32 {
  const bp = bucketPtr(state, b);
  for (let s: i32 = 0; s < 8; s++) if (load<u32>(bp + 32 + (<usize>s << 2)) == ref && load<u32>(bp + (<usize>s << 2)) != 0) return s;
  return -1;
}

/**
 * Looks up `count` keys (48 bytes each, contiguous) → value or -1 (i32 each) and stamps each hit
 * with `now`. Staged in bursts of 32; `out` doubles as the stage scratch. Returns count or a
 * negative status.
 */
export function flow_fc_lookup(state: usize, keys: usize, count: i32, out: usize, now: u32): i32 {
  if (!headerOk(state, FC_MAGIC, FC_LAYOUT, FC_CTRL_BYTES)) return FC_E_STATE;
  if (count < 0 || !rangeOk(keys, <u64>count * FC_KEY_BYTES) || !rangeOk(out, <u64>count << 2)) return FC_E_RANGE;
  const mask = load<u32>(state, BUCKET_MASK);
  const cap = load<u32>(state, ENTRY_CAP);
  const entries = state + load<u32>(state, ENTRIES_OFF);
  let touch: u32 = 0;
  for (let base: i32 = 0; base < count; base += 32) {
    const n = <usize>min(32, count - base);
    const kb = keys + (<usize>base) * FC_KEY_BYTES;
    const ob = out + ((<usize>base) << 2);
    let spins: i32 = 0;
    while (true) {
      const s0 = atomic.load<u32>(state, SEQ);
      if ((s0 & 1) == 0) {
        // Stage 1: hash every key. Then touch every primary bucket in a loop that does nothing
        // else, so dozens of misses are in flight at once (a long loop body would fill the
        // reorder buffer after a few and serialise them).
        for (let i: usize = 0; i < n; i++) store<u32>(ob + (i << 2), sigOf(state, kb + i * FC_KEY_BYTES));
        for (let i: usize = 0; i < n; i++) touch += load<u32>(bucketPtr(state, load<u32>(ob + (i << 2)) & mask));
        // Stage 2: signature probe of the primary bucket. A candidate's entry reference replaces
        // the signature; no candidate: the alternative bucket is noted (top bit set) for 2b.
        let alt: u32 = 0;
        for (let i: usize = 0; i < n; i++) {
          const sig = load<u32>(ob + (i << 2));
          const b1 = sig & mask;
          const bp = bucketPtr(state, b1);
          const m = sigMatches(bp, sig);
          let r: u32;
          if (m != 0) {
            r = load<u32>(bp + 32 + (<usize>ctz<u32>(m) << 2));
            if (r - 1 >= cap) r = 0;
          } else {
            r = 0x80000000 | altBucket(b1, sig, mask);
            alt++;
          }
          store<u32>(ob + (i << 2), r);
        }
        // Stage 2b (misses in the primary only): touch, then probe, the alternative buckets.
        if (alt != 0) {
          for (let i: usize = 0; i < n; i++) {
            const r = load<u32>(ob + (i << 2));
            if ((r & 0x80000000) != 0) touch += load<u32>(bucketPtr(state, r & mask));
          }
          for (let i: usize = 0; i < n; i++) {
            const r = load<u32>(ob + (i << 2));
            if ((r & 0x80000000) == 0) continue;
            const bp = bucketPtr(state, r & mask);
            const m = sigMatches(bp, sigOf(state, kb + i * FC_KEY_BYTES));
            let ref: u32 = 0;
            if (m != 0) {
              ref = load<u32>(bp + 32 + (<usize>ctz<u32>(m) << 2));
              if (ref - 1 >= cap) ref = 0;
            }
            store<u32>(ob + (i << 2), ref);
          }
        }
        // Stage 2c: touch every candidate entry, again in a loop of loads only.
        for (let i: usize = 0; i < n; i++) {
          const r = load<u32>(ob + (i << 2));
          if (r != 0) touch += load<u32>(entries + ((<usize>(r - 1)) << 6));
        }
        // Stage 3: full key compare; a false candidate (signature collision) takes the slow path.
        for (let i: usize = 0; i < n; i++) {
          const key = kb + i * FC_KEY_BYTES;
          const ref = load<u32>(ob + (i << 2));
          let hit: u32 = 0;
          if (ref != 0) {
            if (keyEq(entries + ((<usize>(ref - 1)) << 6), key)) hit = ref;
            else {
              const sig = sigOf(state, key);
              hit = findIn(state, sig & mask, sig, key);
              if (hit == 0) hit = findIn(state, altBucket(sig & mask, sig, mask), sig, key);
            }
          }
          if (hit != 0) {
            const ep = entries + ((<usize>(hit - 1)) << 6);
            // Only dirty the line when the stamp changes (hits within one tick stay read-only).
            if (load<u32>(ep, E_LAST) != now) store<u32>(ep, now, E_LAST);
            store<i32>(ob + (i << 2), <i32>load<u32>(ep, E_VALUE));
          } else {
            store<i32>(ob + (i << 2), -1);
          }
        }
        if (atomic.load<u32>(state, SEQ) == s0) break;
      }
      if (++spins > MAX_SPINS) return FC_E_BUSY;
    }
  }
  store<u32>(state, touch, SCRATCH);
  return count;
}
