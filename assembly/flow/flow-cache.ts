// Exact-match flow cache (the fast path's "L1 cache", after OVS's EMC but sized for millions of
// flows): bucketised cuckoo hashing with partial keys (Fan, Andersen, Kaminsky, "MemC3", NSDI
// 2013; CuckooSwitch, CoNEXT 2013), the tags kept in their own compact array. Keys are the
// parser's 48-byte flow keys.
//
// Every key has a 32-bit hash v. Its primary bucket is b1 = (v * bucketCount) >> 32 (multiply-
// shift, so the bucket count need not be a power of two), its tag is the low 8 bits of v (0
// means "empty slot", so a zero tag becomes 1), and its alternative bucket is
// alt(b) = (F(tag) - b) mod bucketCount with F(tag) = ((tag * 0x9e3779b1) * bucketCount) >> 32.
// alt is an involution (alt(alt(b)) = b), so the other bucket of an entry is known from where it
// is and its tag alone: a cuckoo search reads only the tag array.
//
//   tags    (8 B a bucket, eight buckets a line):  u8 tag[8]          bucket b at tags + b * 8
//   entries (64 B, one per slot, entry index = bucket * 8 + slot):
//           +0 key[48]  +48 u32 value  +52 u32 lastHit  +56 u32 hash v  +60 u32 zero
//
// For 1M flows the tags are 1.1 MiB and the entries 68.7 MiB. A hit reads the tag line of its
// primary bucket (and that of its alternative only when the primary holds no matching tag) and
// one entry line, the one a matching tag points to; a miss reads both tag lines, and an
// entry only on a false tag match (about one miss in 18 at capacity: two buckets of ~7 tags, 255
// values). Tags are 8 bits, not 16, to keep the tag array small enough to stay cached (1.1 MiB
// at 1M flows); the cost is a false tag match on about one miss in 18, which then reads an entry
// line.
//
// Lookups are staged over a burst (hash all while touching their primary tag lines, probe all,
// touch all candidate entries, compare all keys) so that the misses of different packets
// overlap; the primary bucket is probed first, as 7 flows in 8 live there.
//
// Insertion: an empty slot in either bucket, else a path of cuckoo moves found by a breadth-
// first search of the tag array (each move carries the 64-byte entry and its tag), else
// eviction of the entry with the oldest last hit among the 16 candidates (recently hit flows
// survive churn). Aging removes entries idle longer than a limit, a slice of buckets per call.
//
// State region 'FEMC' (layout 2):
//   +64 u32 seq (seqlock)  +68 u32 bucketCount  +72 u32 capacity  +76 u32 count
//   +80 u32 ageCursor      +96 u64 evictions    +104 u64 cuckooMoves
//   +128 hash seeds: 12 × u32 (NH multipliers) + u64 final seed (+176)
//   +192 cuckoo search queue (the writer's scratch): 512 × (u32 bucket, u32 parent << 3 | slot)
//   +4288 tags (bucketCount × 8 B), then entries at the next 64-byte boundary (bucketCount × 512 B)
// The offsets of tags and entries follow from bucketCount alone, which is checked against the
// region's size on every call.

import { headerOk, HDR_SIZE_BYTES } from '../common/header';
import { finish64, rangeOk } from './hash';

export const FC_MAGIC: u32 = 0x434d4546; // 'FEMC'
export const FC_LAYOUT: u32 = 2;
export const FC_KEY_BYTES: u32 = 48;
/** Largest value an entry carries: lookups answer with the value or -1, as i32. */
export const FC_MAX_VALUE: u32 = 0x7fffffff;
export const FC_INSERTED: i32 = 0;
export const FC_UPDATED: i32 = 1;
export const FC_EVICTED: i32 = 2;
export const FC_E_STATE: i32 = -1;
export const FC_E_RANGE: i32 = -2;
export const FC_E_BUSY: i32 = -3;

export const SEQ: usize = 64;
export const BUCKET_COUNT: usize = 68;
export const CAPACITY: usize = 72;
export const COUNT: usize = 76;
export const AGE_CURSOR: usize = 80;
export const EVICTIONS: usize = 96;
export const MOVES: usize = 104;
export const SEEDS: usize = 128;
export const FINAL_SEED: usize = 176;
export const QUEUE: usize = 192;
export const QUEUE_NODES: u32 = 512;
export const FC_CTRL_BYTES: u32 = <u32>QUEUE + (QUEUE_NODES << 3); // 4288, a multiple of 64
/** Most buckets: slot indexes stay below 2^25 and the region below 2^32 bytes. */
export const FC_MAX_BUCKETS: u32 = 1 << 22;

