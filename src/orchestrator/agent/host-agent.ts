import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';
import { distFile, kernelFile } from '../../common/package-paths.js';
import { intIn, multipleIn, parseArgs } from '../../common/validate.js';
import { featureWord } from '../../common/virtio/features.js';
import type { DpuCorePool } from '../../dpu/core/core-pool.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { VsockDevice } from '../../dpu/vsock/vsock-device.js';
import { VSOCK_F_STREAM } from '../../generated/vsock.js';
import type { AgentBoot } from '../../hypervisor/agent/agent-worker.js';
import { Guest } from '../../hypervisor/guest/guest.js';
import {
  DEFAULT_VSOCK_DRIVER,
  initVsockDriver,
  vsockDriverAreaBytes,
  type VsockDriverGeometry,
} from '../../hypervisor/guest/virtio/vsock-driver.js';
import { AgentClient } from './agent-client.js';

export interface HostAgentOptions {
  /** Host memory granted to the agent for guests (RAM and control pages), a multiple of 64 KiB. Default 64 MiB. */
  poolBytes?: number;
  /** The agent's vsock CID, 3–0xfffffffe. Default 3. */
  cid?: number;
  /** Which DPU core serves the agent's vsock device. Default 0. */
  core?: number;
  /** Per-request timeout of the client, ms. Default 10000. */
  timeoutMs?: number;
  /** vCPU threads the agent keeps idle between VMs for reuse, 0–1024. Default 0. */
  keepVcpus?: number;
  /** Guest CPU threads the agent starts for bound vCPUs, 1–256. Default 2. */
  guestCpus?: number;
}

const optionsSchema = z.strictObject({
  poolBytes: multipleIn(65536, 65536, 3 * 2 ** 30).optional(),
  cid: intIn(3, 0xfffffffe).optional(),
  core: intIn(0, 1023).optional(),
  timeoutMs: intIn(1, 600_000).optional(),
  keepVcpus: intIn(0, 1024).optional(),
  guestCpus: intIn(1, 256).optional(),
});

/** The agent's vsock driver: a small stream device (a handful of control connections). */
const AGENT_DRIVER: VsockDriverGeometry = {
  ...DEFAULT_VSOCK_DRIVER,
  queueSize: 64,
  maxConns: 4,
  ringBytes: 256 * 1024,
};

/**
 * The split of the Zero hypervisor, control-plane side: boots the host agent (the seed's
 * TinyOS) in a thread of its own whose only link to anything is a virtio-vsock device served by
 * a DPU core, and connects an AgentClient to it. The agent owns guest RAM (the pool granted in
 * its hello) and vCPU threads; the control plane reaches it through `client` and nothing else.
 */
export class HostAgent {
  private stopped = false;

  private constructor(
    readonly client: AgentClient,
    readonly device: VsockDevice,
    /** The agent's own RAM (its vsock rings, buffers and socket table). */
    readonly ram: Guest,
    /** Host memory the agent gives to guests. */
    readonly pool: Region,
    readonly worker: Worker,
    /** Exactly what the agent's thread was started with (the test of the split reads it). */
    readonly boot: Readonly<Omit<AgentBoot, 'memory'>> & { memory: WebAssembly.Memory },
    private readonly memory: HostMemoryApi,
  ) {}

  static async boot(
    deps: { memory: HostMemoryApi; runtime: KernelRuntime; dpu: DpuCorePool },
    options: HostAgentOptions = {},
  ): Promise<HostAgent> {
    const o = parseArgs(optionsSchema, options, 'host agent options');
    const core = deps.dpu.cores[o.core ?? 0];
    if (!core)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `host agent options.core: expected a core index below ${deps.dpu.cores.length}, got ${o.core}`,
      );
    const { memory, runtime } = deps;
    await deps.dpu.loadKernel(runtime.kernel('vsock'));
    const guestKernel = runtime.kernel('guest');
    const areaBytes = vsockDriverAreaBytes(guestKernel, AGENT_DRIVER);
    const ram = new Guest(memory, { name: 'host-agent', ramBytes: Math.ceil((areaBytes + 65536) / 65536) * 65536 });
    let device: VsockDevice | null = null;
    let pool: Region | null = null;
    try {
      device = new VsockDevice(runtime, ram, 'host-agent:vsock', {
        guestCid: o.cid ?? 3,
        maxConns: 4,
        ringBytes: 256 * 1024,
      });
      const words = VsockDevice.notifyWordsOn(core);
      // Firmware: lay out the agent's driver before its thread starts, and configure the device with it.
      const { vs, rings } = initVsockDriver(
        guestKernel,
        memory.view,
        { base: ram.ramBase, bytes: ram.ramBytes },
        ram.allocGpa(areaBytes, 64),
        AGENT_DRIVER,
        {
          config: device.configAddress,
          doorbell: words.doorbell,
          sleeping: words.sleeping,
          irq: device.queueIrq,
        },
      );
      device.negotiate(
        featureWord({ packed: false, eventIdx: true, indirect: false, inOrder: false }) |
          (1n << BigInt(VSOCK_F_STREAM)),
      );
      rings.forEach((r, i) =>
        device!.setQueue(i, { size: i === 2 ? AGENT_DRIVER.eventQueueSize : AGENT_DRIVER.queueSize, ...r }),
      );
      await device.start(core);
      pool = memory.alloc({
        name: 'host-agent:pool',
        owner: 'host-agent',
        kind: 'guest-ram',
        sizeBytes: o.poolBytes ?? 64 << 20,
        alignBytes: 65536,
      });
      const boot: AgentBoot = { memory: memory.memory, guestKernel: kernelFile('guest'), vs, irq: device.queueIrq };
      const worker = new Worker(distFile('src/hypervisor/agent/agent-worker.js'), {
        workerData: boot,
        name: 'host-agent',
      });
      try {
        const client = await AgentClient.connect(device.host, {
          memory: { base: pool.base, bytes: pool.sizeBytes },
          timeoutMs: o.timeoutMs ?? 10_000,
          ...(o.keepVcpus === undefined ? {} : { keepVcpus: o.keepVcpus }),
          ...(o.guestCpus === undefined ? {} : { guestCpus: o.guestCpus }),
        });
        return new HostAgent(client, device, ram, pool, worker, boot, memory);
      } catch (e) {
        await worker.terminate();
        throw e;
      }
    } catch (e) {
      if (device) {
        await device.stop();
        device.free();
      }
      if (pool) memory.free(pool, 'host-agent');
      ram.destroy();
      throw e;
    }
  }

  /** Ends the agent (its vCPU threads with it), then frees its device, RAM and pool. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.client.close();
    await this.worker.terminate();
    await this.device.stop();
    this.device.free();
    this.ram.destroy();
    this.memory.free(this.pool, 'host-agent');
  }
}
