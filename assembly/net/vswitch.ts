// The vSwitch fast path: one job on one DPU core, one JS→Wasm call per run. Per run: downcalls
// from the slow path (installs, re-injections), a slice of aging, then each port's input in
// sub-bursts — pop TX chains → parse (the flow kernel's parser) → flow key with the ingress port
// → staged flow-cache lookup of the whole sub-burst → hit: the flow's action list; miss: upcall —
// and at the end one publish per receive queue, one bell per ring, one epoch step.

import { headerOk } from '../common/header';
import { flow_fc_lookup, tableBuckets } from '../flow/flow-cache';
import {
  KEY_FLAG_TUNNEL,
  K_FLAGS,
  K_PROTO,
  K_VLAN,
  K_VNI,
  M_IPVER,
  M_L4,
  M_REASON,
  M_VERDICT,
  VERDICT_MALFORMED,
  flow_parse,
} from '../flow/parser';
import { rangeOk } from '../flow/hash';
import { vqPush } from '../virtio/vq';
import { STATUS_DEVICE_NEEDS_RESET } from '../virtio/layout';
import { EX_UPCALL, actionsOk, runActions } from './exec';
import {
  NET_FR_ACTIONS,
  NET_FR_ACTION_BYTES,
  NET_FR_BYTES_COUNT,
  NET_FR_CAPACITY,
  NET_FR_COOKIE,
  NET_FR_PACKETS,
  NET_KEY_IN_PORT,
} from './flow-record';
import { flowDelete, flowHousekeeping, flowInstall, flowRecordsOk, flushStart, recordAt } from './flow-table';
import { ctrlRun } from './ctrl-queue';
import { wsReset } from './head-edit';
import { ringAvailable, ringOk, ringPeek, ringRelease, NET_RING_RECORD_BYTES } from './io-ring';
import { mirrorFrame } from './mirror-write';
import { NET_MIR_IN } from './mirror';
import {
  NET_GSO_ECN,
  NET_GSO_NONE,
  NET_GSO_TCPV4,
  NET_HDR_CSUM_OFFSET,
  NET_HDR_CSUM_START,
  NET_HDR_F_NEEDS_CSUM,
  NET_HDR_FLAGS,
  NET_HDR_GSO_SIZE,
  NET_HDR_GSO_TYPE,
} from './net-hdr';
import {
  NETD_CUR_PAIRS,
  NETD_LAYOUT,
  NETD_MAGIC,
  NETD_STATE_BYTES,
  NETD_STATUS,
  NET_BAD_H5A,
  countBad,
} from './net-state';
import { NET_TSO_MAX_SEGS, OutCtx } from './output';
import {
  NET_PE_FLAGS,
  NET_PE_KIND,
  NET_PE_MIRROR,
  NET_PE_TARGET,
  NET_PE_VLAN_MAP,
  NET_PF_MIRROR,
  NET_PF_UP,
  NET_PORT_TUNNEL,
  NET_PORT_VNIC,
  NET_PT_ENTRIES,
  NET_PT_ENTRY_BYTES,
  NET_PT_HIGH_WATER,
  NET_PT_LAYOUT,
  NET_PT_MAGIC,
  NET_PT_MAX_PORTS,
  NET_VLAN_MAP_BYTES,
  portTableBytes,
} from './port-table';
import { bellsFlush } from './ring-bells';
import { Pieces, slotsFlush, slotsReset } from './rx-deliver';
import {
  NET_SC_BURST_LIMIT,
  NET_SC_CTX,
  NET_SC_LAYOUT,
  NET_SC_MAGIC,
  NET_SC_MAX_BURST,
  NET_SC_ONE_OUT,
  NET_SC_PORT_CURSOR,
  NET_SC_RING_COUNT,
  NET_SC_UPCALLED,
  PKF_DROP,
  PKF_NET_HDR,
  PKF_TUNNEL,
  PK_DEV_PORT,
  PK_FLAGS,
  PK_HASH,
  PK_HDR,
  PK_IN_PORT,
  PK_LEN,
  PK_SRC,
  offDescs,
  offKeys,
  offOut,
  offRecs,
  offTxBurst,
  offWs,
  pktAt,
  scratchBytes,
} from './scratch';
import {
  NET_PS_ERRORS,
  NET_PS_IN_BYTES,
  NET_PS_IN_PACKETS,
  NET_SW_DOWN_RING,
  NET_SW_EPOCH,
  NET_SW_FLOW_CACHE,
  NET_SW_FLOW_RECORDS,
  NET_SW_LAST_REFUSAL,
  NET_SW_LAYOUT,
  NET_SW_MAGIC,
  NET_SW_MAX_PORTS,
  NET_SW_NOW,
  NET_SW_PORT_TABLE,
  NET_SW_SCRATCH,
  NET_SW_STAT_BURSTS,
  NET_SW_STAT_BYTES,
  NET_SW_STAT_HELD,
  NET_SW_STAT_HITS,
  NET_SW_STAT_INSTALLS,
  NET_SW_STAT_INSTALL_FAILED,
  NET_SW_STAT_L2_MISMATCH,
  NET_SW_STAT_MALFORMED,
  NET_SW_STAT_MISSES,
  NET_SW_STAT_PACKETS,
  NET_SW_STAT_REINJECTED,
  NET_SW_STAT_REINJECT_FAILED,
  NET_SW_UPCALL_BELL,
  flushMatches,
  NET_FLUSH_ALL,
  NET_FLUSH_COOKIE,
  NET_FLUSH_MASKED,
  NET_FLUSH_NONE,
  NET_SW_FLUSH_COOKIE2,
  NET_SW_FLUSH_MASK,
  NET_SW_FLUSH_MASK2,
  NET_SW_FLUSH_MODE,
  switchStateBytes,
} from './switch-state';
import { malformedStat, observeReinjected, portStat, splitFrame, swStat } from './switch-stats';
import { ingestTunnel, ingestTx } from './tx-ingest';
import {
  NET_DOWN_DELETE,
  NET_DOWN_FLUSH_ALL,
  NET_DOWN_FLUSH_COOKIE,
  NET_DOWN_FLUSH_MASKED,
  NET_DOWN_INSTALL,
  NET_DOWN_INSTALL_REINJECT,
  NET_DOWN_REINJECT,
  NET_DOWN_RELEASE,
  NET_DOWN_ST_BAD_ACTIONS,
  NET_DOWN_ST_BAD_FRAME,
  NET_DOWN_ST_BAD_OP,
  NET_DOWN_ST_BAD_PORT,
  NET_UPC_ACTIONS,
  NET_UPC_ACTION_BYTES,
  NET_UPC_CAP_LEN,
  NET_UPC_CODE,
  NET_UPC_COOKIE,
  NET_UPC_FLAGS,
  NET_UPC_FRAME,
  NET_UPC_FRAME_CAP,
  NET_UPC_FRAME_LEN,
  NET_UPC_HASH,
  NET_UPC_KEY,
  NET_UPC_L2_MISMATCH,
  NET_UPC_MISS,
  NET_UPC_NET_HDR,
  NET_UPC_PORT,
  NET_UPC_RECORD_BYTES,
  NET_UPC_SEQ,
  NET_UPF_NET_HDR,
  NET_UPF_PENDING,
} from './upcall';
import { pendBusy, pendOrdered, pendRelease } from './pending';
import { upcall } from './upcall-write';
import { NET_TIO_RX_RING } from './tunnel-io';
import { tioOk } from './tunnel-send';

