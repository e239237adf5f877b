// Setting a switch up: the scratch's embedded burst buffers, the switch state's links, and the
// arm entry a core runs before it sleeps.

import { headerOk } from '../common/header';
import { rangeOk } from '../flow/hash';
import { tableBuckets } from '../flow/flow-cache';
import { BR_LAYOUT, BR_MAGIC } from '../virtio/burst';
import { VQ_MAX_SEGS } from '../virtio/queue-state';
import { burstInit, vqArm } from '../virtio/vq';
import { STATUS_DEVICE_NEEDS_RESET } from '../virtio/layout';
import { flowRecordsOk } from './flow-table';
import { ringAvailable, ringOk } from './io-ring';
import {
  NETD_CTRL_VQ,
  NETD_CUR_PAIRS,
  NETD_LAYOUT,
  NETD_MAGIC,
  NETD_STATE_BYTES,
  NETD_STATUS,
  txVq,
} from './net-state';
import {
  NET_PE_FLAGS,
  NET_PE_KIND,
  NET_PE_TARGET,
  NET_PF_UP,
  NET_PORT_TUNNEL,
  NET_PORT_VNIC,
  NET_PT_ENTRIES,
  NET_PT_ENTRY_BYTES,
  NET_PT_HIGH_WATER,
  NET_PT_LAYOUT,
  NET_PT_MAGIC,
  NET_PT_MAX_PORTS,
  NET_PT_PORTS_LIMIT,
  portTableBytes,
} from './port-table';
import {
  NET_SC_BURST_LIMIT,
  NET_SC_LAYOUT,
  NET_SC_MAGIC,
  NET_SC_MAX_BURST,
  NET_SC_SLOTS,
  NET_SC_SLOT_CHAINS,
  NET_SC_SLOT_SEGS,
  NET_SC_TMP_CHAINS,
  offSlotBursts,
  offTmpBurst,
  offTxBurst,
  scratchBytes,
  slotBurstBytes,
  txSegCap,
} from './scratch';
import {
  NET_SW_DOWN_RING,
  NET_SW_FLOW_CACHE,
  NET_SW_FLOW_RECORDS,
  NET_SW_LAYOUT,
  NET_SW_MAGIC,
  NET_SW_MAX_PORTS,
  NET_SW_PORT_TABLE,
  NET_SW_SCRATCH,
  NET_SW_SLOW_HIST,
  NET_SW_SPLIT,
  slowHistOffset,
  splitOffset,
  switchStateBytes,
} from './switch-state';
import { NET_TIO_RX_RING } from './tunnel-io';
import { tioOk } from './tunnel-send';
import { NET_UPC_RECORD_BYTES } from './upcall';
import { NET_RING_RECORD_BYTES } from './io-ring';

/** Writes a burst buffer's header inside the scratch and lays it out. */
function embedBurst(b: usize, chains: u32, segs: u32, bytes: u32): i32 {
  store<u32>(b, BR_MAGIC);
  store<u32>(b, BR_LAYOUT, 4);
  store<u32>(b, bytes, 8);
  store<u32>(b, 0, 12);
  return burstInit(b, bytes, chains, segs);
}

/** Lays out a scratch region (its header written by the host) for bursts of `mb` packets. */
export function scratchInit(sc: usize, mb: u32): i32 {
  if (mb == 0 || mb > NET_SC_BURST_LIMIT || !rangeOk(sc, scratchBytes(mb))) return -1;
  if (!headerOk(sc, NET_SC_MAGIC, NET_SC_LAYOUT, scratchBytes(mb))) return -1;
  memory.fill(sc + 64, 0, 256);
  store<u32>(sc, mb, NET_SC_MAX_BURST);
  const tx = sc + <usize>offTxBurst(mb);
  const txBytes = offTmpBurst(mb) - offTxBurst(mb);
  if (embedBurst(tx, mb, txSegCap(mb), txBytes) != 0) return -1;
  const tmp = sc + <usize>offTmpBurst(mb);
  if (embedBurst(tmp, NET_SC_TMP_CHAINS, VQ_MAX_SEGS * 2, offSlotBurstsGap(mb)) != 0) return -1;
  for (let i: u32 = 0; i < NET_SC_SLOTS; i++) {
    const b = sc + <usize>(offSlotBursts(mb) + i * slotBurstBytes());
    if (embedBurst(b, NET_SC_SLOT_CHAINS, NET_SC_SLOT_SEGS, slotBurstBytes()) != 0) return -1;
  }
  return 0;
}

@inline function offSlotBurstsGap(mb: u32): u32 {
  // tmpBurst runs from its offset to the slot table (offSlots), which is what it was sized for.
  return offSlotBursts(mb) - offTmpBurst(mb) - NET_SC_SLOTS * 32;
}