export const E_VALUE: usize = 48;
export const E_LAST: usize = 52;
export const E_HASH: usize = 56;
export const E_ZERO: usize = 60;
export const MAX_SPINS: i32 = 1 << 22;
/** A slot index meaning "none" (slot indexes are below 2^25). */
export const FC_NO_SLOT: u32 = 0xffffffff;
// flow_fc_key_info's answer: u32 hash, both buckets, tag, slot (FC_NO_SLOT when absent).
export const FC_INFO_HASH: usize = 0;
export const FC_INFO_BUCKET1: usize = 4;
export const FC_INFO_BUCKET2: usize = 8;
export const FC_INFO_TAG: usize = 12;
export const FC_INFO_SLOT: usize = 16;
export const FC_INFO_BYTES: u32 = 20;

@inline function entriesOffset(bucketCount: u32): u64 {
  return (<u64>FC_CTRL_BYTES + ((<u64>bucketCount) << 3) + 63) & ~(<u64>63);
}

@inline function regionBytes(bucketCount: u32): u64 {
  return entriesOffset(bucketCount) + ((<u64>bucketCount) << 9);
}

/**
 * Buckets for a table of `capacity` flows: slots for 9/8 of them (89 % full at capacity, where
 * the cuckoo search still finds room almost always), and at least 4 buckets.
 */
export function flow_fc_buckets(capacity: u32): u32 {
  const need = (<u64>capacity * 9 + 63) >> 6;
  return <u32>min<u64>(max<u64>(need, 4), FC_MAX_BUCKETS);
}

/** Bytes of a flow cache state region for `capacity` flows in `bucketCount` buckets (0: invalid). */
export function flow_fc_bytes(capacity: u32, bucketCount: u32): f64 {
  if (capacity == 0 || bucketCount < 2 || bucketCount > FC_MAX_BUCKETS || <u64>capacity > (<u64>bucketCount) << 3)
    return 0;
  return <f64>regionBytes(bucketCount);
}

/** Lays out the region (its header already written); the seeds are expanded from `seed` (the hash key). */
export function flow_fc_init(state: usize, capacity: u32, bucketCount: u32, seed: u64): i32 {
  const need = flow_fc_bytes(capacity, bucketCount);
  if (need == 0 || need > 4294967295 || !headerOk(state, FC_MAGIC, FC_LAYOUT, <u32>need) || !rangeOk(state, <u64>need))
    return FC_E_STATE;
  store<u32>(state, 0, SEQ);
  store<u32>(state, bucketCount, BUCKET_COUNT);
  store<u32>(state, capacity, CAPACITY);
  store<u32>(state, 0, COUNT);
  store<u32>(state, 0, AGE_CURSOR);
  store<u64>(state, 0, EVICTIONS);
  store<u64>(state, 0, MOVES);
  let x = seed;
  for (let i: usize = 0; i < 6; i++) {
    x = finish64(x + 0x9e3779b97f4a7c15);
    store<u64>(state + SEEDS + (i << 3), x);
  }
  store<u64>(state, finish64(x ^ 0xa0761d6478bd642f), FINAL_SEED);
  memory.fill(state + FC_CTRL_BYTES, 0, (<usize>bucketCount) << 3); // every slot empty
  return 0;
}

/**
 * The bucket count of a well-formed region, or 0. Every tag and entry address is computed from
 * it (bucket < bucketCount, slot < 8), so checking it against the region's recorded size once a
 * call bounds every access of the call to the region.
 */
@inline export function tableBuckets(state: usize): u32 {
  if (!headerOk(state, FC_MAGIC, FC_LAYOUT, FC_CTRL_BYTES)) return 0;
  const nb = load<u32>(state, BUCKET_COUNT);
  if (nb < 2 || nb > FC_MAX_BUCKETS || regionBytes(nb) > <u64>load<u32>(state, HDR_SIZE_BYTES)) return 0;
  return nb;
}

/**
 * NH hash (the universal hash of UMAC): sum over word pairs of (k0 + s0) * (k1 + s1) as 64-bit
 * products (words i and i + 4 of the first 32 bytes, i and i + 2 of the last 16, so that three
 * SIMD extended multiplies and one shuffle cover 48 bytes), folded to 64 bits, then one multiply
 * whose high half is the hash (the finaliser only has to spread the sum: the bucket is taken
 * from the hash's high bits, the tag from its low bits). The hash is cheap next to the memory
 * reads, so it is not worth a weaker one.
 */
