import { ccSetup, type CcName } from '../../netsim/cc-config.js';
import { percentile } from '../../netsim/metrics.js';
import { compileNetwork } from '../../netsim/network.js';
import { readFlows, readSeries } from '../../netsim/results.js';
import { Simulation } from '../../netsim/simulation.js';
import { incastStar } from '../../netsim/topology.js';
import { incastFlows } from '../../netsim/workload.js';
import type { DemoChapter } from './demo-context.js';

const SIM_MS = 10;
const BUFFER_BYTES = 4_000_000; // a shallow-buffer switch, so that PFC has something to do

/**
 * Chapter "congestion control": a 16 -> 1 incast at 100 Gb/s, simulated packet by packet in the
 * netsim kernel (in this host's memory), with LDCP-style (no PFC) against DCQCN with PFC, as
 * the HPCC authors run it (with a BDP window) and rate-only.
 */
export const congestionControl: DemoChapter = {
  title: 'Congestion control: 16 -> 1 incast, LDCP-style vs DCQCN',
  async run({ host, say, record }) {
    const net = compileNetwork(incastStar(16));
    const flows = incastFlows(net.hosts.slice(0, 16), net.hosts[16]!, 2e9);
    const bottleneck = net.portPeer[net.firstPort[net.hosts[16]!]!]!;
    say(
      `16 senders -> 1 receiver on one switch (${BUFFER_BYTES / 1e6} MB shared buffer), 100 Gb/s links, ${SIM_MS} ms of simulated time per algorithm`,
    );
    for (const cc of ['ldcp', 'dcqcn', 'dcqcn-nowin'] as CcName[]) {
      const sim = Simulation.create({
        network: net,
        flows,
        cc: ccSetup(cc),
        seed: 1,
        bufferBytes: BUFFER_BYTES,
        monitorPorts: [bottleneck],
        runtime: host.runtime,
      });
      try {
        const t0 = performance.now();
        sim.runUntil(SIM_MS * 1e9);
        const wall = (performance.now() - t0) / 1000;
        const q = readSeries(sim)
          .map((s) => s.bytes)
          .sort((a, b) => a - b);
        const gbps = (readFlows(sim).reduce((s, f) => s + f.ackedBytes, 0) * 8) / (SIM_MS * 1e-3) / 1e9;
        const ev = sim.counter('C_EVENTS');
        const line = `queue p50 ${(percentile(q, 50) / 1e3).toFixed(0)} KB p99 ${(percentile(q, 99) / 1e3).toFixed(0)} KB, PFC pauses ${sim.counter('C_PAUSES')}, drops ${sim.counter('C_DROPS')}, goodput ${gbps.toFixed(1)} Gb/s`;
        say(
          `  ${cc.padEnd(11)} PFC ${sim.pfc ? 'on ' : 'off'}: ${line}  (${(ev / 1e6).toFixed(2)} M events in ${wall.toFixed(2)} s, ${(ev / wall / 1e6).toFixed(1)} M events/s)`,
        );
        record(`incast 16->1, ${cc}${sim.pfc ? ' + PFC' : ', no PFC'}`, line);
      } finally {
        sim.dispose();
      }
    }
  },
};
