import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { distFile, kernelFile } from '../common/package-paths.js';
import { featureWord } from '../common/virtio/features.js';
import { DpuCorePool } from '../dpu/core/core-pool.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { VsockDevice } from '../dpu/vsock/vsock-device.js';
import { VSOCK_F_STREAM } from '../generated/vsock.js';
import { Guest } from '../hypervisor/guest/guest.js';
import {
  DEFAULT_VSOCK_DRIVER,
  initVsockDriver,
  vsockDriverAreaBytes,
  type VsockDriverGeometry,
} from '../hypervisor/guest/virtio/vsock-driver.js';
import { HostMemory } from '../memory/host-memory.js';
import { HostAgent } from '../orchestrator/agent/host-agent.js';
import { timer } from './hv-timer.js';
import { vms } from './hv-vms.js';
import { containers } from './hv-instances.js';
import { drivers } from './hv-drivers.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';

/**
 * Suite "hv", the vsock part of the Zero hypervisor: the channel between the control plane and
 * the host (and guests), and what the host agent costs.
 *   vsock-stream        MB/s, control plane -> device on a DPU core -> a guest driver in another thread
 *                       peer: the same bytes over a Unix-domain socket to another thread
 *   vsock-rtt           64-byte echo round trip over the same path          peer: Unix-socket echo
 *   agent-rpc-rtt       AgentClient.ping() to the host agent (frames, JSON, both ends)   peer: Unix-socket echo
 *   agent-cpu-idle      the agent thread's CPU, % of one core, with no VM
 *   agent-cpu-100vms    the same with 100 VMs (16 MiB, 1 vCPU) running, managed (list + stats each second)
 *   vm-create-start, vms-100-up, vms-100-down   VMs through host.vms (hv-vms.ts)
 *   containers-1000-up, containers-1000-down     containers through host.instances (hv-instances.ts)
 *   vm-drivers-idle-cpu  idle guests that drive their own devices: their vCPUs' CPU (hv-drivers.ts)
 *   timer-alone, timer-shared, timer-relocated   the timer probe's lateness (hv-timer.ts)
 * Cases are interleaved with their peer, ctx.runs times; medians are reported. The DPU core
 * runs in adaptive mode for the stream (sustained traffic keeps it busy) and in interrupt mode
 * for the round trips and the agent (sparse request/response traffic: a core that spins
 * between requests takes a CPU the two ends need on a machine whose CPUs are shared).
 */
export async function run(ctx: BenchContext): Promise<void> {
  const memory = new HostMemory({ sizeBytes: 2 * 1024 ** 3 });
  const runtime = new LoaderRuntime(memory);
  // First, with no core of this suite's pool on the machine: the timer cases place their own.
  if (ctx.wants('timer-')) await timer(ctx, memory, runtime);
  const pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive' });
  try {
    await pool.loadKernel(runtime.kernel('vsock'));
    if (ctx.wants('vsock-stream') || ctx.wants('vsock-rtt')) await streams(ctx, memory, runtime, pool);
    if (ctx.wants('agent-')) await agent(ctx, memory, runtime, pool);
    const vmCases = [
      'vm-create-start',
      'vms-100-up',
      'vms-100-down',
      'vms-100-phases',
      'vms-100-up-dedicated',
      'vms-100-up-warm',
    ];
    if (vmCases.some((c) => ctx.wants(c))) await vms(ctx, memory, runtime, pool);
    if (ctx.wants('containers-1000-up') || ctx.wants('containers-1000-down'))
      await containers(ctx, memory, runtime, pool);
    if (ctx.wants('vm-drivers-idle-cpu')) await drivers(ctx, memory, runtime, pool);
  } finally {
    await pool.close();
  }
}

/** The guest driver of the stream cases: 64 KiB buffers (the Linux maximum packet), 256 KiB rings. */
const STREAM_DRIVER: VsockDriverGeometry = {
  ...DEFAULT_VSOCK_DRIVER,
  queueSize: 128,
  bufBytes: 65536 + 44,
  ringBytes: 256 << 10,
};