/** Downcall records taken per run at most (a run stays bounded however fast the slow path writes). */
export const NET_DOWN_PER_RUN: u32 = 64;

/** Checks every region the switch names; the context is filled for the run. False: refuse the run. */
function prepare(sw: usize, c: OutCtx): bool {
  if (!rangeOk(sw, 2048) || !headerOk(sw, NET_SW_MAGIC, NET_SW_LAYOUT, 2048)) return false;
  const maxPorts = load<u32>(sw, NET_SW_MAX_PORTS);
  if (maxPorts == 0 || <u64>switchStateBytes(maxPorts) > <u64>load<u32>(sw, 8)) return false;
  const pt = <usize>load<u32>(sw, NET_SW_PORT_TABLE);
  if (!rangeOk(pt, 128) || !headerOk(pt, NET_PT_MAGIC, NET_PT_LAYOUT, portTableBytes(maxPorts))) return false;
  if (load<u32>(pt, NET_PT_MAX_PORTS) != maxPorts || !rangeOk(pt, portTableBytes(maxPorts))) return false;
  if (tableBuckets(<usize>load<u32>(sw, NET_SW_FLOW_CACHE)) == 0) return false;
  if (!flowRecordsOk(<usize>load<u32>(sw, NET_SW_FLOW_RECORDS))) return false;
  const sc = <usize>load<u32>(sw, NET_SW_SCRATCH);
  if (!rangeOk(sc, 128) || !headerOk(sc, NET_SC_MAGIC, NET_SC_LAYOUT, 128)) return false;
  const mb = load<u32>(sc, NET_SC_MAX_BURST);
  if (mb == 0 || mb > NET_SC_BURST_LIMIT || scratchBytes(mb) > load<u32>(sc, 8) || !rangeOk(sc, scratchBytes(mb)))
    return false;
  c.sw = sw;
  c.sc = sc;
  c.mb = mb;
  c.ws = sc + <usize>offWs(mb);
  c.pt = pt;
  c.maxPorts = maxPorts;
  c.now = atomic.load<u32>(sw, NET_SW_NOW);
  return true;
}

