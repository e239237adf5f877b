// Receive side of the virtio-net device: a frame the switch outputs to a VNIC port is written
// straight from its source (the sender's guest RAM, or a header workspace for edited headers)
// into the receiver's RX buffers, behind a virtio-net header (§5.1.6.3, §5.1.6.4).
//
// Receive buffers are popped into a slot per destination queue as frames need them, and all the
// buffers a slot filled in one run are published together with one used-index store at the end
// of the run (slotsFlush): with MRG_RXBUF the `num_buffers` buffers of a packet are therefore
// always published at once (bad-input H6b holds by construction).
//
// Pinned policies (docs/virtio-policy.md): a buffer that cannot take the frame is returned with
// used.len 0 and the frame is dropped for that receiver (R): smaller than the header (H6), too
// small for the frame without MRG_RXBUF (H6a), read-only (H6c), or refused by the ring layer.

import {
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_USED_LEN,
  CH_WRITE_BYTES,
  CH_WRITE_SEGS,
  SEG_BYTES,
  chainAt,
  segsBase,
} from '../virtio/burst';
import { VQ_GMAP } from '../virtio/queue-state';
import { vqPop, vqPush } from '../virtio/vq';
import { STATUS_DEVICE_NEEDS_RESET } from '../virtio/layout';
import { toGuest } from './guest-write';
import { NET_HDR_BYTES, NET_HDR_NUM_BUFFERS } from './net-hdr';
import {
  NETD_CONFIG_IRQ,
  NETD_MAC,
  NETD_MAC_TABLE,
  NETD_MULTI_COUNT,
  NETD_RX_MODE,
  NETD_STATUS,
  NETD_UNI_COUNT,
  NETD_VLAN_FILTER,
  NET_BAD_H6,
  NET_BAD_H6A,
  NET_BAD_H6C,
  NET_BAD_RING,
  NET_F_CTRL_VLAN,
  NET_F_MRG_RXBUF,
  NET_MAC_TABLE,
  NET_QS_RX_BUFFERS,
  NET_QS_RX_BYTES,
  NET_QS_RX_DROPS,
  NET_QS_RX_ERRORS,
  NET_QS_RX_FILTERED,
  NET_QS_RX_PACKETS,
  NET_RXM_ALLMULTI,
  NET_RXM_ALLUNI,
  NET_RXM_MULTI_OVER,
  NET_RXM_NOBCAST,
  NET_RXM_NOMULTI,
  NET_RXM_NOUNI,
  NET_RXM_PROMISC,
  NET_RXM_UNI_OVER,
  bumpAt,
  countBad,
  hasFeature,
  pairStats,
  rxVq,
} from './net-state';
import {
  NET_SC_SLOTS,
  NET_SC_SLOT_BYTES,
  NET_SC_SLOT_CHAINS,
  NET_SC_SLOT_SEGS,
  NET_SC_SLOT_COUNT,
  NET_SC_TMP_CHAINS,
  SL_BURST,
  SL_DEV,
  SL_PAIR,
  SL_POPPED,
  SL_PORT,
  SL_USED,
  SL_VQ,
  offSlotBursts,
  offSlots,
  offTmpBurst,
  slotBurstBytes,
} from './scratch';

// deliver() results.
export const RX_OK: i32 = 0;
export const RX_NO_BUFFER: i32 = 1; // the queue had no buffer (or not enough for the frame)
export const RX_FILTERED: i32 = 2; // the device's receive filter refused the frame
export const RX_BAD_BUFFER: i32 = 3; // H6 / H6a / H6c / a chain the ring layer refused
export const RX_DEVICE_DOWN: i32 = 4; // the device needs a reset, or the queue is not ready

/**
 * The source of one frame: up to three contiguous pieces, concatenated (an outer header, an
 * edited head, the rest of the frame from the sender's buffer).
 */
@unmanaged
export class Pieces {
  a0: usize = 0;
  l0: u32 = 0;
  a1: usize = 0;
  l1: u32 = 0;
  a2: usize = 0;
  l2: u32 = 0;
}

@inline export function piecesLen(p: Pieces): u32 {
  return p.l0 + p.l1 + p.l2;
}

/** Byte `i` of the frame the pieces make (i < piecesLen). */
@inline export function pieceByte(p: Pieces, i: u32): u32 {
  if (i < p.l0) return <u32>load<u8>(p.a0 + <usize>i);
  i -= p.l0;
  if (i < p.l1) return <u32>load<u8>(p.a1 + <usize>i);
  return <u32>load<u8>(p.a2 + <usize>(i - p.l1));
}

