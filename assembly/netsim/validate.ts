// sim_init's check of a state region written by the TS side: every area inside the region, every
// index in range, every flow between two hosts. The event loop then trusts these indices
// (docs/design.md, convention 20: validate once into a context, then trust it), which is what makes
// its raw loads safe.
import { CC_FLOW_BYTES, CC_PARAMS_BYTES } from '../cc/layout';
import { HDR_SIZE_BYTES } from '../common/header';
import { evqBytes } from './event-queue';
import * as L from './layout';

@inline function inside(st: usize, off: usize, bytes: u64, size: u64): bool {
  const at = <u64>load<u32>(st + off);
  return at >= <u64>L.CONFIG_BYTES && at + bytes <= size;
}

export function validState(st: usize): bool {
  const size = <u64>load<u32>(st, HDR_SIZE_BYTES);
  const nodes = <u64>load<u32>(st, L.C_NODES);
  const ports = <u64>load<u32>(st, L.C_PORTS);
  const hosts = <u64>load<u32>(st, L.C_HOSTS);
  const switches = <u64>load<u32>(st, L.C_SWITCHES);
  const flows = <u64>load<u32>(st, L.C_FLOWS);
  const pkts = <u64>load<u32>(st, L.C_PKT_CAP);
  const rports = <u64>load<u32>(st, L.C_RPORTS);
  const intOn = (load<u32>(st, L.C_FLAGS) & L.CF_INT) != 0;
  if (nodes == 0 || ports == 0 || hosts == 0 || pkts == 0 || load<u32>(st, L.C_MTU) == 0) return false;
  if (load<u32>(st, L.C_INFLIGHT_CAP) == 0 || load<u32>(st, L.C_INFLIGHT_CAP) > L.SACK_BITS) return false;
  if (!inside(st, L.C_OFF_NODES, nodes * L.NODE_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_PORTS, ports * L.PORT_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_ROUTE, switches * hosts * 4, size)) return false;
  if (!inside(st, L.C_OFF_RPORTS, rports * 4, size)) return false;
  if (!inside(st, L.C_OFF_FLOWS, flows * L.FLOW_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_CC, flows * CC_FLOW_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_PARAMS, CC_PARAMS_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_PKTS, pkts * L.PKT_BYTES, size)) return false;
  if (intOn && !inside(st, L.C_OFF_INT, pkts * L.PKT_INT_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_HIST, ports * L.HIST_BINS * 4, size)) return false;
  if (!inside(st, L.C_OFF_SERIES, <u64>load<u32>(st, L.C_SERIES_CAP) * L.SERIES_BYTES, size)) return false;
  if (!inside(st, L.C_OFF_EVQ, <u64>evqBytes(load<u32>(st, L.C_EVQ_CAP)), size)) return false;
  const nodeBase = st + <usize>load<u32>(st, L.C_OFF_NODES);
  let hostCount: u64 = 0;
  let switchCount: u64 = 0;
  for (let i: u64 = 0; i < nodes; i++) {
    const n = nodeBase + <usize>(i * L.NODE_BYTES);
    const kind = load<u32>(n, L.N_KIND);
    const first = <u64>load<u32>(n, L.N_FIRST_PORT);
    const count = <u64>load<u32>(n, L.N_PORT_COUNT);
    if (first + count > ports) return false;
    if (kind == L.NK_HOST) {
      if (count != 1 || <u64>load<u32>(n, L.N_INDEX) >= hosts) return false;
      hostCount++;
    } else if (kind == L.NK_SWITCH) {
      if (<u64>load<u32>(n, L.N_INDEX) >= switches) return false;
      switchCount++;
    } else return false;
  }
  if (hostCount != hosts || switchCount != switches) return false;
  const portBase = st + <usize>load<u32>(st, L.C_OFF_PORTS);
  for (let i: u64 = 0; i < ports; i++) {
    const p = portBase + <usize>(i * L.PORT_BYTES);
    if (
      <u64>load<u32>(p, L.PT_NODE) >= nodes ||
      <u64>load<u32>(p, L.PT_PEER) >= ports ||
      load<u32>(p, L.PT_PS_PER_BYTE) == 0
    )
      return false;
    if (load<u32>(p, L.PT_KMAX) < load<u32>(p, L.PT_KMIN)) return false;
  }
  const route = st + <usize>load<u32>(st, L.C_OFF_ROUTE);
  for (let i: u64 = 0; i < switches * hosts; i++) {
    const e = load<u32>(route + <usize>(i * 4));
    if (<u64>(e >> L.ROUTE_FIRST_SHIFT) + <u64>(e & ((1 << L.ROUTE_FIRST_SHIFT) - 1)) > rports) return false;
  }
  const rp = st + <usize>load<u32>(st, L.C_OFF_RPORTS);
  for (let i: u64 = 0; i < rports; i++) if (<u64>load<u32>(rp + <usize>(i * 4)) >= ports) return false;
  const flowBase = st + <usize>load<u32>(st, L.C_OFF_FLOWS);
  const mtu = <u64>load<u32>(st, L.C_MTU);
  let prevStart: i64 = 0;
  for (let i: u64 = 0; i < flows; i++) {
    const f = flowBase + <usize>(i * L.FLOW_BYTES);
    const src = <u64>load<u32>(f, L.F_SRC);
    const dst = <u64>load<u32>(f, L.F_DST);
    if (src >= nodes || dst >= nodes || src == dst) return false;
    if (load<u32>(nodeBase + <usize>(src * L.NODE_BYTES), L.N_KIND) != L.NK_HOST) return false;
    if (load<u32>(nodeBase + <usize>(dst * L.NODE_BYTES), L.N_KIND) != L.NK_HOST) return false;
    const bytes = <u64>load<u32>(f, L.F_SIZE);
    if (bytes == 0 || <u64>load<u32>(f, L.F_PKTS) != (bytes + mtu - 1) / mtu) return false;
    const start = load<i64>(f, L.F_START_PS);
    if (start < prevStart) return false;
    prevStart = start;
  }
  return true;
}
