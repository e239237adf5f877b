// Writes the copy a MIRROR port gets (mirror.ts) into its ring; a full ring loses the copy only.

import {
  NET_MIR_CAP_LEN,
  NET_MIR_DIRECTION,
  NET_MIR_FRAME,
  NET_MIR_FRAME_CAP,
  NET_MIR_ORIG_LEN,
  NET_MIR_PORT,
  NET_MIR_RECORD_BYTES,
  NET_MIR_TICK,
} from './mirror';
import { NET_RING_RECORD_BYTES, ringOk, ringPublish, ringReserve } from './io-ring';
import { bellLater } from './ring-bells';
import { Pieces, piecesLen } from './rx-deliver';
import { NET_SW_STAT_MIRRORED } from './switch-state';
import { swStat } from './switch-stats';

export function mirrorFrame(sc: usize, sw: usize, ring: usize, port: u32, dir: u32, p: Pieces, now: u32): void {
  if (!ringOk(ring) || load<u32>(ring, NET_RING_RECORD_BYTES) < NET_MIR_RECORD_BYTES) return;
  const r = ringReserve(ring, 0);
  if (r == 0) return;
  const len = piecesLen(p);
  const cap = min<u32>(len, NET_MIR_FRAME_CAP);
  store<u32>(r, now, NET_MIR_TICK);
  store<u32>(r, len, NET_MIR_ORIG_LEN);
  store<u32>(r, cap, NET_MIR_CAP_LEN);
  store<u16>(r, <u16>port, NET_MIR_PORT);
  store<u16>(r, <u16>dir, NET_MIR_DIRECTION);
  copyPieces(r + NET_MIR_FRAME, p, cap);
  ringPublish(ring, 1);
  bellLater(sc, ring);
  swStat(sw, NET_SW_STAT_MIRRORED, 1);
}

/** Copies the first `n` bytes of the pieces to `dst` (host memory the caller sized). */
export function copyPieces(dst: usize, p: Pieces, n: u32): void {
  const a = min<u32>(n, p.l0);
  if (a != 0) memory.copy(dst, p.a0, a);
  n -= a;
  const b = min<u32>(n, p.l1);
  if (b != 0) memory.copy(dst + <usize>a, p.a1, b);
  n -= b;
  const c = min<u32>(n, p.l2);
  if (c != 0) memory.copy(dst + <usize>(a + b), p.a2, c);
}