/** The receive filter (§5.1.6.5.1, §5.1.6.5.3): true when the device takes the frame. */
export function rxAccepts(dev: usize, p: Pieces): bool {
  const mode = <u32>load<u16>(dev, NETD_RX_MODE);
  if ((mode & NET_RXM_PROMISC) != 0) return true;
  // Fast path: the frame's first 16 bytes lie in one piece (always, unless a tiny head was built).
  let h: usize = 0;
  if (p.l0 >= 16) h = p.a0;
  else if (p.l0 == 0 && p.l1 >= 16) h = p.a1;
  else if (p.l0 == 0 && p.l1 == 0 && p.l2 >= 16) h = p.a2;
  if (h != 0 && mode == 0 && !hasFeature(dev, NET_F_CTRL_VLAN)) {
    // SAFETY: h points at 16 readable bytes of the frame (a piece of at least 16 bytes).
    if (load<u32>(h) == load<u32>(dev, NETD_MAC) && load<u16>(h, 4) == load<u16>(dev, NETD_MAC + 4)) return true;
  }
  if (
    hasFeature(dev, NET_F_CTRL_VLAN) &&
    piecesLen(p) >= 16 &&
    ((pieceByte(p, 12) << 8) | pieceByte(p, 13)) == 0x8100
  ) {
    const vid = ((pieceByte(p, 14) << 8) | pieceByte(p, 15)) & 0xfff;
    // SAFETY: vid < 4096: the byte lies inside the 512-byte filter bitmap.
    if (((<u32>load<u8>(dev + NETD_VLAN_FILTER + <usize>(vid >> 3))) & (1 << (vid & 7))) == 0) return false;
  }
  const b0 = pieceByte(p, 0);
  if ((b0 & 1) != 0) {
    let bcast = true;
    for (let i: u32 = 0; i < 6; i++) if (pieceByte(p, i) != 0xff) bcast = false;
    if (bcast) return (mode & NET_RXM_NOBCAST) == 0;
    if ((mode & NET_RXM_NOMULTI) != 0) return false;
    if ((mode & (NET_RXM_ALLMULTI | NET_RXM_MULTI_OVER)) != 0) return true;
    return macListed(dev, p, NETD_MAC_TABLE + NET_MAC_TABLE * 8, <u32>load<u16>(dev, NETD_MULTI_COUNT));
  }
  if ((mode & NET_RXM_NOUNI) != 0) return false;
  if ((mode & (NET_RXM_ALLUNI | NET_RXM_UNI_OVER)) != 0) return true;
  let own = true;
  for (let i: u32 = 0; i < 6; i++) if (pieceByte(p, i) != <u32>load<u8>(dev + NETD_MAC + <usize>i)) own = false;
  if (own) return true;
  return macListed(dev, p, NETD_MAC_TABLE, <u32>load<u16>(dev, NETD_UNI_COUNT));
}

function macListed(dev: usize, p: Pieces, table: u32, count: u32): bool {
  const n = min<u32>(count, NET_MAC_TABLE);
  for (let e: u32 = 0; e < n; e++) {
    const m = dev + <usize>(table + e * 8);
    let eq = true;
    for (let i: u32 = 0; i < 6; i++) if (pieceByte(p, i) != <u32>load<u8>(m + <usize>i)) eq = false;
    if (eq) return true;
  }
  return false;
}

@inline function slotAt(sc: usize, mb: u32, i: u32): usize {
  return sc + <usize>(offSlots(mb) + i * NET_SC_SLOT_BYTES);
}

/** Starts a run: no slot in use. */
@inline export function slotsReset(sc: usize): void {
  store<u32>(sc, 0, NET_SC_SLOT_COUNT);
}