@inline export function hashOf(state: usize, key: usize): u32 {
  return hashWords(state, v128.load(key, 0), v128.load(key, 16), v128.load(key, 32));
}

/** hashOf over a key already read into three vectors. */
@inline export function hashWords(state: usize, k0: v128, k1: v128, k2: v128): u32 {
  const a0 = i32x4.add(k0, v128.load(state, SEEDS));
  const a1 = i32x4.add(k1, v128.load(state, SEEDS + 16));
  const a2 = i32x4.add(k2, v128.load(state, SEEDS + 32));
  let acc = i64x2.add(i64x2.extmul_low_i32x4_u(a0, a1), i64x2.extmul_high_i32x4_u(a0, a1));
  acc = i64x2.add(acc, i64x2.extmul_low_i32x4_u(a2, i32x4.shuffle(a2, a2, 2, 3, 2, 3)));
  let h = i64x2.extract_lane(acc, 0) + rotl<u64>(i64x2.extract_lane(acc, 1), 29) + load<u64>(state, FINAL_SEED);
  h = (h ^ (h >> 32)) * 0x9e3779b97f4a7c15;
  return <u32>(h >> 32);
}

/** Primary bucket of hash `v`: multiply-shift reduction to [0, bucketCount). */
@inline export function bucketOf(v: u32, nb: u32): u32 {
  return <u32>((<u64>v * nb) >> 32);
}

/** Tag of hash `v`: its low 8 bits, never 0 (0 marks an empty slot). */
@inline export function tagOf(v: u32): u32 {
  const t = v & 0xff;
  return t == 0 ? 1 : t;
}

/** The other bucket of a key tagged `tag` seen from bucket `b` (< nb): (F(tag) - b) mod nb. */
@inline export function altOf(b: u32, tag: u32, nb: u32): u32 {
  const f = <u32>((<u64>(tag * 0x9e3779b1) * nb) >> 32);
  return f >= b ? f - b : f + nb - b;
}

@inline export function keyEq(a: usize, b: usize): bool {
  return keyEqWords(a, v128.load(b, 0), v128.load(b, 16), v128.load(b, 32));
}

/** keyEq against a key already read into three vectors. */
@inline export function keyEqWords(a: usize, k0: v128, k1: v128, k2: v128): bool {
  const e0 = i32x4.eq(v128.load(a, 0), k0);
  const e1 = i32x4.eq(v128.load(a, 16), k1);
  const e2 = i32x4.eq(v128.load(a, 32), k2);
  return v128.all_true<i32>(v128.and(v128.and(e0, e1), e2));
}

@inline export function tagsOf(state: usize): usize {
  return state + FC_CTRL_BYTES;
}

@inline export function entriesOf(state: usize, nb: u32): usize {
  return state + <usize>entriesOffset(nb);
}

/** Bitmask (bit i = slot i) of the slots of the bucket at `tp` holding `tag` (0: the empty ones). */
@inline export function tagMatches(tp: usize, tag: u32): u32 {
  return (<u32>i8x16.bitmask(i8x16.eq(v128.load64_zero(tp), i8x16.splat(<i8>tag)))) & 0xff;
}

/** Slot index (bucket * 8 + slot) of `key`, hashed `v`, or FC_NO_SLOT. Checks every tag match. */
export function findKey(state: usize, nb: u32, v: u32, key: usize): u32 {
  return findWords(state, nb, v, v128.load(key, 0), v128.load(key, 16), v128.load(key, 32));
}

/** findKey for a key already read into three vectors. */
@inline export function findWords(state: usize, nb: u32, v: u32, k0: v128, k1: v128, k2: v128): u32 {
  const tags = tagsOf(state);
  const entries = entriesOf(state, nb);
  const tag = tagOf(v);
  let b = bucketOf(v, nb);
  for (let k = 0; k < 2; k++) {
    // SAFETY: b < nb (multiply-shift, then altOf), so the tag and entry reads are inside the
    // region tableBuckets checked.
    let m = tagMatches(tags + ((<usize>b) << 3), tag);
    while (m != 0) {
      const e = (b << 3) | ctz<u32>(m);
      if (keyEqWords(entries + ((<usize>e) << 6), k0, k1, k2)) return e;
      m &= m - 1;
    }
    b = altOf(b, tag, nb);
  }
  return FC_NO_SLOT;
}

