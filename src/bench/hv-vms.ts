import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { kernelFile } from '../common/package-paths.js';
import type { DpuCorePool } from '../dpu/core/core-pool.js';
import type { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import type { HostMemory } from '../memory/host-memory.js';
import { VmManager } from '../orchestrator/vms/vm-manager.js';
import type { Vm } from '../orchestrator/vms/vm.js';
import type { BenchContext } from './lib/report.js';
import { median, medianOf, summarize, type LatencySummary } from './lib/stats.js';

const VMS = 100;

/**
 * The VM part of suite "hv", through host.vms (the control plane -> vsock -> host agent):
 *   vm-create-start   one VM (16 MiB, 1 vCPU) created and started, then the next: p50 and p99, ms
 *                     peer: starting a bare Node worker thread (what each vCPU thread costs at least)
 *   vms-100-up        100 such VMs created and started at once: ms until the last runs (target 2000);
 *                     their vCPUs bound to the host agent's guest CPUs (placement 'shared', the default)
 *                     peer: 100 bare Node worker threads started at once (one thread per vCPU at least)
 *   vms-100-down      the same 100 VMs stopped and destroyed at once (RAM scrubbed): ms
 *   vms-100-phases    where vms-100-up's time goes: the 100 creates, the 100 starts, 100 agent
 *                     pings at once over vsock, one compile of the guest kernel, 100 instantiations
 *   vms-100-up-dedicated  vms-100-up with a thread started per vCPU (placement 'dedicated'), cold
 *   vms-100-up-warm   the same with 100 dedicated vCPU threads started ahead and kept between runs (keepVcpus)
 * Every run destroys its VMs; the core is in interrupt mode (sparse control traffic).
 */
export async function vms(
  ctx: BenchContext,
  memory: HostMemory,
  runtime: LoaderRuntime,
  pool: DpuCorePool,
): Promise<void> {
  await pool.cores[0]!.setMode('interrupt', 4096);
  const manager = new VmManager({ memory, runtime, dpu: pool }, { poolMiB: VMS * 16 + 64, timeoutMs: 120_000 });
  try {
    await manager.agentStats();
    const seq: LatencySummary[] = [];
    const peer: LatencySummary[] = [];
    const all: number[] = [];
    const allPeer: number[] = [];
    const down: number[] = [];
    const dedicated: number[] = [];
    const phases = {
      create: [] as number[],
      start: [] as number[],
      ping: [] as number[],
      compile: [] as number[],
      instantiate: [] as number[],
    };
    for (let r = 0; r < ctx.runs; r++) {
      if (ctx.wants('vm-create-start')) {
        const n = ctx.quick ? 30 : VMS;
        const samples = new Float64Array(n);
        const bare = new Float64Array(n);
        const made: Vm[] = [];
        for (let i = 0; i < n; i++) {
          let t0 = performance.now();
          const vm = await manager.create({ name: `seq-${i}`, vcpus: 1, memoryMiB: 16 });
          made.push(vm);
          await vm.start();
          samples[i] = performance.now() - t0;
          t0 = performance.now();
          const w = new Worker('', { eval: true });
          await new Promise((resolve) => w.once('online', resolve));
          bare[i] = performance.now() - t0;
          await w.terminate();
        }
        seq.push(summarize(samples));
        peer.push(summarize(bare));
        ctx.progress(
          `run ${r + 1}/${ctx.runs}: create+start p50 ${seq.at(-1)!.p50.toFixed(1)} ms, bare worker ${peer.at(-1)!.p50.toFixed(1)} ms`,
        );
        await Promise.all(made.map((vm) => vm.destroy()));
      }
      if (ctx.wants('vms-100-up') || ctx.wants('vms-100-down') || ctx.wants('vms-100-phases')) {
        let t0 = performance.now();
        const made = await Promise.all(
          Array.from({ length: VMS }, (_, i) => manager.create({ name: `up-${i}`, vcpus: 1, memoryMiB: 16 })),
        );
        const created = performance.now();
        await Promise.all(made.map((vm) => vm.start()));
        all.push(performance.now() - t0);
        phases.create.push(created - t0);
        phases.start.push(performance.now() - created);
        t0 = performance.now();
        await Promise.all(made.map((vm) => vm.stop()));
        await Promise.all(made.map((vm) => vm.destroy()));
        down.push(performance.now() - t0);
        allPeer.push(await bareWorkers(VMS));
        const client = (await manager.hostAgent()).client;
        t0 = performance.now();
        await Promise.all(Array.from({ length: VMS }, () => client.ping()));
        phases.ping.push(performance.now() - t0);
        t0 = performance.now();
        const module = new WebAssembly.Module(readFileSync(kernelFile('guest')));
        phases.compile.push(performance.now() - t0);
        t0 = performance.now();
        for (let i = 0; i < VMS; i++) new WebAssembly.Instance(module, { env: { memory: memory.memory } });
        phases.instantiate.push(performance.now() - t0);
        ctx.progress(
          `run ${r + 1}/${ctx.runs}: ${VMS} VMs up in ${all.at(-1)!.toFixed(0)} ms, down in ${down.at(-1)!.toFixed(0)} ms; ${VMS} bare workers ${allPeer.at(-1)!.toFixed(0)} ms`,
        );
      }
      if (ctx.wants('vms-100-up-dedicated')) {
        const t0 = performance.now();
        const made = await Promise.all(
          Array.from({ length: VMS }, (_, i) =>
            manager.create({ name: `ded-${i}`, vcpus: 1, memoryMiB: 16, vcpuPlacement: 'dedicated' }),
          ),
        );
        await Promise.all(made.map((vm) => vm.start()));
        dedicated.push(performance.now() - t0);
        ctx.progress(
          `run ${r + 1}/${ctx.runs}: ${VMS} VMs with dedicated vCPU threads up in ${dedicated.at(-1)!.toFixed(0)} ms`,
        );
        await Promise.all(made.map((vm) => vm.destroy()));
      }
    }
    if (seq.length) {
      const m = medianOf(seq);
      const p = medianOf(peer);
      const name = 'bare Node worker thread start';
      ctx.report({
        case: 'vm-create-start',
        metric: 'p50',
        value: m.p50,
        unit: 'ms',
        better: 'lower',
        peer: { name, value: p.p50 },
      });
      ctx.report({
        case: 'vm-create-start',
        metric: 'p99',
        value: m.p99,
        unit: 'ms',
        better: 'lower',
        peer: { name, value: p.p99 },
      });
    }
    if (all.length) {
      ctx.report({
        case: 'vms-100-up',
        metric: 'wall',
        value: median(all),
        unit: 'ms',
        better: 'lower',
        target: 2000,
        peer: { name: `${VMS} bare Node worker threads started at once`, value: median(allPeer) },
      });
      ctx.report({ case: 'vms-100-down', metric: 'wall', value: median(down), unit: 'ms', better: 'lower' });
      for (const [metric, v] of Object.entries(phases))
        ctx.report({ case: 'vms-100-phases', metric, value: median(v), unit: 'ms', better: 'lower' });
    }
    if (dedicated.length)
      ctx.report({
        case: 'vms-100-up-dedicated',
        metric: 'wall',
        value: median(dedicated),
        unit: 'ms',
        better: 'lower',
        target: 2000,
      });
  } finally {
    await manager.close();
  }
  if (ctx.wants('vms-100-up-warm')) await warmUp(ctx, memory, runtime, pool);
}

/** vms-100-up with 100 vCPU threads started ahead (keepVcpus 100, vms.warm(100)): the start without thread starts. */
async function warmUp(ctx: BenchContext, memory: HostMemory, runtime: LoaderRuntime, pool: DpuCorePool) {
  const manager = new VmManager(
    { memory, runtime, dpu: pool },
    { poolMiB: VMS * 16 + 64, timeoutMs: 120_000, keepVcpus: VMS },
  );
  try {
    const all: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      await manager.warm(VMS);
      const t0 = performance.now();
      const made = await Promise.all(
        Array.from({ length: VMS }, (_, i) =>
          manager.create({ name: `warm-${i}`, vcpus: 1, memoryMiB: 16, vcpuPlacement: 'dedicated' }),
        ),
      );
      await Promise.all(made.map((vm) => vm.start()));
      all.push(performance.now() - t0);
      ctx.progress(
        `run ${r + 1}/${ctx.runs}: ${VMS} VMs created and started on warm vCPU threads in ${all.at(-1)!.toFixed(0)} ms`,
      );
      await Promise.all(made.map((vm) => vm.destroy()));
    }
    ctx.report({
      case: 'vms-100-up-warm',
      metric: 'wall',
      value: median(all),
      unit: 'ms',
      better: 'lower',
      target: 2000,
    });
  } finally {
    await manager.close();
  }
}

/** ms until `n` bare Node worker threads started at once are all online (then they end). */
export async function bareWorkers(n: number): Promise<number> {
  const t0 = performance.now();
  const ws = Array.from({ length: n }, () => new Worker('', { eval: true }));
  await Promise.all(ws.map((w) => new Promise((resolve) => w.once('online', resolve))));
  const ms = performance.now() - t0;
  await Promise.all(ws.map((w) => w.terminate()));
  return ms;
}