/** Links a switch state to its tables; each is checked. Returns 0 or -1. */
export function switchInit(sw: usize, pt: usize, fc: usize, fr: usize, down: usize, sc: usize): i32 {
  if (!rangeOk(sw, 2048) || !headerOk(sw, NET_SW_MAGIC, NET_SW_LAYOUT, 2048)) return -1;
  if (!rangeOk(pt, 128) || !headerOk(pt, NET_PT_MAGIC, NET_PT_LAYOUT, 128)) return -1;
  const maxPorts = load<u32>(pt, NET_PT_MAX_PORTS);
  if (maxPorts == 0 || maxPorts > NET_PT_PORTS_LIMIT || portTableBytes(maxPorts) > load<u32>(pt, 8)) return -1;
  if (switchStateBytes(maxPorts) > load<u32>(sw, 8)) return -1;
  if (tableBuckets(fc) == 0 || !flowRecordsOk(fr)) return -1;
  if (!ringOk(down) || load<u32>(down, NET_RING_RECORD_BYTES) < NET_UPC_RECORD_BYTES) return -1;
  if (!rangeOk(sc, 128) || !headerOk(sc, NET_SC_MAGIC, NET_SC_LAYOUT, 128) || load<u32>(sc, NET_SC_MAX_BURST) == 0)
    return -1;
  store<u32>(sw, <u32>pt, NET_SW_PORT_TABLE);
  store<u32>(sw, <u32>fc, NET_SW_FLOW_CACHE);
  store<u32>(sw, <u32>fr, NET_SW_FLOW_RECORDS);
  store<u32>(sw, <u32>down, NET_SW_DOWN_RING);
  store<u32>(sw, <u32>sc, NET_SW_SCRATCH);
  store<u32>(sw, maxPorts, NET_SW_MAX_PORTS);
  const split = splitOffset(maxPorts);
  store<u32>(sw, split, NET_SW_SPLIT);
  store<u32>(sw + split, 0);
  store<u32>(sw + split, maxPorts, 4);
  store<u32>(sw, slowHistOffset(maxPorts), NET_SW_SLOW_HIST);
  return 0;
}

/**
 * Arm entry: before the core sleeps, every VNIC's TX and control queues get their kicks enabled
 * (and re-checked: virtio E6); tunnel RX rings and the downcall ring are looked at. Returns work
 * pending (> 0: do not sleep).
 */
export function switchArm(sw: usize): i32 {
  if (!rangeOk(sw, 2048) || !headerOk(sw, NET_SW_MAGIC, NET_SW_LAYOUT, 2048)) return 0;
  const pt = <usize>load<u32>(sw, NET_SW_PORT_TABLE);
  const maxPorts = load<u32>(sw, NET_SW_MAX_PORTS);
  if (!rangeOk(pt, portTableBytes(maxPorts)) || !headerOk(pt, NET_PT_MAGIC, NET_PT_LAYOUT, portTableBytes(maxPorts)))
    return 0;
  let pending: u32 = 0;
  const down = <usize>load<u32>(sw, NET_SW_DOWN_RING);
  if (ringOk(down)) pending += ringAvailable(down);
  const high = min<u32>(load<u32>(pt, NET_PT_HIGH_WATER), maxPorts);
  for (let port: u32 = 0; port < high; port++) {
    const e = pt + NET_PT_ENTRIES + <usize>port * NET_PT_ENTRY_BYTES;
    if (((<u32>load<u8>(e, NET_PE_FLAGS)) & NET_PF_UP) == 0) continue;
    const kind = <u32>atomic.load<u8>(e, NET_PE_KIND);
    if (kind == NET_PORT_VNIC) {
      const dev = <usize>load<u32>(e, NET_PE_TARGET);
      if (!rangeOk(dev, NETD_STATE_BYTES) || !headerOk(dev, NETD_MAGIC, NETD_LAYOUT, NETD_STATE_BYTES)) continue;
      if ((load<u32>(dev, NETD_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0) continue;
      const pairs = min<u32>(max<u32>(<u32>load<u16>(dev, NETD_CUR_PAIRS), 1), 16);
      for (let q: u32 = 0; q < pairs; q++) {
        const vq = txVq(dev, q);
        if (vq != 0) pending += vqArm(vq);
      }
      const ctrl = <usize>load<u32>(dev, NETD_CTRL_VQ);
      if (ctrl != 0) pending += vqArm(ctrl);
    } else if (kind == NET_PORT_TUNNEL) {
      const tio = <usize>load<u32>(e, NET_PE_TARGET);
      if (!tioOk(tio)) continue;
      const ring = <usize>load<u32>(tio, NET_TIO_RX_RING);
      if (ringOk(ring)) pending += ringAvailable(ring);
    }
  }
  return <i32>pending;
}
