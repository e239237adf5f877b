// Layout of the classifier's state region and the helpers every part of the classifier uses
// (the algorithm is described in classifier.ts).
//
// State region 'FCLS' (layout 3): Left-Right over two identical copies of the classifier.
//   +0    header (64 B)
//   +64   Left-Right control (left-right.ts): +64 active copy, +76 copyBytes, +80 copy0Off,
//         +84 copy1Off, +88 syncNeeded, +92 version; reader indicators at +128 and +192 (own lines)
//   +256  copy 0, then copy 1 (copyBytes each). Readers use the active copy; the writer changes
//         the other one, switches, waits for the readers of the old one to leave, then repeats the
//         change there.
//
// A copy (offsets from the copy's base `cls`; every pointer inside is relative to it, so a copy
// can be cloned with one memory.copy):
//   +0    u32 ruleCap      +4 u32 bucketMask    +8 u32 tableCap      +12 u32 tableCount (ever used)
//   +16   u32 ruleCount    +20 u32 freeHead     +24 u32 highWater    +28 u32 collisionLimit
//   +32   u32 seed         +36 u32 rulesOff     +40 u32 bucketsOff   +44 u32 tablesOff
//   +48   u32 orderOff     +52 u32 relaxStep    +56 u32 orderCount   +60 u32 auxOff
//   +64   4 × u64 hash multipliers
//   +128  tables:  tableCap × 32 B  +0 srcMask +4 dstMask +8 portMask (sport | dport << 16) +12 protoMask
//                                   +16 u64 bestRank (conservative bound; MAX when empty) +24 count +28 tuple
//         order:   tableCap × u32   non-empty tables sorted by bestRank
//         buckets: (bucketMask + 1) × 8 B: u32 chain head = rule slot + 1 (0 = empty) in bits 0..22
//                                   | a bloom filter of the chain's keys in bits 24..31 (bit 24 +
//                                   hash >> 29 of each member's table and masked key), u32 head's priority
//         rules:   ruleCap × 32 B   +0 srcValue +4 dstValue +8 sport lo|hi<<16 +12 dport lo|hi<<16
//                                   +16 srcLen | dstLen << 8 | protoValue << 16 | protoMask << 24
//                                   +20 priority +24 next (slot + 1) +28 ruleId
//                  (half a cache line: what a lookup touches, nothing else)
//         aux:     ruleCap × 16 B   +0 table +4 hash (keyHash of the rule's key in its table; bucket =
//                                   hash & bucketMask) +8 live +12 free-list link (writers only)
//
// Tuple packing: srcLen | dstLen << 6 | sportLen << 12 | dportLen << 17 | protoLen << 22.

import { headerOk } from '../common/header';
import { finish64, rangeOk } from './hash';
import {
  LR_ACTIVE,
  LR_COPY0,
  LR_COPY_BYTES,
  LR_CTRL_BYTES,
  LR_READERS0,
  LR_READER_STRIDE,
  LR_SYNC_NEEDED,
  LR_VERSION,
} from './left-right';

export const CLS_MAGIC: u32 = 0x534c4346; // 'FCLS'
export const CLS_LAYOUT: u32 = 3;
/** Rule slots: a chain head (slot + 1) takes 23 bits of a bucket word, the chain's bloom filter the top 8. */
export const CLS_MAX_RULES: u32 = 0x7ffffe;
export const HEAD_MASK: u32 = 0x7fffff;
export const CLS_CTRL_BYTES: u32 = LR_CTRL_BYTES;
export const CLS_COPY_CTRL_BYTES: u32 = 128;
export const CLS_RULE_BYTES: u32 = 32;
export const CLS_AUX_BYTES: u32 = 16;
export const CLS_TABLE_BYTES: u32 = 32;
export const CLS_HEADER_WORDS: u32 = 5;

// Status codes (negative), shared with the TS facade through these exports.
export const CLS_E_STATE: i32 = -1;
export const CLS_E_RANGE: i32 = -2;
export const CLS_E_FULL: i32 = -3;
export const CLS_E_TABLES: i32 = -4;
export const CLS_E_SLOT: i32 = -5;
/** An update could not start: a reader stayed on the idle copy for too long (writers only). */
export const CLS_E_BUSY: i32 = -6;

export const RULE_CAP: usize = 0;
export const BUCKET_MASK: usize = 4;
export const TABLE_CAP: usize = 8;
export const TABLE_COUNT: usize = 12;
export const RULE_COUNT: usize = 16;
export const FREE_HEAD: usize = 20;
export const HIGH_WATER: usize = 24;
export const COLL_LIMIT: usize = 28;
export const SEED: usize = 32;
export const RULES_OFF: usize = 36;
export const BUCKETS_OFF: usize = 40;
export const TABLES_OFF: usize = 44;
export const ORDER_OFF: usize = 48;
export const RELAX: usize = 52;
export const ORDER_COUNT: usize = 56;
export const AUX_OFF: usize = 60;
export const MULT: usize = 64; // 4 × u64 hash multipliers, derived from the seed at init

