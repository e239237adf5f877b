import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { intIn } from '../../../common/validate.js';
import type { SwapReport } from '../../../ops/hot-swap/events.js';
import type { Host } from '../../host.js';
import type { DaemonContext, DaemonResource } from '../resource.js';

const MODULE_NAME = /^[a-z][a-z0-9-]{0,7}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const OUTCOMES = ['swapped', 'rolled_back', 'rollback_failed', 'refused'] as const;
type Outcome = (typeof OUTCOMES)[number];

const SwapRequest = z
  .strictObject(
    {
      name: z.string().regex(MODULE_NAME, { error: 'a module name: 1-8 of [a-z0-9-], starting with a letter' }),
      module: z
        .string({ error: 'the module bytes, base64' })
        .min(8, { error: 'the module bytes, base64' })
        .regex(BASE64, { error: 'the module bytes, base64' }),
      signature: z
        .record(z.string(), z.unknown(), { error: 'the module signature object (qingtian keys sign)' })
        .meta({ description: 'the signature object `qingtian keys sign` writes' }),
      graceMs: intIn(0, 600_000).optional(),
    },
    { error: 'a JSON object' },
  )
  .meta({ id: 'SwapRequest' });

const ModuleSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    abi: z.number().int(),
    stateLayout: z.number().int(),
    sha256: z.string(),
    signer: z.string().nullable(),
    key: z.number().int(),
    status: z.enum(['live', 'previous', 'retired', 'failed']),
  })
  .meta({ id: 'KernelModule' });

const SwapReportSchema = z
  .object({
    name: z.string(),
    from: z.string(),
    to: z.string(),
    key: z.number().int(),
    sha256: z.string(),
    signer: z.string(),
    transformed: z.boolean(),
    verifyMs: z.number(),
    stageMs: z.number(),
    selfTestMs: z.number(),
    commitMs: z.number(),
    swapMs: z.number(),
    totalMs: z.number(),
    graceMs: z.number(),
    cores: z.array(z.object({ coreId: z.number().int(), pauseNs: z.number(), jobs: z.number().int() })),
  })
  .meta({ id: 'SwapReport' });

const SwapsSchema = z
  .object({
    modules: z.array(ModuleSchema).meta({ description: 'every module version the host has run, newest last' }),
    totals: z.record(z.string(), z.number().int()).meta({ description: 'swaps by outcome since the daemon started' }),
    last: SwapReportSchema.nullable(),
  })
  .meta({ id: 'Swaps' });

/**
 * `/swaps`: hot swaps of signed kernel modules on the live cores (the host's swap manager:
 * verify, stage, self-test, commit, grace window with rollback). A refused swap changes nothing.
 * The keys it trusts are the daemon's (`qingtian serve --trust`), never set over the API.
 */
export class SwapsResource implements DaemonResource {
  readonly name = 'swaps';
  private readonly totals = new Map<string, Record<Outcome, number>>();
  private last: SwapReport | null = null;
  private host: Host | null = null;

  register({ host, api }: DaemonContext): void {
    this.host = host;
    host.swaps.on('swapped', (r) => {
      this.count(r.name, 'swapped');
      this.last = r;
    });
    host.swaps.on('rolled-back', (e) => this.count(e.name, 'rolled_back'));
    host.swaps.on('rollback-failed', (e) => this.count(e.name, 'rollback_failed'));
    host.swaps.on('refused', (e) => this.count(e.name, 'refused'));
    api.route({
      method: 'get',
      path: '/swaps',
      tag: this.name,
      summary: 'Module versions, swap totals by outcome, the last swap',
      response: SwapsSchema,
      handler: () => ({
        modules: host.swaps.modules().map(({ signature: _s, ...m }) => m),
        totals: Object.fromEntries(OUTCOMES.map((o) => [o, this.sum(o)])),
        last: this.last ? report(this.last) : null,
      }),
    });
    api.route({
      method: 'post',
      path: '/swaps',
      tag: this.name,
      summary: 'Hot-swap a signed kernel module on every core; answers after the commit',
      body: SwapRequest,
      response: SwapReportSchema,
      status: 201,
      mutates: true,
      handler: async ({ body }) => {
        const bytes = Buffer.from(body.module, 'base64');
        const r = await host.hotSwap(body.name, bytes, {
          signature: JSON.stringify(body.signature),
          ...(body.graceMs !== undefined ? { graceMs: body.graceMs } : {}),
        });
        void r.settled.catch(() => undefined);
        return report(r);
      },
    });
    api.route({
      method: 'post',
      path: '/swaps/{name}/rollback',
      tag: this.name,
      summary: "Roll back a module's last swap while its grace window is open",
      params: z.strictObject({ name: z.string().regex(MODULE_NAME, { error: 'a module name' }) }),
      response: z.object({ name: z.string(), live: z.string() }),
      mutates: true,
      handler: async ({ params }) => {
        await host.swaps.rollback(params.name);
        const live = host.swaps.liveVersion(params.name);
        if (!live) throw new QingtianError(ErrorCode.NotFound, `module ${params.name} has no live version`);
        return { name: params.name, live: live.info.version };
      },
    });
  }

  metrics(): string {
    const out = [
      '# HELP qingtian_swaps_total Hot swaps by module and outcome since the daemon started',
      '# TYPE qingtian_swaps_total counter',
    ];
    for (const [name, t] of [...this.totals].sort(([a], [b]) => a.localeCompare(b))) {
      for (const o of OUTCOMES) out.push(`qingtian_swaps_total{module="${name}",outcome="${o}"} ${t[o]}`);
    }
    out.push(
      '# HELP qingtian_kernel_module_info Module versions the host has run (1 per version), by status',
      '# TYPE qingtian_kernel_module_info gauge',
    );
    for (const m of this.host?.swaps.modules() ?? []) {
      out.push(`qingtian_kernel_module_info{module="${m.name}",version="${m.version}",status="${m.status}"} 1`);
    }
    return out.join('\n') + '\n';
  }

  live(): unknown {
    return Object.fromEntries(OUTCOMES.map((o) => [o, this.sum(o)]));
  }

  private count(name: string, o: Outcome): void {
    const safe = MODULE_NAME.test(name) ? name : 'invalid';
    let t = this.totals.get(safe);
    if (!t) this.totals.set(safe, (t = { swapped: 0, rolled_back: 0, rollback_failed: 0, refused: 0 }));
    t[o]++;
  }

  private sum(o: Outcome): number {
    let n = 0;
    for (const t of this.totals.values()) n += t[o];
    return n;
  }
}

function report(r: SwapReport): z.input<typeof SwapReportSchema> {
  return {
    name: r.name,
    from: r.from,
    to: r.to,
    key: r.key,
    sha256: r.sha256,
    signer: r.signer,
    transformed: r.transformed,
    verifyMs: r.verifyMs,
    stageMs: r.stageMs,
    selfTestMs: r.selfTestMs,
    commitMs: r.commitMs,
    swapMs: r.swapMs,
    totalMs: r.totalMs,
    graceMs: r.graceMs,
    cores: r.cores.map((c) => ({ coreId: c.coreId, pauseNs: c.pauseNs, jobs: c.jobs })),
  };
}
