import type { ServerResponse } from 'node:http';
import type { Api } from './api.js';
import type { CoreSampler, HostSample } from './core-sampler.js';
import type { DaemonResource } from './resource.js';

const MAX_BUFFERED_BYTES = 1 << 20;

/**
 * `GET /events`: server-sent events, one `sample` event per sampling window with every core's
 * rates and each resource's live summary. The dashboard draws from it; `curl -N` reads it.
 */
export class LiveEvents {
  private readonly streams = new Set<ServerResponse>();
  private readonly onSample = (s: HostSample): void => this.push(s);

  constructor(
    private readonly sampler: CoreSampler,
    private readonly resources: readonly DaemonResource[],
  ) {
    sampler.on('sample', this.onSample);
  }

  register(api: Api): void {
    api.raw({
      path: '/events',
      tag: 'meta',
      summary: 'Server-sent events: a `sample` per sampling window (per-core rates, jobs, swaps)',
      contentType: 'text/event-stream',
      handler: (request, reply) => {
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        res.write(`retry: ${this.sampler.periodMs}\n\n`);
        this.streams.add(res);
        res.write(this.frame(this.sampler.latest()));
        request.raw.once('close', () => this.streams.delete(res));
      },
    });
  }

  /** Ends every stream (daemon shutdown). */
  close(): void {
    this.sampler.off('sample', this.onSample);
    for (const res of this.streams) res.end();
    this.streams.clear();
  }

  private push(s: HostSample): void {
    if (!this.streams.size) return;
    const frame = this.frame(s);
    for (const res of this.streams) {
      // A reader that stopped reading is dropped rather than buffered for without bound.
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.streams.delete(res);
        res.destroy();
      } else res.write(frame);
    }
  }

  private frame(s: HostSample): string {
    const resources: Record<string, unknown> = {};
    for (const r of this.resources) if (r.live) resources[r.name] = r.live();
    const data = {
      at: s.at,
      windowMs: s.windowMs,
      cores: s.cores.map((c) => ({
        id: c.id,
        busyRatio: c.busyRatio,
        itemsPerSecond: c.itemsPerSecond,
        burstsPerSecond: c.burstsPerSecond,
        sleeps: c.counters.sleeps,
        items: c.counters.items,
      })),
      ...resources,
    };
    return `event: sample\ndata: ${JSON.stringify(data)}\n\n`;
  }
}
