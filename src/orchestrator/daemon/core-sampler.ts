import { EventEmitter } from 'node:events';
import type { CoreCounters } from '../../dpu/core/core-counters.js';
import type { Host } from '../host.js';

/** One core over the last sampling window, derived from two out-of-band counter reads. */
export interface CoreSample {
  id: number;
  /** Share of the window's reactor passes that handled work, 0–1 (0 when the core slept the whole window). */
  busyRatio: number;
  /** Items handled per second over the window. */
  itemsPerSecond: number;
  /** Bursts (job calls that handled something) per second over the window. */
  burstsPerSecond: number;
  /** The counters at the end of the window. */
  counters: CoreCounters;
}

/** What every sample holds: when, and each core. */
export interface HostSample {
  /** Milliseconds since the epoch when it was taken. */
  at: number;
  /** Length of the window in ms. */
  windowMs: number;
  cores: CoreSample[];
}

/**
 * Reads every core's counters on a timer (no core is messaged) and keeps the rates of the last
 * window: the busy ratio that `/metrics` exports and the dashboard draws. Emits `'sample'`.
 */
export class CoreSampler extends EventEmitter<{ sample: [HostSample] }> {
  private timer: NodeJS.Timeout | null = null;
  private prev: { at: number; counters: CoreCounters[] };
  private last: HostSample;

  constructor(
    private readonly host: Host,
    readonly periodMs: number,
  ) {
    super();
    this.prev = { at: performance.now(), counters: host.dpu.counters() };
    this.last = { at: Date.now(), windowMs: 0, cores: this.prev.counters.map((c, id) => idle(id, c)) };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sample(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** The last completed window. */
  latest(): HostSample {
    return this.last;
  }

  /** Ends the current window now. */
  sample(): HostSample {
    const now = performance.now();
    const counters = this.host.dpu.counters();
    const seconds = (now - this.prev.at) / 1000;
    const cores = counters.map((c, id): CoreSample => {
      const p = this.prev.counters[id];
      if (!p || seconds <= 0) return idle(id, c);
      const passes = c.passes - p.passes;
      const busy = passes - (c.idlePolls - p.idlePolls);
      return {
        id,
        busyRatio: passes > 0 ? Math.min(1, Math.max(0, busy / passes)) : 0,
        itemsPerSecond: (c.items - p.items) / seconds,
        burstsPerSecond: (c.bursts - p.bursts) / seconds,
        counters: c,
      };
    });
    this.last = { at: Date.now(), windowMs: now - this.prev.at, cores };
    this.prev = { at: now, counters };
    this.emit('sample', this.last);
    return this.last;
  }
}

function idle(id: number, counters: CoreCounters): CoreSample {
  return { id, busyRatio: 0, itemsPerSecond: 0, burstsPerSecond: 0, counters };
}
