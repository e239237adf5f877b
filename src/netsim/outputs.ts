import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { histPercentile } from './histogram.js';
import { SHORT_FLOW_BYTES } from './metrics.js';
import type { AlgorithmResult, Scenario } from './scenario.js';
import { slowdownSvg } from './slowdown-chart.js';

/**
 * The `summary.json` document: the schema in docs/congestion-control.md, "Commands", plus the
 * scenario and a few extra figures.
 */
export function summaryOf(s: Scenario, results: readonly AlgorithmResult[]): Record<string, unknown> {
  const algorithms: Record<string, unknown> = {};
  for (const r of results) {
    algorithms[r.cc] = {
      shortFlowP99Slowdown: r.short.p99,
      shortFlowP95Slowdown: r.short.p95,
      bins: r.bins.map((b) => ({ maxSize: b.maxSize, p50: b.p50, p95: b.p95, p99: b.p99 })),
      pfcPauses: r.pfcPauses,
      drops: r.drops,
      maxQueueBytes: r.maxQueueBytes,
      p99QueueBytes: r.p99QueueBytes,
      events: r.events,
      eventsPerSec: r.eventsPerSec,
      // extras
      pfc: r.pfc,
      shortFlowP50Slowdown: r.short.p50,
      shortFlows: r.short.count,
      flows: r.flows.length,
      finishedFlows: r.finished,
      retransmissions: r.retransmits,
      timeouts: r.timeouts,
      packetHops: r.packetHops,
      packetsPerSec: r.packetsPerSec,
      wallSeconds: r.wallS,
      jainIndex: r.jainIndex,
      baseRttUs: r.baseRttPs / 1e6,
    };
  }
  return {
    scenario: {
      topology: s.topology.name,
      workload: s.cdf?.name ?? null,
      load: s.load,
      durationS: s.durationS,
      seed: s.seed,
      pfc: s.pfc === undefined ? 'per algorithm' : s.pfc ? 'on' : 'off',
      shortFlowCutBytes: SHORT_FLOW_BYTES,
    },
    algorithms,
  };
}

/**
 * Writes <dir>/summary.json, bins.csv, slowdown.svg, and per algorithm <cc>-flows.csv,
 * <cc>-ports.csv and <cc>-queues.json (switch-port queue histograms and the bottleneck series).
 */
export function writeOutputs(dir: string, s: Scenario, results: readonly AlgorithmResult[]): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const put = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    files.push(name);
  };
  put('summary.json', JSON.stringify(summaryOf(s, results), null, 2) + '\n');
  const bins = ['cc,bin,max_size,count,p50,p95,p99'];
  for (const r of results)
    r.bins.forEach((b, i) => bins.push(`${r.cc},${i},${b.maxSize},${b.count},${b.p50},${b.p95},${b.p99}`));
  put('bins.csv', bins.join('\n') + '\n');
  for (const r of results) {
    const fl = [
      'index,src,dst,size_bytes,start_ps,finish_ps,fct_ps,ideal_ps,slowdown,retransmits,timeouts,acked_bytes,throughput_bps',
    ];
    for (const f of r.flows)
      fl.push(
        `${f.index},${f.src},${f.dst},${f.sizeBytes},${f.startPs},${f.finishPs},${f.fctPs},${Math.round(f.idealPs)},${Number.isNaN(f.slowdown) ? '' : f.slowdown.toFixed(4)},${f.retransmits},${f.timeouts},${f.ackedBytes},${Math.round(f.throughputBps)}`,
      );
    put(`${r.cc}-flows.csv`, fl.join('\n') + '\n');
    const pt = [
      'port,node,peer_node,switch,rate_bps,tx_bytes,data_packets,drops,pauses_sent,paused_ps,max_queue_bytes,p50_queue_bytes,p99_queue_bytes',
    ];
    for (const p of r.ports)
      pt.push(
        `${p.port},${p.node},${p.peerNode},${p.isSwitch ? 1 : 0},${p.rateBps},${p.txBytes},${p.dataPackets},${p.drops},${p.pausesSent},${p.pausedPs},${p.maxQueueBytes},${histPercentile(p.hist, 50)},${histPercentile(p.hist, 99)}`,
      );
    put(`${r.cc}-ports.csv`, pt.join('\n') + '\n');
    const hist: Record<string, number[]> = {};
    for (const p of r.ports) if (p.isSwitch && p.dataPackets > 0) hist[String(p.port)] = Array.from(p.hist);
    put(
      `${r.cc}-queues.json`,
      JSON.stringify({
        binning: 'bin < 16: [bin, bin+1) KiB; then 8 log-linear bins per power of two (src/netsim/histogram.ts)',
        samplePeriodNs: 1000,
        histograms: hist,
        series: r.series,
      }) + '\n',
    );
  }
  put(
    'slowdown.svg',
    slowdownSvg(
      `FCT slowdown — ${s.topology.name.split('/').pop()}, ${s.cdf?.name.split('/').pop() ?? 'no workload'} at ${Math.round(s.load * 100)}% load`,
      results.map((r) => ({ name: `${r.cc}${r.pfc ? ' (PFC)' : ' (no PFC)'}`, bins: r.bins })),
    ),
  );
  return files;
}
