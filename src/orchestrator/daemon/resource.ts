import type { Host } from '../host.js';
import type { Api } from './api.js';
import type { CoreSampler } from './core-sampler.js';
import type { ByteSink } from './prom-text.js';

/** What a resource is given when the daemon starts. */
export interface DaemonContext {
  /** The one host the daemon owns. */
  host: Host;
  /** Where routes are added (and documented). */
  api: Api;
  /** Per-core rates of the last window. */
  sampler: CoreSampler;
  /** Where the daemon keeps files (volumes), or null when it was started without one. */
  dataDir: string | null;
}

/**
 * One kind of thing the daemon exposes (host, cores, kernels, jobs, swaps, VMs, the network,
 * volumes): its routes, its lines in `/metrics`, what it frees on shutdown.
 */
export interface DaemonResource {
  /** Its name: the OpenAPI tag and the entry in `GET /host`'s `resources`. */
  readonly name: string;
  /** Adds its routes. */
  register(ctx: DaemonContext): void;
  /** Prometheus text (HELP, TYPE and samples) appended to `/metrics`; empty if it has none. */
  metrics?(): string | Promise<string>;
  /**
   * Or its families written straight into the page (large pages: no string per line). Called
   * synchronously, after every `metrics()` of the page has resolved.
   */
  writeMetrics?(page: ByteSink): void;
  /** A summary for the live event stream (`GET /events`). */
  live?(): unknown;
  /** Frees what it holds, before the host shuts down. */
  close?(): Promise<void>;
}