/** The slot of (port, pair), opened when needed; flushes every slot first when all are taken. */
function slotFor(sc: usize, mb: u32, dev: usize, port: u32, pair: u32): usize {
  let n = load<u32>(sc, NET_SC_SLOT_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    const s = slotAt(sc, mb, i);
    if (<u32>load<u16>(s, SL_PORT) == port && <u32>load<u16>(s, SL_PAIR) == pair && <usize>load<u32>(s, SL_DEV) == dev)
      return s;
  }
  if (n == NET_SC_SLOTS) {
    slotsFlush(sc, mb);
    n = 0;
  }
  const s = slotAt(sc, mb, n);
  store<u32>(s, <u32>rxVq(dev, pair), SL_VQ);
  store<u32>(s, <u32>dev, SL_DEV);
  store<u16>(s, <u16>port, SL_PORT);
  store<u16>(s, <u16>pair, SL_PAIR);
  store<u32>(s, <u32>(sc + <usize>(offSlotBursts(mb) + n * slotBurstBytes())), SL_BURST);
  store<u32>(s, 0, SL_POPPED);
  store<u32>(s, 0, SL_USED);
  store<u32>(sc, n + 1, NET_SC_SLOT_COUNT);
  return s;
}

/**
 * Pops up to `want` more buffers into the slot (appended after those it holds). Returns how
 * many were added (0: the queue is empty, full slot, or broken — then the device needs a reset).
 */
function slotRefill(sc: usize, mb: u32, s: usize, want: u32): u32 {
  const burst = <usize>load<u32>(s, SL_BURST);
  const have = load<u32>(s, SL_POPPED);
  const room = NET_SC_SLOT_CHAINS - have;
  if (want > room) want = room;
  if (want > NET_SC_TMP_CHAINS) want = NET_SC_TMP_CHAINS;
  if (want == 0) return 0;
  const vq = <usize>load<u32>(s, SL_VQ);
  if (have == 0) {
    // An empty slot takes the pop directly (the common case: one pop per destination a run).
    const got0 = vqPop(vq, burst, want);
    if (got0 < 0) {
      needsReset(<usize>load<u32>(s, SL_DEV));
      return 0;
    }
    store<u32>(s, <u32>got0, SL_POPPED);
    return <u32>got0;
  }
  const tmp = sc + <usize>offTmpBurst(mb);
  const got = vqPop(vq, tmp, want);
  if (got < 0) {
    needsReset(<usize>load<u32>(s, SL_DEV));
    return 0;
  }
  if (got == 0) return 0;
  // Append: chain records move with their segments re-based to the slot's segment pool.
  const dstSegs = segsBase(burst);
  const srcSegs = segsBase(tmp);
  let segUsed: u32 = have == 0 ? 0 : segEnd(burst, have - 1);
  let added: u32 = 0;
  for (let i: u32 = 0; i < <u32>got; i++) {
    const from = chainAt(tmp, i);
    const to = chainAt(burst, have + added);
    const nseg = <u32>load<u16>(from, CH_READ_SEGS) + <u32>load<u16>(from, CH_WRITE_SEGS);
    memory.copy(to, from, 32);
    if (segUsed + nseg > NET_SC_SLOT_SEGS) {
      // No room for its segments: keep the chain (it must be returned) but as refused.
      store<u16>(to, 0xfffe, CH_STATUS);
      store<u32>(to, segUsed, CH_SEG_START);
      store<u32>(to, 0, CH_READ_SEGS);
    } else {
      memory.copy(
        dstSegs + <usize>segUsed * SEG_BYTES,
        srcSegs + <usize>load<u32>(from, CH_SEG_START) * SEG_BYTES,
        nseg * SEG_BYTES,
      );
      store<u32>(to, segUsed, CH_SEG_START);
      segUsed += nseg;
    }
    added++;
  }
  store<u32>(s, have + added, SL_POPPED);
  return added;
}

@inline function segEnd(burst: usize, i: u32): u32 {
  const r = chainAt(burst, i);
  return load<u32>(r, CH_SEG_START) + <u32>load<u16>(r, CH_READ_SEGS) + <u32>load<u16>(r, CH_WRITE_SEGS);
}

/** The next unused buffer of the slot (popping more when it has none), or 0. */
function nextBuffer(sc: usize, mb: u32, s: usize, hint: u32): usize {
  const used = load<u32>(s, SL_USED);
  if (used >= load<u32>(s, SL_POPPED) && slotRefill(sc, mb, s, hint) == 0) return 0;
  store<u32>(s, used + 1, SL_USED);
  return chainAt(<usize>load<u32>(s, SL_BURST), used);
}

/** A buffer the frame cannot use: returned with len 0, counted under `bad`. */
@inline function refuseBuffer(dev: usize, st: usize, rec: usize, bad: u32): void {
  store<u32>(rec, 0, CH_USED_LEN);
  countBad(dev, bad);
  bumpAt(st, NET_QS_RX_ERRORS, 1);
}

