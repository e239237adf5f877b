import { z } from 'zod';
import type { DaemonContext, DaemonResource } from '../resource.js';

const MemorySchema = z
  .object({
    totalBytes: z.number(),
    reservedBytes: z.number(),
    usedBytes: z.number(),
    freeBytes: z.number(),
    largestFreeBytes: z.number(),
    freeBlocks: z.number(),
    regionCount: z.number(),
    allocs: z.number(),
    frees: z.number(),
    failures: z.number(),
  })
  .meta({ id: 'HostMemory' });

export const HostSchema = z
  .object({
    version: z.string().meta({ description: "the daemon's package version" }),
    pid: z.number().int(),
    uptimeSeconds: z.number(),
    cores: z.number().int(),
    kernels: z.number().int().meta({ description: 'kernel versions loaded on the cores' }),
    memory: MemorySchema,
    resources: z.array(z.string()).meta({ description: 'the resources this daemon serves' }),
  })
  .meta({ id: 'Host' });

/** `/host`: what the daemon runs, its memory, and which resources it serves. */
export class HostResource implements DaemonResource {
  readonly name = 'host';
  private readonly started = performance.now();

  constructor(
    private readonly version: string,
    private readonly resources: () => string[],
  ) {}

  register({ host, api }: DaemonContext): void {
    api.route({
      method: 'get',
      path: '/host',
      tag: this.name,
      summary: 'The host: version, uptime, memory, how many cores and kernels',
      response: HostSchema,
      handler: () => ({
        version: this.version,
        pid: process.pid,
        uptimeSeconds: (performance.now() - this.started) / 1000,
        cores: host.dpu.cores.length,
        kernels: host.dpu.loadedKernels().length,
        memory: host.memory.stats(),
        resources: this.resources(),
      }),
    });
  }
}