export const T_SMASK: usize = 0;
export const T_DMASK: usize = 4;
export const T_PMASK: usize = 8;
export const T_PRMASK: usize = 12;
export const T_BEST: usize = 16;
export const T_COUNT: usize = 24;
export const T_TUPLE: usize = 28;

export const R_SV: usize = 0;
export const R_DV: usize = 4;
export const R_SP: usize = 8;
export const R_DP: usize = 12;
export const R_META: usize = 16;
export const R_PRIO: usize = 20;
export const R_NEXT: usize = 24;
export const R_ID: usize = 28;

export const A_TABLE: usize = 0;
export const A_HASH: usize = 4;
export const A_LIVE: usize = 8;
export const A_FREE: usize = 12;

export const RANK_NONE: u64 = 0xffffffffffffffff;

@inline function align64(x: u64): u64 {
  return (x + 63) & ~(<u64>63);
}

/** Bytes of one copy (its control block included). */
@inline function copyBytes(ruleCap: u32, tableCap: u32, bucketCount: u32): u64 {
  let n: u64 = CLS_COPY_CTRL_BYTES;
  n += align64(<u64>tableCap * CLS_TABLE_BYTES);
  n += align64(<u64>tableCap * 4);
  n += align64(<u64>bucketCount * 8);
  n += align64(<u64>ruleCap * CLS_RULE_BYTES);
  n += align64(<u64>ruleCap * CLS_AUX_BYTES);
  return n;
}

/** Bytes a classifier state region needs (header and both copies included); 0 when the sizes are out of range. */
export function flow_cls_bytes(ruleCap: u32, tableCap: u32, bucketCount: u32): f64 {
  if (
    ruleCap == 0 ||
    ruleCap > CLS_MAX_RULES ||
    tableCap == 0 ||
    tableCap > 1024 ||
    bucketCount == 0 ||
    (bucketCount & (bucketCount - 1)) != 0
  )
    return 0;
  const n = <u64>CLS_CTRL_BYTES + 2 * copyBytes(ruleCap, tableCap, bucketCount);
  // The header's size word and the copy offsets are u32.
  return n > 0xffffffff ? 0 : <f64>n;
}

/** Lays out one copy in zeroed memory. */
function initCopy(
  cls: usize,
  ruleCap: u32,
  tableCap: u32,
  bucketCount: u32,
  seed: u32,
  collisionLimit: u32,
  relaxStep: u32,
): void {
  let off: u64 = CLS_COPY_CTRL_BYTES;
  const tablesOff = off;
  off += align64(<u64>tableCap * CLS_TABLE_BYTES);
  const orderOff = off;
  off += align64(<u64>tableCap * 4);
  const bucketsOff = off;
  off += align64(<u64>bucketCount * 8);
  store<u32>(cls, ruleCap, RULE_CAP);
  store<u32>(cls, bucketCount - 1, BUCKET_MASK);
  store<u32>(cls, tableCap, TABLE_CAP);
  store<u32>(cls, 0, TABLE_COUNT);
  store<u32>(cls, 0, RULE_COUNT);
  store<u32>(cls, 0, FREE_HEAD);
  store<u32>(cls, 0, HIGH_WATER);
  store<u32>(cls, collisionLimit, COLL_LIMIT);
  store<u32>(cls, seed, SEED);
  store<u32>(cls, <u32>off, RULES_OFF);
  store<u32>(cls, <u32>(off + align64(<u64>ruleCap * CLS_RULE_BYTES)), AUX_OFF);
  store<u32>(cls, <u32>bucketsOff, BUCKETS_OFF);
  store<u32>(cls, <u32>tablesOff, TABLES_OFF);
  store<u32>(cls, <u32>orderOff, ORDER_OFF);
  store<u32>(cls, relaxStep, RELAX);
  store<u32>(cls, 0, ORDER_COUNT);
  let x: u64 = <u64>seed;
  for (let i: usize = 0; i < 4; i++) {
    x = finish64(x + 0x9e3779b97f4a7c15);
    store<u64>(cls + MULT + (i << 3), x | 1);
  }
  for (let t: u32 = 0; t < tableCap; t++) store<u64>(tableAt(cls, t), RANK_NONE, T_BEST);
}