/**
 * Looks up `count` keys (48 bytes each, contiguous) → value or -1 (i32 each) and stamps each hit
 * with `now`. Staged in bursts of 32; `out` doubles as the stage scratch (a key's hash, then its
 * candidate slot; a 32-bit mask says which). Returns count or a negative status.
 */
export function flow_fc_lookup(state: usize, keys: usize, count: i32, out: usize, now: u32): i32 {
  const nb = tableBuckets(state);
  if (nb == 0) return FC_E_STATE;
  if (count < 0 || !rangeOk(keys, <u64>count * FC_KEY_BYTES) || !rangeOk(out, (<u64>count) << 2)) return FC_E_RANGE;
  const tags = tagsOf(state);
  const entries = entriesOf(state, nb);
  const slots = nb << 3;
  // The touch loads below exist only to start cache misses early; their sum is never used, but
  // a load can trap, so neither Binaryen nor V8 drops them.
  let _touch: u32 = 0;
  for (let base: i32 = 0; base < count; base += 32) {
    const n = <usize>min(32, count - base);
    const kb = keys + <usize>base * FC_KEY_BYTES;
    const ob = out + ((<usize>base) << 2);
    let spins: i32 = 0;
    while (true) {
      const s0 = atomic.load<u32>(state, SEQ);
      if ((s0 & 1) == 0) {
        // Stage 1: hash every key and touch its primary tag line in the same loop, so each
        // tag miss starts while the next keys are hashed. The alternative line is not touched:
        // 7 hits in 8 never read it.
        for (let i: usize = 0; i < n; i++) {
          const v = hashOf(state, kb + i * FC_KEY_BYTES);
          store<u32>(ob + (i << 2), v);
          // SAFETY: bucketOf(..) < nb: inside the tag array.
          _touch += load<u32>(tags + ((<usize>bucketOf(v, nb)) << 3));
        }
        // Stage 2: probe the primary buckets. found bit i (a burst is at most 32 keys): out[i]
        // now holds a candidate slot index, else it still holds the hash.
        let found: u32 = 0;
        for (let i: usize = 0; i < n; i++) {
          const v = load<u32>(ob + (i << 2));
          const b1 = bucketOf(v, nb);
          const m = tagMatches(tags + ((<usize>b1) << 3), tagOf(v));
          if (m != 0) {
            store<u32>(ob + (i << 2), (b1 << 3) | ctz<u32>(m));
            found |= 1 << (<u32>i);
          }
        }
        // Stage 2b (misses, and flows in their alternative bucket): probe the alternative.
        const rest = ~found & (n == 32 ? 0xffffffff : (1 << (<u32>n)) - 1);
        if (rest != 0) {
          for (let r = rest; r != 0; r &= r - 1) {
            const i = ctz<u32>(r);
            const v = load<u32>(ob + ((<usize>i) << 2));
            const tag = tagOf(v);
            const b2 = altOf(bucketOf(v, nb), tag, nb);
            const m = tagMatches(tags + ((<usize>b2) << 3), tag);
            if (m != 0) {
              store<u32>(ob + ((<usize>i) << 2), (b2 << 3) | ctz<u32>(m));
              found |= 1 << i;
            }
          }
        }
        // Stage 3: touch every candidate entry, again in a loop of loads only.
        for (let r = found; r != 0; r &= r - 1) {
          const e = load<u32>(ob + ((<usize>ctz<u32>(r)) << 2));
          // SAFETY: a candidate is bucket * 8 + slot with bucket < nb; `out` is the caller's
          // memory, so what is read back is bounded again before it addresses an entry.
          _touch += load<u32>(entries + ((<usize>select<u32>(e, 0, e < slots)) << 6));
        }
        // Stage 4: full key compare; a false candidate (tag collision) takes the slow path,
        // which checks every match in both buckets.
        for (let i: usize = 0; i < n; i++) {
          const key = kb + i * FC_KEY_BYTES;
          let e = FC_NO_SLOT;
          if ((found & (1 << (<u32>i))) != 0) {
            e = load<u32>(ob + (i << 2));
            // SAFETY: bounded as in stage 3 (an out-of-range candidate takes the slow path).
            if (e >= slots || !keyEq(entries + ((<usize>e) << 6), key)) e = findKey(state, nb, hashOf(state, key), key);
          }
          if (e != FC_NO_SLOT) {
            const ep = entries + ((<usize>e) << 6);
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
  return count;
}
