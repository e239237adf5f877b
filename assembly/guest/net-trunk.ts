// The VLAN split of a guest whose NIC is a trunk (a container host's): frames received on the
// NIC are handed by their 802.1Q tag to the stack of that VLAN (a container's, with its own MAC,
// address and ARP cache: net-stack.ts netInitShared), the tag taken off; untagged frames go to
// the NIC's own stack. Each stack tags what it sends (txSend). Receive buffers, rings and the
// transmit ring are the NIC's, shared by every stack on it; one vCPU runs the split.
//
// VLAN table: u32[4096] at a host address, entry v = host address of VLAN v's stack (0: none).

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

export const TRUNK_VLANS: u32 = 4096;

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