@inline function entryOf(pt: usize, port: u32): usize {
  return pt + NET_PT_ENTRIES + <usize>port * NET_PT_ENTRY_BYTES;
}

/** A VNIC's device state, checked; 0 when the entry does not name a well-formed one. */
function deviceOf(e: usize): usize {
  const dev = <usize>load<u32>(e, NET_PE_TARGET);
  if (!rangeOk(dev, NETD_STATE_BYTES) || !headerOk(dev, NETD_MAGIC, NETD_LAYOUT, NETD_STATE_BYTES)) return 0;
  return dev;
}

/** A cheap hash of a flow key: the receive queue pair and the VXLAN source port come from it. */
@inline function keyHash(k: usize): u32 {
  let h = load<u64>(k) ^ rotl<u64>(load<u64>(k, 16), 23) ^ load<u64>(k, 32) ^ rotl<u64>(load<u64>(k, 40), 41);
  h *= 0x9e3779b97f4a7c15;
  return <u32>(h >> 32);
}

/**
 * Deep checks of a TSO request once its frame is parsed (H5a): a TCP segment of the header's
 * IP version, not a fragment, whose payload cuts into at most NET_TSO_MAX_SEGS segments.
 */
function tsoOk(pkt: usize, rec: usize): bool {
  const h = pkt + PK_HDR;
  const gso = (<u32>load<u8>(h, NET_HDR_GSO_TYPE)) & ~NET_GSO_ECN;
  if (gso == NET_GSO_NONE) return true;
  if (<u32>load<u8>(rec, M_VERDICT) != 0 || <u32>load<u8>(rec, K_PROTO) != 6) return false;
  if (<u32>load<u8>(rec, M_IPVER) != (gso == NET_GSO_TCPV4 ? 4 : 6)) return false;
  if (((<u32>load<u8>(rec, K_FLAGS)) & 2) != 0) return false;
  const l4 = <u32>load<u16>(rec, M_L4);
  const len = load<u32>(pkt, PK_LEN);
  if (l4 == 0 || l4 + 20 > len) return false;
  // SAFETY: l4 + 20 <= len: the data offset byte is inside the frame.
  const doff = ((<u32>load<u8>(<usize>load<u32>(pkt, PK_SRC) + <usize>l4 + 12)) >> 4) << 2;
  const hdrEnd = l4 + doff;
  if (hdrEnd >= len) return false;
  const mss = <u32>load<u16>(h, NET_HDR_GSO_SIZE);
  return (len - hdrEnd + mss - 1) / mss <= NET_TSO_MAX_SEGS;
}

/**
 * Packets 0..n-1 of the scratch (filled by an ingest): parse all, build keys, look all up, then
 * run each hit's actions or upcall each miss. `vnis` (0: none) gives tunnel packets their VNI;
 * `dev` (0: none) is the device the requests came from (for H5a counts).
 */
