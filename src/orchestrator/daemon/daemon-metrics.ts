import type { Host } from '../host.js';
import type { CoreSampler } from './core-sampler.js';
import { ByteSink } from './prom-text.js';
import type { DaemonResource } from './resource.js';

const BUSY_HEADER =
  '# HELP qingtian_dpu_core_busy_ratio Share of reactor passes that handled work in the last sampling window (0-1)\n' +
  '# TYPE qingtian_dpu_core_busy_ratio gauge\n';
const WINDOW_HEADER =
  '# HELP qingtian_dpu_core_sample_window_seconds Length of the window the busy ratio covers\n' +
  '# TYPE qingtian_dpu_core_sample_window_seconds gauge\n';

/** The size of the last page: the next one starts with room for it. */
let lastBytes = 64 << 10;

/**
 * The daemon's `/metrics` page: the host's own families (memory, core counters, read out of
 * band), the sampler's per-core busy ratio, then each resource's families. Names are stable.
 * The resources that ask a worker (volumes) are awaited together first; then the whole page is
 * written in one synchronous run into a buffer of its own (sent as it is, never reused).
 */
export async function renderDaemonMetrics(
  host: Host,
  sampler: CoreSampler,
  resources: readonly DaemonResource[],
): Promise<Buffer> {
  const texts = await Promise.all(resources.map(async (r) => (r.writeMetrics ? '' : ((await r.metrics?.()) ?? ''))));
  const page = new ByteSink(lastBytes + (lastBytes >> 3));
  page.latin1(host.metrics());
  const s = sampler.latest();
  page.latin1(BUSY_HEADER);
  for (const c of s.cores) page.latin1(`qingtian_dpu_core_busy_ratio{core="${c.id}"} ${c.busyRatio}\n`);
  page.latin1(WINDOW_HEADER);
  page.latin1(`qingtian_dpu_core_sample_window_seconds ${s.windowMs / 1000}\n`);
  resources.forEach((r, i) => (r.writeMetrics ? r.writeMetrics(page) : page.latin1(texts[i]!)));
  lastBytes = page.pos;
  return page.view();
}
