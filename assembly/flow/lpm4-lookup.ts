// The IPv4 reader: flow_lpm4_lookup over the direct table and nodes of lpm4-nodes.ts (their
// layout is described there). It never reads the DIR-24-8 top table.

import { headerOk } from '../common/header';
import { rangeOk } from './hash';
import { lrCopyAt, lrPin, lrUnpin } from './left-right';
import {
  C_TOP,
  GROUP_CAP,
  LPM_CTRL_BYTES,
  LPM_E_RANGE,
  LPM_E_STATE,
  LPM_LAYOUT,
  LPM_MAGIC,
  NODE_UNITS,
  TOP_BITS,
  VALID,
  VAL_MASK,
  directAt,
  heapAt,
} from './lpm-layout';
import { AT_MASK, DUMMY_RUN, N_RUNS, NODE, V_EXT, WIDE } from './lpm4-nodes';

/** Stage 2 for one lookup: direct entry → run position (heap byte offset | NODE | WIDE), or the leaf. */
@inline function runAt(heap: usize, limit: u32, d: u32, a: u32): u32 {
  const m = <u32>((<i32>d) >> 31); // all ones for a node
  const at = min<u32>((d << 3) & m, limit); // the node's byte offset; 0 (the dummy) for a leaf
  const node = heap + <usize>at;
  const w8 = <usize>((a >> 11) & 0x18); // 8 * bitmap word
  const rank = <u32>load<u8>(node + 32 + (w8 >> 3)) + <u32>popcnt<u64>(load<u64>(node + w8) << u64(~(a >> 8) & 63));
  const r2 = rank << 1;
  const run = at + <u32>N_RUNS - 2 + r2 + ((r2 - 2) & (<u32>((<i32>(d << 1)) >> 31))); // u16: 34 + 2r, u32: 32 + 4r
  return ((NODE | (d & WIDE) | run) & m) | (d & ~m);
}

/** Stage 3 for one lookup: run position or leaf → next hop or -1. */
@inline function valueAt(heap: usize, groups: usize, groupCap: u32, x: u32, a: u32): i32 {
  const m = <u32>((<i32>x) >> 31);
  const raw = load<u32>(heap + <usize>((x & AT_MASK & m) | (DUMMY_RUN & ~m)));
  const narrowValue = ((raw & 0x8000) << 16) | (raw & 0x7fff);
  let v = (select<u32>(raw, narrowValue, (x & WIDE) != 0) & m) | (x & ~m);
  if ((v & V_EXT) != 0) v = groupValue(groups, groupCap, v & VAL_MASK, a);
  return <i32>v - 1;
}

/** The lookup value of an extended entry: its group's entry for the address's low byte. */
@inline function groupValue(groups: usize, groupCap: u32, g: u32, a: u32): u32 {
  // SAFETY: the pinned copy is not written while pinned; g < groupCap is checked anyway.
  const e = g < groupCap ? load<u32>(groups + ((<usize>g) << 10) + ((<usize>(a & 0xff)) << 2)) : 0;
  return (e & VALID) != 0 ? (e & VAL_MASK) + 1 : 0;
}

/**
 * IPv4 lookups: `count` addresses (u32 each) → next hop or -1 (i32 each). Stages over the whole
 * burst, each issuing its loads before the next stage needs them, so their misses overlap:
 * direct entries; then, four lookups at a time (SIMD arithmetic around scalar loads), the node's
 * bitmap word and count → rank → the run, whose line is often the bitmap's own or the next;
 * then the few extended values (about 1 % of lookups in BGP-like tables) read their group.
 * Leaves take the same path over the dummy node, so nothing branches on leaf or node. The
 * burst's tail (count % 4) takes the same steps one lookup at a time. Returns count or a
 * negative status.
 */