/** Lays out a zeroed state region (header already written by the host): control and both copies. */
export function flow_cls_init(
  state: usize,
  ruleCap: u32,
  tableCap: u32,
  bucketCount: u32,
  seed: u32,
  collisionLimit: u32,
  relaxStep: u32,
): i32 {
  const need = flow_cls_bytes(ruleCap, tableCap, bucketCount);
  if (need == 0 || !headerOk(state, CLS_MAGIC, CLS_LAYOUT, <u32>need) || !rangeOk(state, <u64>need)) return CLS_E_STATE;
  if (collisionLimit == 0 || relaxStep == 0 || relaxStep > 32) return CLS_E_STATE;
  const cb = copyBytes(ruleCap, tableCap, bucketCount);
  store<u32>(state, 0, LR_ACTIVE);
  store<u32>(state, 0, LR_VERSION);
  store<u32>(state, <u32>cb, LR_COPY_BYTES);
  store<u32>(state, CLS_CTRL_BYTES, LR_COPY0);
  store<u32>(state, <u32>(CLS_CTRL_BYTES + cb), LR_COPY0 + 4);
  store<u32>(state, 0, LR_SYNC_NEEDED);
  store<u32>(state, 0, LR_READERS0);
  store<u32>(state, 0, LR_READERS0 + LR_READER_STRIDE);
  initCopy(state + CLS_CTRL_BYTES, ruleCap, tableCap, bucketCount, seed, collisionLimit, relaxStep);
  initCopy(state + CLS_CTRL_BYTES + <usize>cb, ruleCap, tableCap, bucketCount, seed, collisionLimit, relaxStep);
  return 0;
}

@inline export function tableAt(cls: usize, t: u32): usize {
  return cls + load<u32>(cls, TABLES_OFF) + <usize>t * CLS_TABLE_BYTES;
}

@inline export function ruleAt(cls: usize, slot: u32): usize {
  return cls + load<u32>(cls, RULES_OFF) + <usize>slot * CLS_RULE_BYTES;
}

@inline export function auxAt(cls: usize, slot: u32): usize {
  return cls + load<u32>(cls, AUX_OFF) + <usize>slot * CLS_AUX_BYTES;
}

/** Mask of a prefix length 0..32 (shift counts wrap in Wasm, so go through 64 bits). */
@inline export function lenMask(len: u32): u32 {
  return <u32>((<u64>0xffffffff00000000) >> ((<u64>len) & 63));
}

@inline export function rankOf(rec: usize): u64 {
  return ((<u64>load<u32>(rec, R_PRIO)) << 32) | (<u64>load<u32>(rec, R_ID));
}

@inline export function bucketAt(cls: usize, b: u32): usize {
  return cls + load<u32>(cls, BUCKETS_OFF) + ((<usize>b) << 3);
}

/** The bloom-filter bit of a key whose hash is `h` (bits 24..31 of a bucket word). */
@inline export function bloomBit(h: u32): u32 {
  return (<u32>1) << (24 + (h >> 29));
}

/** Rewrites the bloom filter of bucket `b`'s chain from its members' hashes (writers, after relinking). */
export function rebloom(cls: usize, b: u32): void {
  const bp = bucketAt(cls, b);
  const head = load<u32>(bp) & HEAD_MASK;
  let bloom: u32 = 0;
  let r = head;
  while (r != 0) {
    bloom |= bloomBit(load<u32>(auxAt(cls, r - 1), A_HASH));
    r = load<u32>(ruleAt(cls, r - 1), R_NEXT);
  }
  store<u32>(bp, head | bloom);
}

@inline export function orderAt(cls: usize, k: u32): usize {
  return cls + load<u32>(cls, ORDER_OFF) + ((<usize>k) << 2);
}

// Vector multiply-shift hashing (Dietzfelbinger): sum of 32-bit words times odd 64-bit
// multipliers drawn from the seed, top 32 bits. Universal, and five independent multiplies
// instead of a serial mixing chain: this runs once per table per lookup.
@inline export function keyHash(
  m0: u64,
  m1: u64,
  m2: u64,
  m3: u64,
  t: u32,
  s: u32,
  d: u32,
  ports: u32,
  proto: u32,
): u32 {
  return <u32>((<u64>s * m0 + <u64>d * m1 + <u64>ports * m2 + <u64>(proto | (t << 8)) * m3) >> 32);
}

@inline export function prefixMask32(len: u32): u32 {
  return len == 0 ? 0 : <u32>(0xffffffff << (32 - len));
}

@inline export function prefixMask16(len: u32): u32 {
  return len == 0 ? 0 : ((<u32>0xffff) << (16 - len)) & 0xffff;
}

/** Length of the longest run of leading one bits of a mask (its prefix length when it is one). */
@inline export function leadingOnes32(m: u32): u32 {
  return clz<u32>(~m);
}

/** Prefix length (0..16) shared by every value of the inclusive range lo..hi. */
@inline export function coverLen16(lo: u32, hi: u32): u32 {
  const x = (lo ^ hi) & 0xffff;
  return x == 0 ? 16 : clz<u32>(x) - 16;
}

@inline export function packTuple(s: u32, d: u32, sp: u32, dp: u32, pr: u32): u32 {
  return s | (d << 6) | (sp << 12) | (dp << 17) | (pr << 22);
}

/** Every field of table tuple `t` is no longer than the same field of rule tuple `r`. */
@inline export function tupleFits(t: u32, r: u32): bool {
  return (
    (t & 63) <= (r & 63) &&
    ((t >> 6) & 63) <= ((r >> 6) & 63) &&
    ((t >> 12) & 31) <= ((r >> 12) & 31) &&
    ((t >> 17) & 31) <= ((r >> 17) & 31) &&
    ((t >> 22) & 15) <= ((r >> 22) & 15)
  );
}
