// Writes an upcall record (upcall.ts) for the packet in the workspace into its ingress port's
// upcall ring. The frame is copied: the sender's buffer completes in this burst.

import { NET_RING_RECORD_BYTES, ringOk, ringPublish, ringReserve } from './io-ring';
import { NET_PE_UPCALL_RING, NET_PT_ENTRIES, NET_PT_ENTRY_BYTES } from './port-table';
import { bellLater } from './ring-bells';
import { OutCtx } from './output';
import {
  PKF_NET_HDR,
  PKF_TUNNEL,
  PK_DEV_PORT,
  PK_FLAGS,
  PK_HASH,
  PK_HDR,
  PK_IN_PORT,
  PK_LEN,
  PK_REMOTE_IP,
  PK_REMOTE_PORT,
  PK_SRC,
  NET_SC_UPCALLED,
} from './scratch';
import {
  NET_PS_UPCALLS,
  NET_PS_UPCALL_DROPS,
  NET_SW_STAT_UPCALLS,
  NET_SW_STAT_UPCALL_DROPS,
  NET_SW_UPCALL_SEQ,
} from './switch-state';
import { portStat, stampUpcall, swStat } from './switch-stats';
import {
  NET_UPC_CAP_LEN,
  NET_UPC_CODE,
  NET_UPC_COOKIE,
  NET_UPC_DEV_PORT,
  NET_UPC_FLAGS,
  NET_UPC_FRAME,
  NET_UPC_FRAME_CAP,
  NET_UPC_FRAME_LEN,
  NET_UPC_HASH,
  NET_UPC_NET_HDR,
  NET_UPC_PARSE,
  NET_UPC_PORT,
  NET_UPC_RECORD_BYTES,
  NET_UPC_REMOTE_IP,
  NET_UPC_REMOTE_PORT,
  NET_UPC_SEQ,
  NET_UPC_TICK,
  NET_UPF_FROM_TUNNEL,
  NET_UPF_NET_HDR,
  NET_UPF_PENDING,
  NET_UPF_TRUNCATED,
} from './upcall';
import { pendAdd } from './pending';

/**
 * Hands the packet to the slow path with `reason` and `arg`. False when its ring is full or absent.
 * `pend`: count it in its key's pending slot (ordered upcalls, upcall.ts).
 */
export function upcall(c: OutCtx, reason: u32, arg: u32, pend: bool = false): bool {
  const pkt = c.pkt;
  const port = <u32>load<u16>(pkt, PK_IN_PORT);
  const e = c.pt + NET_PT_ENTRIES + <usize>port * NET_PT_ENTRY_BYTES;
  const ring = <usize>load<u32>(e, NET_PE_UPCALL_RING);
  let r: usize = 0;
  if (ringOk(ring) && load<u32>(ring, NET_RING_RECORD_BYTES) >= NET_UPC_RECORD_BYTES) r = ringReserve(ring, 0);
  if (r == 0) {
    portStat(c.sw, port, NET_PS_UPCALL_DROPS, 1);
    swStat(c.sw, NET_SW_STAT_UPCALL_DROPS, 1);
    return false;
  }
  const len = load<u32>(pkt, PK_LEN);
  const cap = min<u32>(len, NET_UPC_FRAME_CAP);
  const pf = <u32>load<u16>(pkt, PK_FLAGS);
  const seq = load<u32>(c.sw, NET_SW_UPCALL_SEQ) + 1;
  store<u32>(c.sw, seq, NET_SW_UPCALL_SEQ);
  stampUpcall(c.sw, c.maxPorts, seq);
  memory.fill(r, 0, 64);
  store<u16>(r, <u16>port, NET_UPC_PORT);
  store<u16>(r, <u16>reason, NET_UPC_CODE);
  store<u32>(r, seq, NET_UPC_SEQ);
  store<u32>(r, len, NET_UPC_FRAME_LEN);
  store<u32>(r, cap, NET_UPC_CAP_LEN);
  let flags: u32 = 0;
  if (cap < len) flags |= NET_UPF_TRUNCATED;
  if ((pf & PKF_TUNNEL) != 0) flags |= NET_UPF_FROM_TUNNEL;
  if ((pf & PKF_NET_HDR) != 0) flags |= NET_UPF_NET_HDR;
  if (pend) {
    const h = load<u32>(pkt, PK_HASH);
    flags |= NET_UPF_PENDING;
    store<u32>(r, h, NET_UPC_HASH);
    pendAdd(c.sw, h, c.now);
  }
  store<u32>(r, flags, NET_UPC_FLAGS);
  store<u32>(r, arg, NET_UPC_COOKIE);
  store<u32>(r, c.now, NET_UPC_TICK);
  store<u16>(r, load<u16>(pkt, PK_DEV_PORT), NET_UPC_DEV_PORT);
  store<u32>(r, load<u32>(pkt, PK_REMOTE_IP), NET_UPC_REMOTE_IP);
  store<u16>(r, load<u16>(pkt, PK_REMOTE_PORT), NET_UPC_REMOTE_PORT);
  memory.copy(r + NET_UPC_PARSE, c.rec, 64);
  memory.fill(r + NET_UPC_PARSE + 64, 0, 96);
  memory.copy(r + NET_UPC_NET_HDR, pkt + PK_HDR, 12);
  store<u32>(r + NET_UPC_NET_HDR, 0, 12);
  // SAFETY: [src, src + len) is the frame, checked at ingest; cap <= len.
  memory.copy(r + NET_UPC_FRAME, <usize>load<u32>(pkt, PK_SRC), cap);
  ringPublish(ring, 1);
  bellLater(c.sc, ring);
  store<u32>(c.sc, 1, NET_SC_UPCALLED);
  portStat(c.sw, port, NET_PS_UPCALLS, 1);
  swStat(c.sw, NET_SW_STAT_UPCALLS, 1);
  return true;
}