function pipeline(c: OutCtx, n: u32, vnis: usize, dev: usize): void {
  const sc = c.sc;
  const mb = c.mb;
  const descs = sc + <usize>offDescs(mb);
  const recs = sc + <usize>offRecs(mb);
  const keys = sc + <usize>offKeys(mb);
  const out = sc + <usize>offOut(mb);
  for (let i: u32 = 0; i < n; i++) {
    const pkt = pktAt(sc, i);
    const d = descs + ((<usize>i) << 3);
    const drop = (load<u16>(pkt, PK_FLAGS) & PKF_DROP) != 0;
    store<u32>(d, drop ? 0 : load<u32>(pkt, PK_SRC));
    store<u32>(d, drop ? 0 : load<u32>(pkt, PK_LEN), 4);
  }
  flow_parse(descs, <i32>n, recs);
  const sw = c.sw;
  for (let i: u32 = 0; i < n; i++) {
    const pkt = pktAt(sc, i);
    const rec = recs + ((<usize>i) << 6);
    const key = keys + <usize>i * 48;
    let flags = <u32>load<u16>(pkt, PK_FLAGS);
    const devPort = <u32>load<u16>(pkt, PK_DEV_PORT);
    if ((flags & PKF_DROP) == 0 && <u32>load<u8>(rec, M_VERDICT) == VERDICT_MALFORMED) {
      flags |= PKF_DROP;
      malformedStat(sw, load<u32>(rec, M_REASON));
      swStat(sw, NET_SW_STAT_MALFORMED, 1);
      portStat(sw, devPort, NET_PS_ERRORS, 1);
    }
    if ((flags & (PKF_DROP | PKF_NET_HDR)) == PKF_NET_HDR && !tsoOk(pkt, rec)) {
      flags |= PKF_DROP;
      if (dev != 0) countBad(dev, NET_BAD_H5A);
      portStat(sw, devPort, NET_PS_ERRORS, 1);
    }
    store<u16>(pkt, <u16>flags, PK_FLAGS);
    if ((flags & PKF_DROP) != 0) {
      v128.store(key, i32x4.splat(0));
      v128.store(key, i32x4.splat(0), 16);
      v128.store(key, i32x4.splat(0), 32);
      continue;
    }
    if ((flags & PKF_TUNNEL) != 0 && vnis != 0) {
      store<u8>(rec, <u8>((<u32>load<u8>(rec, K_FLAGS)) | KEY_FLAG_TUNNEL), K_FLAGS);
      store<u32>(rec, load<u32>(vnis + ((<usize>i) << 2)), K_VNI);
    }
    v128.store(key, v128.load(rec));
    v128.store(key, v128.load(rec, 16), 16);
    v128.store(key, v128.load(rec, 32), 32);
    // The ingress port: a trunk's tagged frame enters by the sub-port its VLAN maps to.
    let inPort = devPort;
    const e = entryOf(c.pt, devPort);
    const vmap = <usize>load<u32>(e, NET_PE_VLAN_MAP);
    const vid = <u32>load<u16>(rec, K_VLAN);
    if (vmap != 0 && vid != 0 && rangeOk(vmap, NET_VLAN_MAP_BYTES)) {
      // SAFETY: vid < 4096 (12 bits from the parser): inside the 8 KiB map.
      const sub = <u32>load<u16>(vmap + ((<usize>vid) << 1));
      if (sub < c.maxPorts) inPort = sub;
    }
    store<u16>(key, <u16>inPort, NET_KEY_IN_PORT);
    store<u16>(rec, <u16>inPort, NET_KEY_IN_PORT); // the upcall carries the record: its key must be the lookup's
    store<u16>(pkt, <u16>inPort, PK_IN_PORT);
    store<u32>(pkt, keyHash(key), PK_HASH);
    const len = load<u32>(pkt, PK_LEN);
    portStat(sw, inPort, NET_PS_IN_PACKETS, 1);
    portStat(sw, inPort, NET_PS_IN_BYTES, len);
    splitFrame(sw, c.maxPorts, inPort);
    swStat(sw, NET_SW_STAT_PACKETS, 1);
    swStat(sw, NET_SW_STAT_BYTES, len);
    const ie = entryOf(c.pt, inPort);
    if (((<u32>load<u8>(ie, NET_PE_FLAGS)) & NET_PF_MIRROR) != 0) {
      const p = changetype<Pieces>(c.ws + 16);
      p.a0 = 0;
      p.l0 = 0;
      p.a1 = 0;
      p.l1 = 0;
      p.a2 = <usize>load<u32>(pkt, PK_SRC);
      p.l2 = len;
      mirrorFrame(sc, sw, <usize>load<u32>(ie, NET_PE_MIRROR), inPort, NET_MIR_IN, p, c.now);
    }
  }
  const fc = <usize>load<u32>(sw, NET_SW_FLOW_CACHE);
  flow_fc_lookup(fc, keys, <i32>n, out, c.now);
  const fr = <usize>load<u32>(sw, NET_SW_FLOW_RECORDS);
  const cap = load<u32>(fr, NET_FR_CAPACITY);
  const ordered = pendOrdered(sw);
  // A flush takes many runs (a slice each), but what it will remove is gone for packets at once.
  const flushMode = load<u32>(sw, NET_SW_FLUSH_MODE);
  for (let i: u32 = 0; i < n; i++) {
    const pkt = pktAt(sc, i);
    if ((load<u16>(pkt, PK_FLAGS) & PKF_DROP) != 0) continue;
    c.pkt = pkt;
    c.rec = recs + ((<usize>i) << 6);
    c.hint = n - i;
    wsReset(c.ws);
    const r = load<i32>(out + ((<usize>i) << 2));
    if (r < 0 || <u32>r >= cap) {
      swStat(sw, NET_SW_STAT_MISSES, 1);
      upcall(c, NET_UPC_MISS, 0, ordered);
      continue;
    }
    if (ordered && pendBusy(sw, load<u32>(pkt, PK_HASH), c.now)) {
      // Earlier packets of this flow are still with the slow path: go up behind them.
      swStat(sw, NET_SW_STAT_HELD, 1);
      upcall(c, NET_UPC_MISS, 0, true);
      continue;
    }
    const fp = recordAt(fr, <u32>r);
    if (flushMode != NET_FLUSH_NONE && flushMatches(sw, flushMode, load<u32>(fp, NET_FR_COOKIE))) {
      swStat(sw, NET_SW_STAT_MISSES, 1);
      upcall(c, NET_UPC_MISS, 0, ordered);
      continue;
    }
    swStat(sw, NET_SW_STAT_HITS, 1);
    store<u64>(fp, load<u64>(fp, NET_FR_PACKETS) + 1, NET_FR_PACKETS);
    store<u64>(fp, load<u64>(fp, NET_FR_BYTES_COUNT) + <u64>load<u32>(pkt, PK_LEN), NET_FR_BYTES_COUNT);
    const res = runActions(c, fp + NET_FR_ACTIONS, min<u32>(<u32>load<u16>(fp, NET_FR_ACTION_BYTES), 96));
    if ((res & 0xff) == EX_UPCALL) {
      const reason = (res >> 8) & 0xff;
      if (reason == NET_UPC_L2_MISMATCH) swStat(sw, NET_SW_STAT_L2_MISMATCH, 1);
      upcall(c, reason, res >> 16);
    }
  }
}

