import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region } from '../../common/host-memory-api.js';
import { distFile } from '../../common/package-paths.js';
import { defaultCoreNice } from '../../dpu/core/core-pool.js';
import type { SlowPathSwitchInit } from '../../dpu/net/slow-path-switch.js';
import type { VSwitch } from '../../dpu/net/vswitch.js';
import type { HostMemory } from '../../memory/host-memory.js';
import type { BenchVpcPort, VpcSlowPathStats } from './vpc-slow-path.js';

const MIB = 1 << 20;

/** What the worker is started with (vpc-slow-path-worker.ts). */
export interface VpcSlowPathThreadInit {
  memory: WebAssembly.Memory;
  arenaBase: number;
  arenaBytes: number;
  ports: readonly [BenchVpcPort, BenchVpcPort];
  ctMaxEntries: number;
  trace: number;
  nice: number | null;
  /** Host address of the word the main thread sets before a message (the worker leaves its loop). */
  attention: number;
}

export type VpcSlowPathThreadReq = { op: 'start'; end: SlowPathSwitchInit } | { op: 'stats' } | { op: 'stop' };

/**
 * The bench's real slow path (VpcSlowPath: VPC model, LPM, security group, conntrack, runner) on
 * a worker thread of its own at the DPU cores' priority, as a DPU runs its slow path on its own
 * cores: it sleeps on the upcall bell with Atomics.wait and leaves its CPU as soon as an answer
 * is written, and the main thread's event loop and heap are not on a first packet's path.
 */
export class VpcSlowPathThread {
  private bell = 0;

  private constructor(
    private readonly memory: HostMemory,
    private readonly worker: Worker,
    private readonly region: Region,
    readonly ids: readonly [number, number],
  ) {}

  /** Starts the worker and builds the model there; `ids` are the two ports' ids (add the devices there). */
  static async create(
    memory: HostMemory,
    ports: readonly [BenchVpcPort, BenchVpcPort],
    ctMaxEntries: number,
    trace = 0,
  ): Promise<VpcSlowPathThread> {
    // The arena holds the worker's kernels (images, tables) and the model's LPM and classifier regions.
    const region = memory.alloc({ name: 'bench-slow-path', owner: 'bench', kind: 'core-scratch', sizeBytes: 64 * MIB });
    const init: VpcSlowPathThreadInit = {
      memory: memory.memory,
      arenaBase: region.base + 4096,
      arenaBytes: region.sizeBytes - 4096,
      ports,
      ctMaxEntries,
      trace,
      nice: defaultCoreNice(1),
      attention: region.base,
    };
    const worker = new Worker(distFile('src/bench/net/vpc-slow-path-worker.js'), { workerData: init });
    try {
      const { ids } = await reply<{ ids: [number, number] }>(worker);
      return new VpcSlowPathThread(memory, worker, region, ids);
    } catch (e) {
      await worker.terminate();
      memory.free(region, 'bench');
      throw e;
    }
  }

  /** Starts draining the two ports' upcall rings of `sw` (after their devices are on it). */
  async start(sw: VSwitch): Promise<void> {
    this.bell = sw.upcallBellAddr;
    await this.call({ op: 'start', end: sw.slowPathEnd(this.ids) });
  }

  async stats(): Promise<VpcSlowPathStats> {
    return (await this.call<{ stats: VpcSlowPathStats }>({ op: 'stats' })).stats;
  }

  async stop(): Promise<void> {
    await this.call({ op: 'stop' });
    await this.worker.terminate();
    this.memory.free(this.region, 'bench');
  }

  /** Posts a request, then calls the worker out of its loop: the attention word, and the bell it sleeps on. */
  private call<T>(req: VpcSlowPathThreadReq): Promise<T> {
    const p = reply<T>(this.worker);
    this.worker.postMessage(req);
    if (this.bell !== 0) {
      const i32 = this.memory.i32;
      Atomics.store(i32, this.region.base >> 2, 1);
      Atomics.add(i32, this.bell >> 2, 1);
      Atomics.notify(i32, this.bell >> 2);
    }
    return p;
  }
}

/** The worker's next message; an error it reports, or its exit, rejects. */
function reply<T>(w: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      w.off('error', onErr);
      w.off('exit', onExit);
      w.off('message', onMsg);
    };
    const onErr = (e: Error): void => {
      done();
      reject(e);
    };
    const onExit = (code: number): void => {
      done();
      reject(new QingtianError(ErrorCode.DeviceState, `bench slow-path thread: exited (code ${code})`));
    };
    const onMsg = (m: T & { error?: string }): void => {
      done();
      if (m.error) reject(new QingtianError(ErrorCode.DeviceState, `bench slow-path thread: ${m.error}`));
      else resolve(m);
    };
    w.on('error', onErr);
    w.on('exit', onExit);
    w.on('message', onMsg);
  });
}