export function flow_lpm4_lookup(state: usize, addrs: usize, count: i32, out: usize): i32 {
  if (!headerOk(state, LPM_MAGIC, LPM_LAYOUT, LPM_CTRL_BYTES) || load<u32>(state, TOP_BITS) != 24) return LPM_E_STATE;
  if (count < 0 || !rangeOk(addrs, (<u64>count) << 2) || !rangeOk(out, (<u64>count) << 2)) return LPM_E_RANGE;
  const c = lrPin(state);
  const copy = lrCopyAt(state, c);
  const groupCap = load<u32>(state, GROUP_CAP);
  // SAFETY (stages 2 and 3): the pinned copy is not written while pinned. A node offset is
  // clamped to the heap's size, and from any offset up to it the reads (at most a node's worth,
  // or 1.3 KiB whatever its bitmap and counts say) stay inside the heap's slack units.
  const limit = load<u32>(state, NODE_UNITS) << 3;
  const direct = directAt(copy, groupCap);
  const heap = heapAt(copy, groupCap);
  const groups = copy + C_TOP + ((<usize>4) << 24);
  const n = <usize>count;
  const n4 = n & ~(<usize>3);
  // SAFETY: i < count: both arrays were range-checked above; addr >> 16 < 2^16 indexes the
  // direct table.
  for (let i: usize = 0; i < n; i++) {
    store<u32>(out + (i << 2), load<u32>(direct + ((<usize>(load<u32>(addrs + (i << 2)) >> 16)) << 2)));
  }
  const limits = i32x4.splat(limit);
  const bits = i32x4.splat(0x18);
  const six = i32x4.splat(63);
  const runs = i32x4.splat(<i32>N_RUNS - 2);
  const two = i32x4.splat(2);
  for (let i: usize = 0; i < n4; i += 4) {
    const d = v128.load(out + (i << 2));
    const a = v128.load(addrs + (i << 2));
    const m = i32x4.shr_s(d, 31);
    const at = i32x4.min_u(v128.and(i32x4.shl(d, 3), m), limits);
    const w8 = v128.and(i32x4.shr_u(a, 11), bits);
    const sh = v128.and(v128.not(i32x4.shr_u(a, 8)), six);
    const p0 = heap + <usize>i32x4.extract_lane(at, 0);
    const p1 = heap + <usize>i32x4.extract_lane(at, 1);
    const p2 = heap + <usize>i32x4.extract_lane(at, 2);
    const p3 = heap + <usize>i32x4.extract_lane(at, 3);
    const o0 = <usize>i32x4.extract_lane(w8, 0);
    const o1 = <usize>i32x4.extract_lane(w8, 1);
    const o2 = <usize>i32x4.extract_lane(w8, 2);
    const o3 = <usize>i32x4.extract_lane(w8, 3);
    const r0 =
      <i32>load<u8>(p0 + 32 + (o0 >> 3)) + <i32>popcnt<u64>(load<u64>(p0 + o0) << (<u64>i32x4.extract_lane(sh, 0)));
    const r1 =
      <i32>load<u8>(p1 + 32 + (o1 >> 3)) + <i32>popcnt<u64>(load<u64>(p1 + o1) << (<u64>i32x4.extract_lane(sh, 1)));
    const r2 =
      <i32>load<u8>(p2 + 32 + (o2 >> 3)) + <i32>popcnt<u64>(load<u64>(p2 + o2) << (<u64>i32x4.extract_lane(sh, 2)));
    const r3 =
      <i32>load<u8>(p3 + 32 + (o3 >> 3)) + <i32>popcnt<u64>(load<u64>(p3 + o3) << (<u64>i32x4.extract_lane(sh, 3)));
    const rr = i32x4.shl(
      i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(r0), 1, r1), 2, r2), 3, r3),
      1,
    );
    const wide = i32x4.shr_s(i32x4.shl(d, 1), 31);
    const run = i32x4.add(i32x4.add(at, i32x4.add(rr, runs)), v128.and(i32x4.sub(rr, two), wide));
    const raw = i32x4.replace_lane(
      i32x4.replace_lane(
        i32x4.replace_lane(
          i32x4.splat(load<u32>(heap + <usize>i32x4.extract_lane(run, 0))),
          1,
          load<u32>(heap + <usize>i32x4.extract_lane(run, 1)),
        ),
        2,
        load<u32>(heap + <usize>i32x4.extract_lane(run, 2)),
      ),
      3,
      load<u32>(heap + <usize>i32x4.extract_lane(run, 3)),
    );
    const narrow = v128.or(i32x4.shl(v128.and(raw, i32x4.splat(0x8000)), 16), v128.and(raw, i32x4.splat(0x7fff)));
    v128.store(out + (i << 2), v128.bitselect(v128.bitselect(raw, narrow, wide), d, m));
  }
  for (let i = n4; i < n; i++)
    store<u32>(out + (i << 2), runAt(heap, limit, load<u32>(out + (i << 2)), load<u32>(addrs + (i << 2))));
  // out[0, n4) holds lookup values, out[n4, n) run positions.
  const one = i32x4.splat(1);
  for (let i: usize = 0; i < n4; i += 4) {
    const v = v128.load(out + (i << 2));
    if (i32x4.bitmask(v) == 0) {
      v128.store(out + (i << 2), i32x4.sub(v, one));
      continue;
    }
    for (let k = i; k < i + 4; k++) {
      const x = load<u32>(out + (k << 2));
      store<i32>(
        out + (k << 2),
        <i32>((x & V_EXT) != 0 ? groupValue(groups, groupCap, x & VAL_MASK, load<u32>(addrs + (k << 2))) : x) - 1,
      );
    }
  }
  for (let i = n4; i < n; i++)
    store<i32>(out + (i << 2), valueAt(heap, groups, groupCap, load<u32>(out + (i << 2)), load<u32>(addrs + (i << 2))));
  lrUnpin(state, c);
  return count;
}