/** Downcalls from the slow path: installs, re-injections, deletes, flushes. Returns records taken. */
function downcalls(c: OutCtx): u32 {
  const sw = c.sw;
  const ring = <usize>load<u32>(sw, NET_SW_DOWN_RING);
  if (!ringOk(ring) || load<u32>(ring, NET_RING_RECORD_BYTES) < NET_UPC_RECORD_BYTES) return 0;
  const n = min<u32>(ringAvailable(ring), NET_DOWN_PER_RUN);
  const one = c.sc + NET_SC_ONE_OUT;
  for (let i: u32 = 0; i < n; i++) {
    const r = ringPeek(ring, i);
    const op = <u32>load<u16>(r, NET_UPC_CODE);
    const bytes = <u32>load<u16>(r, NET_UPC_ACTION_BYTES);
    const acts = r + NET_UPC_ACTIONS;
    let refusal: u32 = 0;
    if (op == NET_DOWN_INSTALL || op == NET_DOWN_REINJECT || op == NET_DOWN_INSTALL_REINJECT) {
      if (!actionsOk(acts, bytes, c.maxPorts)) refusal = NET_DOWN_ST_BAD_ACTIONS;
      if (refusal == 0 && op != NET_DOWN_REINJECT) {
        refusal = flowInstall(sw, r + NET_UPC_KEY, acts, bytes, load<u32>(r, NET_UPC_COOKIE), c.now, one);
        if (refusal == 0) swStat(sw, NET_SW_STAT_INSTALLS, 1);
        else swStat(sw, NET_SW_STAT_INSTALL_FAILED, 1);
      } else if (refusal != 0 && op != NET_DOWN_REINJECT) swStat(sw, NET_SW_STAT_INSTALL_FAILED, 1);
      if (op != NET_DOWN_INSTALL) {
        const st = refusal != 0 ? refusal : reinject(c, r, acts, bytes);
        if (st != 0) {
          refusal = st;
          swStat(sw, NET_SW_STAT_REINJECT_FAILED, 1);
        } else {
          swStat(sw, NET_SW_STAT_REINJECTED, 1);
          observeReinjected(sw, c.maxPorts, <u32>load<u16>(r, NET_UPC_PORT), load<u32>(r, NET_UPC_SEQ));
        }
      }
    } else if (op == NET_DOWN_DELETE) {
      flowDelete(sw, r + NET_UPC_KEY, c.now, one);
    } else if (op == NET_DOWN_FLUSH_COOKIE) {
      flushStart(sw, c.sc, NET_FLUSH_COOKIE, load<u32>(r, NET_UPC_COOKIE));
    } else if (op == NET_DOWN_FLUSH_ALL) {
      flushStart(sw, c.sc, NET_FLUSH_ALL, 0);
    } else if (op == NET_DOWN_FLUSH_MASKED) {
      const t = r + NET_UPC_KEY;
      store<u32>(sw, load<u32>(t, 4), NET_SW_FLUSH_MASK);
      store<u32>(sw, load<u32>(t, 8), NET_SW_FLUSH_COOKIE2);
      store<u32>(sw, load<u32>(t, 12), NET_SW_FLUSH_MASK2);
      flushStart(sw, c.sc, NET_FLUSH_MASKED, load<u32>(t));
    } else if (op == NET_DOWN_RELEASE) {
      const k = min<u32>(load<u32>(r, NET_UPC_FRAME_LEN), NET_UPC_FRAME_CAP >> 2);
      // SAFETY: k * 4 <= NET_UPC_FRAME_CAP: inside the record.
      for (let j: u32 = 0; j < k; j++) pendRelease(sw, load<u32>(r + NET_UPC_FRAME + ((<usize>j) << 2)));
    } else refusal = NET_DOWN_ST_BAD_OP;
    // The answer to a counted upcall: after its re-injection, so later hits leave after it.
    if (
      op != NET_DOWN_DELETE &&
      op != NET_DOWN_FLUSH_COOKIE &&
      op != NET_DOWN_FLUSH_ALL &&
      op != NET_DOWN_FLUSH_MASKED &&
      refusal != NET_DOWN_ST_BAD_OP
    )
      if ((load<u32>(r, NET_UPC_FLAGS) & NET_UPF_PENDING) != 0) pendRelease(sw, load<u32>(r, NET_UPC_HASH));
    if (refusal != 0) store<u32>(sw, refusal, NET_SW_LAST_REFUSAL);
  }
  ringRelease(ring, n);
  return n;
}

