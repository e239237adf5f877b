import { readFileSync } from 'node:fs';
import type { DpuCorePool } from '../dpu/core/core-pool.js';
import type { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import type { HostMemory } from '../memory/host-memory.js';
import { VmManager } from '../orchestrator/vms/vm-manager.js';
import type { Vm } from '../orchestrator/vms/vm.js';
import type { BenchContext } from './lib/report.js';
import { median } from './lib/stats.js';

const VMS = 20;

/** CPU time (ns) of kernel thread `tid` of this process (Linux); 0 where it cannot be read. */
function threadCpuNs(tid: number): number {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

/**
 * The idle cost of guests that drive their own devices, part of suite "hv":
 *   vm-drivers-idle-cpu  20 running VMs with `guest.program: 'drivers'` and nothing to do: their
 *                        vCPU threads' CPU, all together, % of one core. vCPU 0 runs the guest
 *                        agent and the drivers and sleeps on its interrupt word.
 *                        peer: the same 20 VMs with the guest agent alone ('idle' program), whose
 *                        vCPU 0 wakes every 50 ms to look at its vsock ring
 * The vCPUs are dedicated threads (class 'normal', so the agent names their thread ids); the
 * two sets run one after the other in each run.
 */
export async function drivers(
  ctx: BenchContext,
  memory: HostMemory,
  runtime: LoaderRuntime,
  pool: DpuCorePool,
): Promise<void> {
  await pool.cores[0]!.setMode('interrupt', 4096);
  const manager = new VmManager({ memory, runtime, dpu: pool }, { poolMiB: VMS * 8 + 64, timeoutMs: 120_000 });
  const windowMs = ctx.quick ? 2_000 : 5_000;
  /** % of a core the vCPU threads of `n` such VMs take over the window. */
  const measure = async (program: 'drivers' | 'idle', r: number): Promise<number> => {
    const made: Vm[] = [];
    try {
      for (let i = 0; i < VMS; i++) {
        const vm = await manager.create({
          name: `${program}-${r}-${i}`,
          vcpus: 1,
          memoryMiB: 8,
          vcpuPlacement: 'dedicated',
          vcpuClass: 'normal',
          devices: [{ kind: 'vsock', cid: 1000 + i }],
          ...(program === 'drivers' ? { guest: { program } } : {}),
        });
        made.push(vm);
        await vm.start();
      }
      // One answer from each guest agent: every guest is up before the window opens.
      for (const vm of made) await vm.guestInfo({ timeoutMs: 30_000 });
      const tids = (await Promise.all(made.map((vm) => vm.vcpuPlacements()))).flat().map((p) => p.tid);
      const cpu = (): number => tids.reduce((s, t) => s + threadCpuNs(t), 0);
      const c0 = cpu();
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, windowMs));
      const c1 = cpu();
      return ((c1 - c0) / 1e6 / (performance.now() - t0)) * 100;
    } finally {
      await Promise.all(made.map((vm) => vm.destroy()));
    }
  };
  try {
    const ours: number[] = [];
    const peer: number[] = [];
    for (let r = 0; r < ctx.runs; r++) {
      ours.push(await measure('drivers', r));
      peer.push(await measure('idle', r));
      ctx.progress(
        `run ${r + 1}/${ctx.runs}: ${VMS} idle VMs' vCPUs, drivers ${ours.at(-1)!.toFixed(3)} %, guest agent alone ${peer.at(-1)!.toFixed(3)} % of a core`,
      );
    }
    ctx.report({
      case: 'vm-drivers-idle-cpu',
      metric: 'cpu',
      value: median(ours),
      unit: '% of a core',
      better: 'lower',
      peer: { name: `the same ${VMS} VMs, guest agent alone (50 ms poll)`, value: median(peer) },
    });
  } finally {
    await manager.close();
  }
}