async function streams(
  ctx: BenchContext,
  memory: HostMemory,
  runtime: LoaderRuntime,
  pool: DpuCorePool,
): Promise<void> {
  const core = pool.cores[0]!;
  const guestKernel = runtime.kernel('guest');
  const areaBytes = vsockDriverAreaBytes(guestKernel, STREAM_DRIVER);
  const guest = new Guest(memory, {
    name: 'bench-guest',
    ramBytes: Math.ceil((areaBytes + (1 << 20)) / 65536) * 65536,
  });
  const dev = new VsockDevice(runtime, guest, 'bench:vsock', { guestCid: 3, ringBytes: 256 << 10, maxConns: 4 });
  const words = VsockDevice.notifyWordsOn(core);
  const { vs, rings } = initVsockDriver(
    guestKernel,
    memory.view,
    { base: guest.ramBase, bytes: guest.ramBytes },
    guest.allocGpa(areaBytes, 64),
    STREAM_DRIVER,
    {
      config: dev.configAddress,
      ...words,
      irq: dev.queueIrq,
    },
  );
  dev.negotiate(
    featureWord({ packed: false, eventIdx: true, indirect: false, inOrder: false }) | (1n << BigInt(VSOCK_F_STREAM)),
  );
  rings.forEach((r, i) =>
    dev.setQueue(i, { size: i === 2 ? STREAM_DRIVER.eventQueueSize : STREAM_DRIVER.queueSize, ...r }),
  );
  await dev.start(core);
  const vsockPeer = new Worker(distFile('src/bench/peers/vsock-peer-worker.js'), {
    workerData: { memory: memory.memory, guestKernel: kernelFile('guest'), vs, irq: dev.queueIrq },
  });
  const path = join(tmpdir(), `qingtian-hv-${process.pid}.sock`);
  const unixPeer = new Worker(distFile('src/bench/peers/unix-peer-worker.js'), { workerData: { path } });
  await new Promise((r) => unixPeer.once('message', r));
  const openVsock = async (): Promise<Duplex> => dev.host.connect(5000);
  const openUnix = (): Promise<Duplex> =>
    new Promise((resolve, reject) => {
      const s: Socket = connect(path, () => resolve(s));
      s.once('error', reject);
    });
  try {
    const bytes = (ctx.quick ? 16 : 128) << 20;
    if (ctx.wants('vsock-stream')) {
      await throughput(await openVsock(), 4 << 20); // warm-up
      const v: number[] = [];
      const u: number[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        v.push(await throughput(await openVsock(), bytes));
        u.push(await throughput(await openUnix(), bytes));
        ctx.progress(
          `stream run ${r + 1}/${ctx.runs}: vsock ${v.at(-1)!.toFixed(0)} MB/s, unix ${u.at(-1)!.toFixed(0)} MB/s`,
        );
      }
      ctx.report({
        case: 'vsock-stream',
        metric: 'throughput',
        value: median(v),
        unit: 'MB/s',
        better: 'higher',
        peer: { name: 'unix socket, 2 threads', value: median(u) },
      });
    }
    if (ctx.wants('vsock-rtt')) {
      await core.setMode('interrupt', 4096);
      const n = ctx.quick ? 500 : 5000;
      const vs: LatencySummary[] = [];
      const us: LatencySummary[] = [];
      await rtt(await openVsock(), 200);
      for (let r = 0; r < ctx.runs; r++) {
        vs.push(await rtt(await openVsock(), n));
        us.push(await rtt(await openUnix(), n));
      }
      const v = medianOf(vs);
      const u = medianOf(us);
      const peer = 'unix socket echo, 2 threads';
      ctx.report({
        case: 'vsock-rtt',
        metric: 'p50',
        value: v.p50,
        unit: 'µs',
        better: 'lower',
        peer: { name: peer, value: u.p50 },
      });
      ctx.report({
        case: 'vsock-rtt',
        metric: 'p99',
        value: v.p99,
        unit: 'µs',
        better: 'lower',
        peer: { name: peer, value: u.p99 },
      });
    }
  } finally {
    unixPeer.postMessage('stop');
    await vsockPeer.terminate();
    await dev.stop();
    dev.free();
    guest.destroy();
  }
}

/** Sends `bytes` to a sink (after the 'S' byte), waits for its count; MB/s over the whole exchange. */
async function throughput(s: Duplex, bytes: number): Promise<number> {
  const chunk = Buffer.alloc(64 << 10, 0x5a);
  const answer = new Promise<bigint>((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on('data', (b: Buffer) => parts.push(b));
    s.once('end', () => resolve(Buffer.concat(parts).readBigUInt64LE(0)));
    s.once('error', reject);
  });
  const t0 = process.hrtime.bigint();
  s.write('S');
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
  const got = await answer;
  const ns = Number(process.hrtime.bigint() - t0);
  s.destroy();
  if (got !== BigInt(bytes)) throw new Error(`sink counted ${got} bytes of ${bytes}`);
  return bytes / 1e6 / (ns / 1e9);
}