/** Runs a checked action list once on the frame a downcall carries. Returns 0 or NET_DOWN_ST_*. */
function reinject(c: OutCtx, r: usize, acts: usize, bytes: u32): u32 {
  const port = <u32>load<u16>(r, NET_UPC_PORT);
  if (port >= c.maxPorts) return NET_DOWN_ST_BAD_PORT;
  const len = load<u32>(r, NET_UPC_FRAME_LEN);
  if (len != load<u32>(r, NET_UPC_CAP_LEN) || len > NET_UPC_FRAME_CAP || len < 14) return NET_DOWN_ST_BAD_FRAME;
  const sc = c.sc;
  const pkt = pktAt(sc, 0);
  memory.fill(pkt, 0, 64);
  store<u32>(pkt, <u32>(r + NET_UPC_FRAME), PK_SRC);
  store<u32>(pkt, len, PK_LEN);
  store<u16>(pkt, <u16>port, PK_IN_PORT);
  store<u16>(pkt, <u16>port, PK_DEV_PORT);
  memory.copy(pkt + PK_HDR, r + NET_UPC_NET_HDR, 12);
  if ((load<u32>(r, NET_UPC_FLAGS) & NET_UPF_NET_HDR) != 0) {
    const h = pkt + PK_HDR;
    if (((<u32>load<u8>(h, NET_HDR_FLAGS)) & NET_HDR_F_NEEDS_CSUM) != 0) {
      if (<u32>load<u16>(h, NET_HDR_CSUM_START) + <u32>load<u16>(h, NET_HDR_CSUM_OFFSET) + 2 > len)
        return NET_DOWN_ST_BAD_FRAME;
    }
    store<u16>(pkt, <u16>PKF_NET_HDR, PK_FLAGS);
  }
  const descs = sc + <usize>offDescs(c.mb);
  const rec = sc + <usize>offRecs(c.mb);
  store<u32>(descs, <u32>(r + NET_UPC_FRAME));
  store<u32>(descs, len, 4);
  flow_parse(descs, 1, rec);
  if (<u32>load<u8>(rec, M_VERDICT) == VERDICT_MALFORMED || !tsoOk(pkt, rec)) return NET_DOWN_ST_BAD_FRAME;
  store<u32>(pkt, keyHash(rec), PK_HASH);
  c.pkt = pkt;
  c.rec = rec;
  c.hint = 1;
  wsReset(c.ws);
  runActions(c, acts, bytes);
  return 0;
}

