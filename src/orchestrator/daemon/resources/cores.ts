import { z } from 'zod';
import { intIn, oneOf } from '../../../common/validate.js';
import { COUNTER_NAMES } from '../../../dpu/core/core-counters.js';
import { CORE_MODES, DEFAULT_IDLE_SPIN_POLLS, RUN_STATE_NAMES } from '../../../dpu/core/core-layout.js';
import type { Host } from '../../host.js';
import { notFound } from '../api-error.js';
import type { CoreSampler } from '../core-sampler.js';
import type { DaemonContext, DaemonResource } from '../resource.js';

const CountersSchema = z
  .object(Object.fromEntries(COUNTER_NAMES.map((n) => [n, z.number().int().nonnegative()])))
  .meta({ id: 'CoreCounters', description: 'out-of-band counters since the core started' });

export const CoreSchema = z
  .object({
    id: z.number().int(),
    state: z.enum(RUN_STATE_NAMES),
    mode: z.enum(CORE_MODES),
    jobs: z.number().int().meta({ description: 'jobs attached, as the core counts them' }),
    paused: z.boolean().meta({ description: 'quiesced through this API: no burst runs until resumed' }),
    busyRatio: z.number().meta({ description: "share of the last window's reactor passes that handled work, 0-1" }),
    itemsPerSecond: z.number(),
    counters: CountersSchema,
  })
  .meta({ id: 'Core' });

const CorePatch = z
  .strictObject(
    {
      mode: oneOf(CORE_MODES).optional(),
      idleSpinPolls: intIn(1, 1e9).optional(),
      paused: z.boolean({ error: 'true (quiesce: no burst runs) or false (resume)' }).optional(),
    },
    { error: 'a JSON object' },
  )
  .meta({ id: 'CorePatch', description: 'what to change; fields left out stay as they are' });

const CoreId = z.strictObject({
  id: z.string().regex(/^(0|[1-9][0-9]{0,3})$/, { error: 'a core id: an integer in [0, 9999]' }),
});

/** `/cores`: every DPU core's state and counters (out of band), its wait mode, pause and resume. */
export class CoresResource implements DaemonResource {
  readonly name = 'cores';
  private readonly paused = new Set<number>();

  register({ host, api, sampler }: DaemonContext): void {
    const view = (id: number): z.input<typeof CoreSchema> => ({
      ...coreView(host, sampler, id),
      paused: this.paused.has(id),
    });
    api.route({
      method: 'get',
      path: '/cores',
      tag: this.name,
      summary: 'Every DPU core',
      response: z.array(CoreSchema),
      handler: () => host.dpu.cores.map((c) => view(c.id)),
    });
    api.route({
      method: 'get',
      path: '/cores/{id}',
      tag: this.name,
      summary: 'One DPU core',
      params: CoreId,
      response: CoreSchema,
      handler: ({ params }) => view(checkId(host, Number(params.id))),
    });
    api.route({
      method: 'patch',
      path: '/cores/{id}',
      tag: this.name,
      summary: 'Change how a core waits when idle, or pause (quiesce) and resume it',
      params: CoreId,
      body: CorePatch,
      response: CoreSchema,
      mutates: true,
      handler: async ({ params, body }) => {
        const core = host.dpu.core(checkId(host, Number(params.id)));
        const before = core.mode();
        const modeChange = body.mode !== undefined || body.idleSpinPolls !== undefined;
        if (modeChange) await core.setMode(body.mode ?? before, body.idleSpinPolls ?? DEFAULT_IDLE_SPIN_POLLS);
        try {
          if (body.paused === true) {
            await core.quiesce();
            this.paused.add(core.id);
          }
          if (body.paused === false) {
            await core.resume();
            this.paused.delete(core.id);
          }
        } catch (e) {
          // A refused request changes nothing: put the mode back before answering.
          if (modeChange) await core.setMode(before, DEFAULT_IDLE_SPIN_POLLS).catch(() => undefined);
          throw e;
        }
        return view(core.id);
      },
    });
  }
}

function checkId(host: Host, id: number): number {
  if (id >= host.dpu.cores.length) throw notFound('core', id);
  return id;
}

function coreView(host: Host, sampler: CoreSampler, id: number): Omit<z.input<typeof CoreSchema>, 'paused'> {
  const c = host.dpu.core(id);
  const s = sampler.latest().cores[id];
  return {
    id,
    state: c.runState(),
    mode: c.mode(),
    jobs: c.jobCount(),
    busyRatio: s?.busyRatio ?? 0,
    itemsPerSecond: s?.itemsPerSecond ?? 0,
    counters: { ...c.counters() },
  };
}
