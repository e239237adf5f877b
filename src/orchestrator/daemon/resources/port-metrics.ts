import { BURST_BOUNDS_S, emptyLatency } from '../../../dpu/core/burst-latency.js';
import type { HostNetwork } from '../../../dpu/net/host-network.js';
import { labelValue, PromHistogram, type ByteSink, type SeriesMemo } from '../prom-text.js';

const SWITCH_BURSTS = new PromHistogram(
  'qingtian_switch_burst_duration_seconds',
  'How long each burst of the vSwitch held its DPU core (one call that did work: frames of every port ' +
    'through the fast path, re-injections after upcalls, downcalls), timed by the core from its previous clock read of the pass',
  BURST_BOUNDS_S,
);
const SWITCH_BURST_SERIES = SWITCH_BURSTS.series('');
/**
 * The buckets the per-port and per-disk histograms print: the decades of BURST_BOUNDS_S (their
 * cumulative counts are exact), 9 lines a series instead of 19, for a page of hundreds of them.
 */
export const BURST_DECADES_S: readonly number[] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.1];

const PORT_BURSTS = new PromHistogram(
  'qingtian_port_burst_duration_seconds',
  'Per frame a port sent into the vSwitch (its packets in), the duration of the switch burst that took the frame in, ' +
    'timed by the DPU core: for a frame the fast path forwarded, an upper bound of its time from TX pop to delivery; ' +
    'a frame sent to the slow path is observed at that first burst only (its wait for the answer is not in it)',
  BURST_BOUNDS_S,
  BURST_DECADES_S,
);
const PORT_SLOW = new PromHistogram(
  'qingtian_port_slow_path_duration_seconds',
  "Per frame re-injected on a port after an upcall (a flow's first packets through the slow path), the time from the " +
    'switch burst that sent it up to the burst that re-injected it, each taken at the start of its burst by the DPU core ' +
    'clock; a re-injection answering an upcall more than 1024 upcalls old is not observed',
  BURST_BOUNDS_S,
  BURST_DECADES_S,
);
/** Per port name: its series prefixes (made once) and what each histogram printed last. */
const portSeries = new Map<string, { prefixes: Buffer[]; memo: SeriesMemo; slow: Buffer[]; slowMemo: SeriesMemo }>();

/**
 * Prometheus families of the VM ports on the vSwitch, read out of band from the switch's
 * per-port counters: packets and bytes in (from the guest) and out (to it), and drops on the
 * way out. A port not on the switch (not attached) has no series. Also the flows the fast path
 * holds, the switch's burst durations, and per port the durations of the bursts that took its
 * frames in (one observation per frame) and the time its re-injected frames spent in the slow path.
 */
export function portMetrics(net: HostNetwork | null, page: ByteSink): void {
  const s = net?.stats() ?? null;
  const ports = Object.entries(s?.ports ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const out = [
    '# HELP qingtian_port_packets_total Packets through a switch port (in: from the guest or tunnel, out: to it)',
    '# TYPE qingtian_port_packets_total counter',
  ];
  for (const [name, p] of ports)
    out.push(
      `qingtian_port_packets_total{port="${name}",direction="in"} ${p.inPackets}`,
      `qingtian_port_packets_total{port="${name}",direction="out"} ${p.outPackets}`,
    );
  out.push(
    '# HELP qingtian_port_bytes_total Bytes through a switch port (in: from the guest or tunnel, out: to it)',
    '# TYPE qingtian_port_bytes_total counter',
  );
  for (const [name, p] of ports)
    out.push(
      `qingtian_port_bytes_total{port="${name}",direction="in"} ${p.inBytes}`,
      `qingtian_port_bytes_total{port="${name}",direction="out"} ${p.outBytes}`,
    );
  out.push(
    '# HELP qingtian_port_dropped_packets_total Packets to a port dropped on output',
    '# TYPE qingtian_port_dropped_packets_total counter',
    ...ports.map(([name, p]) => `qingtian_port_dropped_packets_total{port="${name}"} ${p.outDrops}`),
    '# HELP qingtian_switch_flows Flows the vSwitch fast path holds',
    '# TYPE qingtian_switch_flows gauge',
    `qingtian_switch_flows ${s?.switch.flows ?? 0}`,
  );
  page.latin1(out.join('\n') + '\n');
  SWITCH_BURSTS.observe(SWITCH_BURST_SERIES, net?.switchBurstLatency() ?? emptyLatency());
  SWITCH_BURSTS.flush(page);
  const hists = net?.portBurstLatency() ?? {};
  const slow = net?.portSlowPathLatency() ?? {};
  for (const [name] of ports) {
    const h = hists[name];
    const hs = slow[name];
    if (!h || !hs) continue;
    let ps = portSeries.get(name);
    if (!ps) {
      const l = `port="${labelValue(name)}"`;
      ps = {
        prefixes: PORT_BURSTS.series(l),
        memo: { count: -1, sum: -1, bytes: null },
        slow: PORT_SLOW.series(l),
        slowMemo: { count: -1, sum: -1, bytes: null },
      };
      portSeries.set(name, ps);
    }
    PORT_BURSTS.observeMemo(ps.prefixes, h, 0, ps.memo);
    PORT_SLOW.observeMemo(ps.slow, hs, 0, ps.slowMemo);
  }
  PORT_BURSTS.flush(page);
  PORT_SLOW.flush(page);
}