/** Job entry: one run of the switch. Returns packets taken in (>= 0), or -1 for a bad state. */
export function switchRun(sw: usize, budget: i32): i32 {
  if (!rangeOk(sw, 2048) || !headerOk(sw, NET_SW_MAGIC, NET_SW_LAYOUT, 2048)) return -1;
  const sc0 = <usize>load<u32>(sw, NET_SW_SCRATCH);
  if (!rangeOk(sc0, 384)) return -1;
  const c = changetype<OutCtx>(sc0 + NET_SC_CTX);
  if (!prepare(sw, c)) return -1;
  const sc = c.sc;
  const mb = c.mb;
  slotsReset(sc);
  store<u32>(sc, 0, NET_SC_RING_COUNT);
  store<u32>(sc, 0, NET_SC_UPCALLED);
  let done: u32 = downcalls(c);
  flowHousekeeping(sw, sc, c.now);
  const limit = budget > 0 ? <u32>budget : 1;
  const high = min<u32>(load<u32>(c.pt, NET_PT_HIGH_WATER), c.maxPorts);
  const vnis = sc + <usize>offOut(mb); // tunnel VNIs ride in the lookup array until the lookup
  let cursor = load<u32>(sc, NET_SC_PORT_CURSOR);
  if (cursor >= high) cursor = 0;
  for (let k: u32 = 0; k < high && done < limit; k++) {
    const port = cursor;
    cursor = cursor + 1 >= high ? 0 : cursor + 1;
    const e = entryOf(c.pt, port);
    const kind = <u32>atomic.load<u8>(e, NET_PE_KIND);
    if (((<u32>load<u8>(e, NET_PE_FLAGS)) & NET_PF_UP) == 0) continue;
    if (kind == NET_PORT_VNIC) {
      const dev = deviceOf(e);
      if (dev == 0 || (load<u32>(dev, NETD_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0) continue;
      ctrlRun(sc, mb, dev, 8);
      const pairs = min<u32>(max<u32>(<u32>load<u16>(dev, NETD_CUR_PAIRS), 1), 16);
      for (let q: u32 = 0; q < pairs && done < limit; q++) {
        const want = min<u32>(mb, limit - done);
        const n = ingestTx(sw, sc, mb, dev, port, q, want);
        if (n <= 0) continue;
        pipeline(c, <u32>n, 0, dev);
        const vq = <usize>load<u32>(dev + 128 + ((<usize>q) << 3), 4);
        if (vqPush(vq, sc + <usize>offTxBurst(mb), <u32>n) < 0) {
          store<u32>(dev, load<u32>(dev, NETD_STATUS) | STATUS_DEVICE_NEEDS_RESET, NETD_STATUS);
        }
        done += <u32>n;
      }
    } else if (kind == NET_PORT_TUNNEL) {
      const tio = <usize>load<u32>(e, NET_PE_TARGET);
      if (!tioOk(tio)) continue;
      const ring = <usize>load<u32>(tio, NET_TIO_RX_RING);
      if (!ringOk(ring)) continue;
      const n = ingestTunnel(sw, sc, tio, ring, port, min<u32>(mb, limit - done), vnis);
      if (n == 0) continue;
      pipeline(c, n, vnis, 0);
      ringRelease(ring, n);
      done += n;
    }
  }
  store<u32>(sc, cursor, NET_SC_PORT_CURSOR);
  slotsFlush(sc, mb);
  bellsFlush(sc);
  if (load<u32>(sc, NET_SC_UPCALLED) != 0) {
    atomic.add<i32>(sw, 1, NET_SW_UPCALL_BELL);
    atomic.notify(sw + NET_SW_UPCALL_BELL, -1);
  }
  swStat(sw, NET_SW_STAT_BURSTS, 1);
  atomic.add<u32>(sw, 1, NET_SW_EPOCH);
  return <i32>done;
}
