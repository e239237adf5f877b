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

/**
 * The buffers pages are written into, reused: a page of 100 VMs is more than 600 KB, and one
 * fresh buffer per scrape (memory outside the JS heap) made the engine collect garbage often
 * enough to cost more than the rendering. A buffer goes back once its response is sent.
 */
export class MetricsPages {
  private readonly free: ByteSink[] = [];

  /** A buffer to write a page into (empty). */
  acquire(): ByteSink {
    const p = this.free.pop() ?? new ByteSink(64 << 10);
    p.pos = 0;
    return p;
  }

  /** Its response is sent (or abandoned): the buffer may be written again. Keeps at most 4. */
  release(p: ByteSink): void {
    if (this.free.length < 4 && !this.free.includes(p)) this.free.push(p);
  }
}

/**
 * The daemon's `/metrics` page: the host's own families (memory, core counters, read out of
 * band), the sampler's per-core busy ratio, then each resource's families. Names are stable.
 * The resources that ask a worker (volumes) are awaited together first; then the whole page is
 * written in one synchronous run into `page` (MetricsPages): the bytes are `page.view()`.
 */
export async function renderDaemonMetrics(
  host: Host,
  sampler: CoreSampler,
  resources: readonly DaemonResource[],
  page: ByteSink,
): Promise<void> {
  const texts = await Promise.all(resources.map(async (r) => (r.writeMetrics ? '' : ((await r.metrics?.()) ?? ''))));
  page.pos = 0;
  page.latin1(host.metrics());
  const s = sampler.latest();
  page.latin1(BUSY_HEADER);
  for (const c of s.cores) page.latin1(`qingtian_dpu_core_busy_ratio{core="${c.id}"} ${c.busyRatio}\n`);
  page.latin1(WINDOW_HEADER);
  page.latin1(`qingtian_dpu_core_sample_window_seconds ${s.windowMs / 1000}\n`);
  resources.forEach((r, i) => (r.writeMetrics ? r.writeMetrics(page) : page.latin1(texts[i]!)));
}
