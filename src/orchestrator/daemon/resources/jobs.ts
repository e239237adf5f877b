import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { Region } from '../../../common/host-memory-api.js';
import { intIn, multipleIn, oneOf } from '../../../common/validate.js';
import type { Job } from '../../../dpu/core/dpu-core.js';
import { HDR_BYTES } from '../../../generated/common.js';
import {
  FILL_BYTES,
  FILL_LAYOUT,
  FILL_LENGTH,
  FILL_LINES,
  FILL_MAGIC,
  FILL_PASSES,
  FILL_SEED,
  FILL_TARGET,
} from '../../../generated/core.js';
import type { Host } from '../../host.js';
import { notFound } from '../api-error.js';
import type { DaemonContext, DaemonResource } from '../resource.js';

const OWNER = 'daemon:jobs';
const JOB_KINDS = ['scrub'] as const;
const MIB = 1 << 20;

const JobSpec = z
  .strictObject(
    {
      core: intIn(0, 1023),
      kind: oneOf(JOB_KINDS).meta({ description: 'scrub: core_fill writes a pattern over its own scratch region' }),
      scratchBytes: multipleIn(64, 64 << 10, 256 * MIB),
      budget: intIn(1, 4096).meta({ description: '64-byte lines per burst' }),
    },
    { error: 'a JSON object' },
  )
  .meta({ id: 'JobSpec' });

export const JobSchema = z
  .object({
    name: z.string(),
    spec: JobSpec,
    status: z.enum(['running', 'failed']),
    failure: z.string().optional(),
    linesWritten: z.number().meta({ description: 'read from the job state, out of band' }),
    passes: z.number().meta({ description: 'whole passes over the scratch region' }),
  })
  .meta({ id: 'Job' });

const JobName = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, { error: 'a job name: 1-32 of [a-z0-9-], starting with a letter' }),
});

interface JobRecord {
  name: string;
  spec: z.output<typeof JobSpec>;
  job: Job;
  state: Region;
  scratch: Region;
}

/**
 * `/jobs`: work the daemon runs on its cores. One kind so far, `scrub` (the core kernel's
 * core_fill over a scratch region it owns): load that moves the counters, the way a device's
 * queues will. PUT is idempotent: the same spec again changes nothing; another spec is refused.
 */
export class JobsResource implements DaemonResource {
  readonly name = 'jobs';
  private readonly jobs = new Map<string, JobRecord>();
  private host: Host | null = null;

  register({ host, api }: DaemonContext): void {
    this.host = host;
    api.route({
      method: 'get',
      path: '/jobs',
      tag: this.name,
      summary: 'Every job the daemon runs',
      response: z.array(JobSchema),
      handler: () => [...this.jobs.values()].map((r) => this.view(r)),
    });
    api.route({
      method: 'get',
      path: '/jobs/{name}',
      tag: this.name,
      summary: 'One job',
      params: JobName,
      response: JobSchema,
      handler: ({ params }) => this.view(this.get(params.name)),
    });
    api.route({
      method: 'put',
      path: '/jobs/{name}',
      tag: this.name,
      summary: 'Run a job on a core; the same spec again changes nothing',
      params: JobName,
      body: JobSpec,
      response: JobSchema,
      mutates: true,
      handler: async ({ params, body }) => this.view(await this.put(params.name, body)),
    });
    api.route({
      method: 'delete',
      path: '/jobs/{name}',
      tag: this.name,
      summary: 'Stop a job and free its memory',
      params: JobName,
      response: JobSchema,
      mutates: true,
      handler: async ({ params }) => {
        const r = this.get(params.name);
        const v = this.view(r);
        await this.remove(r);
        return v;
      },
    });
  }

  live(): unknown {
    return [...this.jobs.values()].map((r) => this.view(r));
  }

  async close(): Promise<void> {
    for (const r of [...this.jobs.values()]) await this.remove(r).catch(() => undefined);
  }

  private get(name: string): JobRecord {
    const r = this.jobs.get(name);
    if (!r) throw notFound('job', name);
    return r;
  }

  private async put(name: string, spec: z.output<typeof JobSpec>): Promise<JobRecord> {
    const host = this.host!;
    const have = this.jobs.get(name);
    if (have) {
      if (JSON.stringify(have.spec) === JSON.stringify(spec)) return have;
      throw new QingtianError(
        ErrorCode.DeviceState,
        `params.name: job ${name} already runs with another spec; DELETE it first`,
        {
          field: 'params.name',
        },
      );
    }
    if (spec.core >= host.dpu.cores.length) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `body.core: expected an integer in [0, ${host.dpu.cores.length - 1}], got ${spec.core}`,
        { field: 'body.core' },
      );
    }
    const kernel = await host.loadKernel('core');
    const m = host.memory;
    // Everything below is undone if a later step fails: a refused PUT leaves no region behind.
    const scratch = m.alloc({
      name: `job:${name}:scratch`,
      owner: OWNER,
      kind: 'core-scratch',
      sizeBytes: spec.scratchBytes,
    });
    let state: Region | null = null;
    try {
      state = m.allocState({
        name: `job:${name}`,
        owner: OWNER,
        kind: 'job-state',
        magic: FILL_MAGIC,
        layoutVersion: FILL_LAYOUT,
        payloadBytes: FILL_BYTES - HDR_BYTES,
      });
      m.view.setUint32(state.base + FILL_TARGET, scratch.base, true);
      m.view.setUint32(state.base + FILL_LENGTH, spec.scratchBytes, true);
      m.view.setUint32(state.base + FILL_SEED, 0x9e37_79b9, true);
      const job = await host.dpu
        .core(spec.core)
        .attachJob({ kernel, entry: 'core_fill', state: state.base, budget: spec.budget });
      const r: JobRecord = { name, spec, job, state, scratch };
      this.jobs.set(name, r);
      return r;
    } catch (e) {
      if (state) m.free(state, OWNER);
      m.free(scratch, OWNER);
      throw e;
    }
  }

  private async remove(r: JobRecord): Promise<void> {
    const host = this.host!;
    await host.dpu.core(r.job.coreId).detachJob(r.job);
    this.jobs.delete(r.name);
    host.memory.free(r.state, OWNER);
    host.memory.free(r.scratch, OWNER);
  }

  private view(r: JobRecord): z.input<typeof JobSchema> {
    const v = this.host!.memory.view;
    return {
      name: r.name,
      spec: r.spec,
      status: r.job.status === 'failed' ? 'failed' : 'running',
      ...(r.job.failure ? { failure: r.job.failure.message } : {}),
      linesWritten: Number(v.getBigUint64(r.state.base + FILL_LINES, true)),
      passes: Number(v.getBigUint64(r.state.base + FILL_PASSES, true)),
    };
  }
}
