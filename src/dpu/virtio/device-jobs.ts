import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { addLatency, emptyLatency } from '../core/burst-latency.js';
import { CTL_DOORBELL, CTL_SLEEPING } from '../core/core-layout.js';
import type { DpuCore, Job } from '../core/dpu-core.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';

/** One job of a device as it was asked to run. */
export interface JobPlacement {
  core: DpuCore;
  entry: string;
  arm: string | undefined;
  state: number;
  budget: number;
  weight: number;
  /** Host address of the job's u64 work counter, or undefined (charged a quantum per busy call). */
  workAddr: number | undefined;
  /** Host address of the f64 its core writes its clock into before each call, or undefined. */
  clockAddr?: number | undefined;
}

/**
 * The jobs of one started device (VirtioBackend.start): attached all or none, detached together.
 * When detach() resolves no burst of any of them is in flight (each detach is a core command,
 * and commands land between bursts).
 */
export class DeviceJobs {
  private constructor(
    private readonly jobs: Job[],
    private readonly placements: JobPlacement[],
  ) {}

  /** Attaches every job in order; if one is refused, the ones already attached are detached again. */
  static async attach(kernel: LoadedKernel, placements: JobPlacement[]): Promise<DeviceJobs> {
    const jobs: Job[] = [];
    try {
      for (const p of placements) {
        jobs.push(
          await p.core.attachJob({
            kernel,
            entry: p.entry,
            arm: p.arm,
            state: p.state,
            budget: p.budget,
            weight: p.weight,
            ...(p.workAddr === undefined ? {} : { workAddr: p.workAddr }),
            ...(p.clockAddr === undefined ? {} : { clockAddr: p.clockAddr }),
          }),
        );
      }
    } catch (e) {
      for (let j = 0; j < jobs.length; j++) await placements[j]!.core.detachJob(jobs[j]!);
      throw e;
    }
    return new DeviceJobs(jobs, placements);
  }

  async detach(): Promise<void> {
    for (let j = 0; j < this.jobs.length; j++) await this.placements[j]!.core.detachJob(this.jobs[j]!);
  }

  /** The doorbell and sleeping words of the core running job `j` (where a driver kicks). */
  notifyWords(j: number): { doorbell: number; sleeping: number } {
    const core = this.placements[Math.min(j, this.placements.length - 1)]!.core;
    return { doorbell: core.controlBase + CTL_DOORBELL, sleeping: core.controlBase + CTL_SLEEPING };
  }

  /** The jobs, in placement order (for their core's per-job counters). */
  get list(): readonly Job[] {
    return this.jobs;
  }

  /** Its jobs' burst durations summed (DpuCore.burstLatency), read out of band. */
  burstLatency(): LatencyHistogramData {
    const out = emptyLatency();
    this.jobs.forEach((job, j) => {
      const h = this.placements[j]!.core.burstLatency(job.id);
      if (h) addLatency(out, h);
    });
    return out;
  }

  stats(): { coreId: number; status: Job['status']; budget: number; weight: number }[] {
    return this.jobs.map((job, j) => ({
      coreId: job.coreId,
      status: job.status,
      budget: this.placements[j]!.budget,
      weight: this.placements[j]!.weight,
    }));
  }
}
