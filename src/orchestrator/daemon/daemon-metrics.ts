import type { Host } from '../host.js';
import type { CoreSampler } from './core-sampler.js';
import type { DaemonResource } from './resource.js';

/**
 * The daemon's `/metrics` page: the host's own families (memory, core counters, read out of
 * band), the sampler's per-core busy ratio, then each resource's families. Names are stable.
 */
export async function renderDaemonMetrics(
  host: Host,
  sampler: CoreSampler,
  resources: readonly DaemonResource[],
): Promise<string> {
  const s = sampler.latest();
  const out = [
    host.metrics(),
    '# HELP qingtian_dpu_core_busy_ratio Share of reactor passes that handled work in the last sampling window (0-1)\n',
    '# TYPE qingtian_dpu_core_busy_ratio gauge\n',
    ...s.cores.map((c) => `qingtian_dpu_core_busy_ratio{core="${c.id}"} ${c.busyRatio}\n`),
    '# HELP qingtian_dpu_core_sample_window_seconds Length of the window the busy ratio covers\n',
    '# TYPE qingtian_dpu_core_sample_window_seconds gauge\n',
    `qingtian_dpu_core_sample_window_seconds ${s.windowMs / 1000}\n`,
  ];
  // Each resource's families in order; the ones that ask a worker (volumes) are awaited together.
  out.push(...(await Promise.all(resources.map(async (r) => (await r.metrics?.()) ?? ''))));
  return out.join('');
}
