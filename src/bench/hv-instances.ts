import { readFileSync } from 'node:fs';
import { ErrorCode, QingtianError } from '../common/errors.js';
import { kernelFile } from '../common/package-paths.js';
import type { DpuCorePool } from '../dpu/core/core-pool.js';
import type { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import type { HostMemory } from '../memory/host-memory.js';
import { InstanceManager } from '../orchestrator/instances/instance-manager.js';
import { VmManager } from '../orchestrator/vms/vm-manager.js';
import type { BenchContext } from './lib/report.js';
import { median } from './lib/stats.js';

const N = 1000;

/**
 * The container part of suite "hv", through host.instances (control plane -> vsock -> host
 * agent -> the container host's table; requests of one turn batched):
 *   containers-1000-up    1,000 containers (1 MiB, idle task) created and started at once: ms
 *                         until the last runs (target 1000). The container host is up before
 *                         (it comes up with the first container, as a node before its pods).
 *                         peer: 1,000 instances of the guest kernel (compiled once) in one
 *                         thread — the cheapest way to give each task a Wasm instance of its own
 *   containers-1000-down  the same 1,000 stopped and destroyed at once (quotas scrubbed): ms
 */
export async function containers(
  ctx: BenchContext,
  memory: HostMemory,
  runtime: LoaderRuntime,
  pool: DpuCorePool,
): Promise<void> {
  await pool.cores[0]!.setMode('interrupt', 4096);
  const vms = new VmManager({ memory, runtime, dpu: pool }, { poolMiB: 1200, timeoutMs: 120_000 });
  const noNetwork = () => {
    throw new QingtianError(ErrorCode.InvalidState, 'bench hv: no network');
  };
  const instances = new InstanceManager(vms, noNetwork, {
    containerHost: { memoryMiB: 1100, capacity: 1024 },
  });
  const module = new WebAssembly.Module(readFileSync(kernelFile('guest')));
  try {
    await (await instances.create({ kind: 'container', name: 'first' })).destroy();
    const up: number[] = [];
    const down: number[] = [];
    const peer: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      let t0 = performance.now();
      const cs = await Promise.all(
        Array.from({ length: N }, (_, i) => instances.create({ kind: 'container', name: `ct-${r}-${i}` })),
      );
      await Promise.all(cs.map((c) => c.start()));
      up.push(performance.now() - t0);
      t0 = performance.now();
      await Promise.all(cs.map((c) => c.stop()));
      await Promise.all(cs.map((c) => c.destroy()));
      down.push(performance.now() - t0);
      t0 = performance.now();
      const made = Array.from(
        { length: N },
        () => new WebAssembly.Instance(module, { env: { memory: memory.memory } }),
      );
      peer.push(performance.now() - t0);
      made.length = 0;
      ctx.progress(
        `run ${r + 1}/${ctx.runs}: ${N} containers up in ${up.at(-1)!.toFixed(0)} ms, down in ${down.at(-1)!.toFixed(0)} ms; ${N} Wasm instances ${peer.at(-1)!.toFixed(0)} ms`,
      );
    }
    ctx.report({
      case: 'containers-1000-up',
      metric: 'wall',
      value: median(up),
      unit: 'ms',
      better: 'lower',
      target: 1000,
      peer: { name: `${N} instances of the guest kernel in one thread`, value: median(peer) },
    });
    ctx.report({ case: 'containers-1000-down', metric: 'wall', value: median(down), unit: 'ms', better: 'lower' });
  } finally {
    await instances.close();
    await vms.close();
  }
}
