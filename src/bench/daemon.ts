import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../orchestrator/daemon/daemon.js';
import { DaemonClient } from '../orchestrator/daemon/daemon-client.js';
import type { BenchContext } from './lib/report.js';
import { medianOf, summarize, type LatencySummary } from './lib/stats.js';

/**
 * VMs the daemon holds while it is measured: each running, with a vsock device, a NIC on a
 * port of its own and a disk, whose counters and burst histograms a scrape reads.
 */
const VMS = 100;

/**
 * Suite "daemon": the host daemon's API over its Unix socket, one keep-alive client, one request
 * at a time, with 100 VMs running (10 with --quick), each with a vsock device, a NIC and a disk.
 *   get-host        GET /host round trip                  peer: node:http on a Unix socket answering the same bytes
 *   metrics-scrape  GET /metrics round trip (render + send) peer: the same, answering the same page
 * The peer is the floor an HTTP answer costs here (no routing, no schema, no rendering). Runs
 * alternate ours and the peer; the medians of the per-run percentiles are reported.
 */
export async function run(ctx: BenchContext): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'qt-bench-daemon-'));
  const vms = ctx.quick ? 10 : VMS;
  const daemon = await Daemon.start({
    socketPath: join(dir, 'api.sock'),
    dataDir: join(dir, 'data'),
    host: {
      // 2 MiB a VM, 192 for the rest, 40 for the network's slow path on its core (arena, log).
      memory: { sizeBytes: (vms * 2 + 232) << 20 },
      dpu: { cores: 2, mode: 'adaptive' },
      vms: { poolMiB: vms * 2 + 32, timeoutMs: 120_000 },
    },
  });
  const ours = new DaemonClient(daemon.address.socketPath);
  let peerServer: Server | null = null;
  let peer: DaemonClient | null = null;
  try {
    const put = async (path: string, body?: unknown): Promise<void> => {
      const r = await ours.send('PUT', path, body);
      if (r.status !== 200) throw new Error(`bench daemon: PUT ${path} answered ${r.status}: ${r.text}`);
    };
    await put('/kernels/core');
    await put('/vpcs/bench', { cidr: '198.18.0.0/16' });
    await put('/subnets/vms', { vpc: 'bench', cidr: '198.18.0.0/20' });
    const t0 = performance.now();
    for (let i = 0; i < vms; i++) {
      await put(`/ports/p-${i}`, { subnet: 'vms', ip: `198.18.${1 + (i >> 7)}.${10 + (i & 127)}` });
      await put(`/vms/vm-${i}`, {
        vcpus: 1,
        memoryMiB: 2,
        devices: [
          { kind: 'vsock', cid: 100 + i, core: i % 2, guestAgent: false },
          { kind: 'net', port: `p-${i}` },
          { kind: 'blk', backend: 'null', capacityMiB: 1 },
        ],
      });
      if (i % 10 === 9) ctx.progress(`${i + 1}/${vms} VMs running`);
    }
    ctx.progress(`${vms} VMs up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const hostBody = (await ours.send('GET', '/host')).text;
    const metricsBody = (await ours.send('GET', '/metrics')).text;
    ctx.progress(
      `/metrics page with ${vms} VMs: ${metricsBody.split('\n').length - 1} lines, ${metricsBody.length} bytes`,
    );
    peerServer = createServer((req, res) => {
      const metrics = req.url === '/metrics';
      res.writeHead(200, {
        'content-type': metrics ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json',
      });
      res.end(metrics ? metricsBody : hostBody);
    });
    const peerSock = join(dir, 'peer.sock');
    await new Promise<void>((resolve) => peerServer!.listen(peerSock, resolve));
    peer = new DaemonClient(peerSock);

    const n = ctx.quick ? 300 : 2_000;
    for (const [name, path] of [
      ['get-host', '/host'],
      ['metrics-scrape', '/metrics'],
    ] as const) {
      if (!ctx.wants(name)) continue;
      await timeRequests(ours, path, 200);
      await timeRequests(peer, path, 200);
      const oursRuns: LatencySummary[] = [];
      const peerRuns: LatencySummary[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        oursRuns.push(await timeRequests(ours, path, n));
        peerRuns.push(await timeRequests(peer, path, n));
      }
      const o = medianOf(oursRuns);
      const p = medianOf(peerRuns);
      for (const metric of ['p50', 'p99'] as const) {
        ctx.report({
          case: name,
          metric,
          value: o[metric],
          unit: 'us',
          better: 'lower',
          peer: { name: 'node-http-static', value: p[metric] },
          ...(name === 'metrics-scrape' && metric === 'p99' ? { target: 10_000 } : {}),
        });
      }
      ctx.progress(`${name} done`);
    }
  } finally {
    ours.close();
    peer?.close();
    peerServer?.close();
    await daemon.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function timeRequests(client: DaemonClient, path: string, n: number): Promise<LatencySummary> {
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const r = await client.send('GET', path);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    if (r.status !== 200) throw new Error(`bench daemon: GET ${path} answered ${r.status}`);
  }
  return summarize(samples);
}
