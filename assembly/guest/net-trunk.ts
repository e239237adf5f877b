// The VLAN split of a guest whose NIC is a trunk (a container host's): frames received on the
// NIC are handed by their 802.1Q tag to the stack of that VLAN (a container's, with its own MAC,
// address and ARP cache: net-stack.ts netInitShared), the tag taken off; untagged frames go to
// the NIC's own stack. Each stack tags what it sends (txSend). Receive buffers, rings and the
// transmit ring are the NIC's, shared by every stack on it; one vCPU runs the split.
//
// VLAN table: u32[4096] at a host address, entry v = host address of VLAN v's stack (0: none,
// or its container is not running: its frames are dropped).
//
// Mailbox: TRUNK_MAILBOX_BYTES just before the table, through which the VM side asks a stack
// to send something (a container's ping): the split's vCPU sends it, since the transmit ring
// is one vCPU's. +0 u32 state (TM_IDLE; TM_POSTED by the asker once the request is written;
// TM_TAKEN by the split, or back to TM_IDLE by an asker that gives up; TM_DONE with rc)
// +4 u32 op  +8 u32 vlan  +12 4 B dst (network order)  +16 u16 ident  +18 u16 seq
// +20 u32 data bytes  +24 i32 rc (1 sent, 0 its next hop asked for by ARP first, -1 no such
// stack or op).

import { drvReap } from './driver';
import {
  GNC_RX_BAD,
  GNC_RX_IGNORED,
  GNET_REAP,
  GN_BUF_BYTES,
  GN_MAGIC,
  GN_RAM,
  GN_REAP,
  GN_RX_BUF,
  GN_RX_DRV,
  GN_TX_DRV,
  gnBump,
} from './net-state';
import { NET_HDR, be16, finishPoll, input, repostRx } from './net-stack';
import { pingSend } from './net-traffic';

export const TRUNK_VLANS: u32 = 4096;
export const TRUNK_MAILBOX_BYTES: u32 = 64;
export const TM_STATE: u32 = 0;
export const TM_OP: u32 = 4;
export const TM_VLAN: u32 = 8;
export const TM_DST: u32 = 12;
export const TM_IDENT: u32 = 16;
export const TM_SEQ: u32 = 18;
export const TM_LEN: u32 = 20;
export const TM_RC: u32 = 24;
export const TM_IDLE: u32 = 0;
export const TM_POSTED: u32 = 1;
export const TM_TAKEN: u32 = 2;
export const TM_DONE: u32 = 3;
/** Send an ICMP echo request from VLAN `vlan`'s stack to `dst`. */
export const TM_OP_PING: u32 = 1;
/** The most data a ping asked through the mailbox carries. */
const TM_MAX_LEN: u32 = 1024;

/** Serves the mailbox before `table` if a request was posted (one per pass). */
function trunkMailbox(table: usize): void {
  const box = table - TRUNK_MAILBOX_BYTES;
  if (atomic.cmpxchg<u32>(box, TM_POSTED, TM_TAKEN, TM_STATE) != TM_POSTED) return;
  let rc: i32 = -1;
  const vid = load<u32>(box, TM_VLAN);
  if (load<u32>(box, TM_OP) == TM_OP_PING && vid > 0 && vid < TRUNK_VLANS) {
    // SAFETY: vid < TRUNK_VLANS; entries are written only by the VM side, with stacks it laid in this area.
    const sub = <usize>atomic.load<u32>(table + ((<usize>vid) << 2));
    if (sub != 0 && atomic.load<u32>(sub) == GN_MAGIC) {
      const len = min<u32>(load<u32>(box, TM_LEN), TM_MAX_LEN);
      rc = pingSend(sub, load<u32>(box, TM_DST), <u32>load<u16>(box, TM_IDENT), <u32>load<u16>(box, TM_SEQ), len);
    }
  }
  store<i32>(box, rc, TM_RC);
  atomic.store<u32>(box, TM_DONE, TM_STATE);
}

/**
 * One pass of the split over the NIC of stack `st`: receives up to `budget` frames, hands each
 * to its VLAN's stack (or drops it, counted on `st`, when no stack has that VLAN), re-posts the
 * buffers, reaps transmit completions and kicks both queues. Returns frames handled.
 */
export function trunkPoll(st: usize, table: usize, budget: u32): u32 {
  if (atomic.load<u32>(st) != GN_MAGIC) return 0;
  const rx = <usize>load<u32>(st, GN_RX_DRV);
  const tx = <usize>load<u32>(st, GN_TX_DRV);
  const out = <usize>load<u32>(st, GN_REAP);
  const rxBase = load<u64>(st, GN_RX_BUF);
  const bytes = load<u32>(st, GN_BUF_BYTES);
  const ram = <usize>load<u32>(st, GN_RAM);
  trunkMailbox(table);
  let done: u32 = 0;
  while (done < budget) {
    const n = drvReap(rx, out, min<u32>(GNET_REAP, budget - done));
    if (n == 0) break;
    for (let i: u32 = 0; i < n; i++) {
      const tok = load<u32>(out + ((<usize>i) << 3));
      const len = load<u32>(out + ((<usize>i) << 3), 4);
      // SAFETY: the buffer of token `tok` was posted inside guest RAM by netInit; len <= bytes is checked.
      const f = ram + <usize>(rxBase + <u64>tok * <u64>bytes) + NET_HDR;
      if (len <= NET_HDR || len > bytes) {
        gnBump(st, GNC_RX_BAD);
        continue;
      }
      const flen = len - NET_HDR;
      if (flen >= 18 && be16(f + 12) == 0x8100) {
        const vid = be16(f + 14) & 0xfff;
        const sub = <usize>atomic.load<u32>(table + ((<usize>vid) << 2));
        if (sub == 0 || atomic.load<u32>(sub) != GN_MAGIC) {
          gnBump(st, GNC_RX_IGNORED);
          continue;
        }
        // The tag comes off: the MACs move up over it.
        memory.copy(f + 4, f, 12);
        input(sub, f + 4, flen - 4);
      } else input(st, f, flen);
    }
    repostRx(rx, rxBase, bytes, n);
    done += n;
  }
  finishPoll(rx, tx, out, done);
  return done;
}