/** `n` sequential 64-byte echoes (after the 'E' byte); per-echo µs. */
async function rtt(s: Duplex, n: number): Promise<LatencySummary> {
  const msg = Buffer.alloc(64, 0x33);
  let want = 0;
  let got = 0;
  let wake: (() => void) | null = null;
  s.on('data', (b: Buffer) => {
    got += b.length;
    if (got >= want && wake) wake();
  });
  s.write('E');
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    want += 64;
    const t0 = process.hrtime.bigint();
    const back = new Promise<void>((r) => (wake = r));
    s.write(msg);
    if (got < want) await back;
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  s.destroy();
  return summarize(samples);
}

async function agent(ctx: BenchContext, memory: HostMemory, runtime: LoaderRuntime, pool: DpuCorePool): Promise<void> {
  const vms = 100;
  await pool.cores[0]!.setMode('interrupt', 4096);
  const host = await HostAgent.boot(
    { memory, runtime, dpu: pool },
    { poolBytes: (vms * 16 + 64) << 20, timeoutMs: 60_000 },
  );
  const path = join(tmpdir(), `qingtian-hv-rpc-${process.pid}.sock`);
  const unixPeer = new Worker(distFile('src/bench/peers/unix-peer-worker.js'), { workerData: { path } });
  await new Promise((r) => unixPeer.once('message', r));
  try {
    if (ctx.wants('agent-rpc-rtt')) {
      const n = ctx.quick ? 300 : 3000;
      for (let i = 0; i < 100; i++) await host.client.ping();
      const rs: LatencySummary[] = [];
      const us: LatencySummary[] = [];
      for (let r = 0; r < ctx.runs; r++) {
        const samples = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const t0 = process.hrtime.bigint();
          await host.client.ping();
          samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
        }
        rs.push(summarize(samples));
        us.push(
          await rtt(
            await new Promise<Duplex>((resolve) => {
              const s: Socket = connect(path, () => resolve(s));
            }),
            n,
          ),
        );
      }
      const peer = { name: 'unix socket echo, 2 threads', value: medianOf(us).p50 };
      ctx.report({ case: 'agent-rpc-rtt', metric: 'p50', value: medianOf(rs).p50, unit: 'µs', better: 'lower', peer });
    }
    const windowMs = ctx.quick ? 2_000 : 10_000;
    if (ctx.wants('agent-cpu-idle')) {
      const idle: number[] = [];
      for (let r = 0; r < ctx.runs; r++) idle.push(await agentCpu(host, windowMs));
      ctx.report({
        case: 'agent-cpu-idle',
        metric: 'cpu',
        value: median(idle),
        unit: '% of a core',
        better: 'lower',
        target: 1,
      });
    }
    if (ctx.wants('agent-cpu-100vms')) {
      ctx.progress(`creating and starting ${vms} VMs (16 MiB, 1 vCPU)`);
      const ids: number[] = [];
      for (let i = 0; i < vms; i++)
        ids.push((await host.client.createVm({ name: `bench-${i}`, vcpus: 1, memoryMiB: 16 })).id);
      await Promise.all(ids.map((id) => host.client.startVm(id)));
      await new Promise((r) => setTimeout(r, 1_000)); // let the vCPU threads settle into their idle loop
      const busy: number[] = [];
      for (let r = 0; r < ctx.runs; r++) busy.push(await agentCpu(host, windowMs));
      ctx.report({
        case: 'agent-cpu-100vms',
        metric: 'cpu',
        value: median(busy),
        unit: '% of a core',
        better: 'lower',
        target: 1,
      });
      await Promise.all(ids.map((id) => host.client.destroyVm(id)));
    }
  } finally {
    unixPeer.postMessage('stop');
    await host.stop();
  }
}

/** The agent thread's CPU over `windowMs`, as the control plane manages it (list + stats every second). */
async function agentCpu(host: HostAgent, windowMs: number): Promise<number> {
  const a = await host.client.stats();
  const t0 = performance.now();
  while (performance.now() - t0 < windowMs) {
    await new Promise((r) => setTimeout(r, 1_000));
    await host.client.listVms();
    await host.client.stats();
  }
  const b = await host.client.stats();
  const wallMs = b.uptimeMs - a.uptimeMs;
  return ((b.cpuNs - a.cpuNs) / 1e6 / wallMs) * 100;
}