/**
 * Writes `len` bytes from `src` at byte `off` of the chain's writable segments (the caller
 * checked off + len <= CH_WRITE_BYTES).
 */
function chainWrite(map: usize, burst: usize, rec: usize, off: u32, src: usize, len: u32): void {
  const segs = segsBase(burst) + <usize>(load<u32>(rec, CH_SEG_START) + <u32>load<u16>(rec, CH_READ_SEGS)) * SEG_BYTES;
  const nw = <u32>load<u16>(rec, CH_WRITE_SEGS);
  let i: u32 = 0;
  // Bounded: at most nw segments.
  while (len != 0 && i < nw) {
    const s = segs + <usize>i * SEG_BYTES;
    const sl = load<u32>(s, 4);
    if (off >= sl) {
      off -= sl;
      i++;
      continue;
    }
    let take = sl - off;
    if (take > len) take = len;
    // SAFETY: the segment [addr, addr + sl) was translated and bounds-checked by the pop; off + take <= sl.
    toGuest(map, <usize>load<u32>(s) + <usize>off, src, take);
    src += take;
    len -= take;
    off = 0;
    i++;
  }
}

/** Writes bytes [from, from + len) of the pieces at byte `off` of the chain. */
function chainWritePieces(map: usize, burst: usize, rec: usize, off: u32, p: Pieces, from: u32, len: u32): void {
  if (from < p.l0 && len != 0) {
    const t = min<u32>(p.l0 - from, len);
    chainWrite(map, burst, rec, off, p.a0 + <usize>from, t);
    off += t;
    len -= t;
    from += t;
  }
  if (from >= p.l0 && from - p.l0 < p.l1 && len != 0) {
    const f = from - p.l0;
    const t = min<u32>(p.l1 - f, len);
    chainWrite(map, burst, rec, off, p.a1 + <usize>f, t);
    off += t;
    len -= t;
    from += t;
  }
  if (len != 0) chainWrite(map, burst, rec, off, p.a2 + <usize>(from - p.l0 - p.l1), len);
}

/**
 * Delivers one frame (the pieces) to receive queue pair `pair` of device `dev` (port `port`),
 * behind the 12-byte virtio-net header at `hdr` (num_buffers is filled in here). Returns RX_*.
 */
export function deliver(sc: usize, mb: u32, dev: usize, port: u32, pair: u32, p: Pieces, hdr: usize, hint: u32): i32 {
  if ((load<u32>(dev, NETD_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0) return RX_DEVICE_DOWN;
  const st = pairStats(dev, pair);
  if (!rxAccepts(dev, p)) {
    bumpAt(st, NET_QS_RX_FILTERED, 1);
    bumpAt(st, NET_QS_RX_DROPS, 1);
    return RX_FILTERED;
  }
  const vq = rxVq(dev, pair);
  if (vq == 0) return RX_DEVICE_DOWN;
  const map = <usize>load<u32>(vq, VQ_GMAP);
  const s = slotFor(sc, mb, dev, port, pair);
  const burst = <usize>load<u32>(s, SL_BURST);
  const total = piecesLen(p) + NET_HDR_BYTES;
  const mrg = hasFeature(dev, NET_F_MRG_RXBUF);
  const first = nextBuffer(sc, mb, s, hint);
  if (first == 0) {
    bumpAt(st, NET_QS_RX_DROPS, 1);
    return RX_NO_BUFFER;
  }
  const bad = bufferProblem(first, mrg, total);
  if (bad != 0) {
    refuseBuffer(dev, st, first, bad - 1);
    bumpAt(st, NET_QS_RX_DROPS, 1);
    return RX_BAD_BUFFER;
  }
  if (!mrg) {
    chainWritePieces(map, burst, first, NET_HDR_BYTES, p, 0, total - NET_HDR_BYTES);
    store<u16>(hdr, 1, NET_HDR_NUM_BUFFERS);
    chainWrite(map, burst, first, 0, hdr, NET_HDR_BYTES);
    store<u32>(first, total, CH_USED_LEN);
    bumpAt(st, NET_QS_RX_BUFFERS, 1);
  } else {
    // §5.1.6.4: buffers filled completely in order, the last one partly; all published together.
    let rec = first;
    let done: u32 = 0; // frame bytes written
    let bufs: u32 = 0;
    let off: u32 = NET_HDR_BYTES;
    // Bounded: each buffer takes at least one byte (bufferProblem), at most the slot's chains.
    while (true) {
      const room = load<u32>(rec, CH_WRITE_BYTES) - off;
      const take = min<u32>(room, total - NET_HDR_BYTES - done);
      chainWritePieces(map, burst, rec, off, p, done, take);
      store<u32>(rec, off + take, CH_USED_LEN);
      done += take;
      bufs++;
      if (done == total - NET_HDR_BYTES) break;
      const next = nextBuffer(sc, mb, s, 1);
      if (next == 0) {
        // Not enough buffers: what was filled goes back empty; the frame is dropped.
        unfill(s, burst, bufs);
        bumpAt(st, NET_QS_RX_DROPS, 1);
        return RX_NO_BUFFER;
      }
      const b = bufferProblem(next, true, 1);
      if (b != 0) {
        refuseBuffer(dev, st, next, b - 1);
        unfill(s, burst, bufs);
        bumpAt(st, NET_QS_RX_DROPS, 1);
        return RX_BAD_BUFFER;
      }
      rec = next;
      off = 0;
    }
    store<u16>(hdr, <u16>bufs, NET_HDR_NUM_BUFFERS);
    chainWrite(map, burst, first, 0, hdr, NET_HDR_BYTES);
    bumpAt(st, NET_QS_RX_BUFFERS, bufs);
  }
  bumpAt(st, NET_QS_RX_PACKETS, 1);
  bumpAt(st, NET_QS_RX_BYTES, total - NET_HDR_BYTES);
  return RX_OK;
}

/** The last `bufs` buffers taken from the slot go back with len 0 (a frame that did not fit). */
function unfill(s: usize, burst: usize, bufs: u32): void {
  const used = load<u32>(s, SL_USED);
  for (let i: u32 = 0; i < bufs; i++) store<u32>(chainAt(burst, used - 1 - i), 0, CH_USED_LEN);
}

/**
 * 0 when the buffer can take (part of) the frame, else NET_BAD_* + 1: refused by the ring
 * layer, read-only parts (H6c), no room for the header (H6), or without MRG_RXBUF too small for
 * header and frame (H6a).
 */
function bufferProblem(rec: usize, mrg: bool, total: u32): u32 {
  if (load<u16>(rec, CH_STATUS) != 0) return NET_BAD_RING + 1;
  if (load<u16>(rec, CH_READ_SEGS) != 0) return NET_BAD_H6C + 1;
  const room = load<u32>(rec, CH_WRITE_BYTES);
  if (total > 1 && room < NET_HDR_BYTES) return NET_BAD_H6 + 1;
  if (room == 0) return NET_BAD_H6 + 1;
  if (!mrg && room < total) return NET_BAD_H6A + 1;
  return 0;
}

/**
 * Ends a run's receive side: every slot publishes the buffers it took (unused ones go back with
 * len 0, counted as wasted) with one push, and raises the queue's interrupt per its suppression.
 */
export function slotsFlush(sc: usize, mb: u32): void {
  const n = load<u32>(sc, NET_SC_SLOT_COUNT);
  for (let i: u32 = 0; i < n; i++) {
    const s = slotAt(sc, mb, i);
    const popped = load<u32>(s, SL_POPPED);
    if (popped == 0) continue;
    const burst = <usize>load<u32>(s, SL_BURST);
    for (let k = load<u32>(s, SL_USED); k < popped; k++) store<u32>(chainAt(burst, k), 0, CH_USED_LEN);
    const dev = <usize>load<u32>(s, SL_DEV);
    if (vqPush(<usize>load<u32>(s, SL_VQ), burst, popped) < 0) needsReset(dev);
  }
  store<u32>(sc, 0, NET_SC_SLOT_COUNT);
}

/** §2.1.2: DEVICE_NEEDS_RESET and a configuration change notification. */
export function needsReset(dev: usize): void {
  if ((load<u32>(dev, NETD_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0) return;
  store<u32>(dev, load<u32>(dev, NETD_STATUS) | STATUS_DEVICE_NEEDS_RESET, NETD_STATUS);
  const irq = <usize>load<u32>(dev, NETD_CONFIG_IRQ);
  if (irq != 0) {
    atomic.add<i32>(irq, 1);
    atomic.notify(irq, -1);
  }
}
