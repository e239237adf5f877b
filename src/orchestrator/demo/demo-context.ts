import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { Host } from '../host.js';
import { ECHO_REQUEST, ECHO_RESPONSE } from '../../generated/core.js';

/** What every demo chapter gets: the booted host, a narrator and the closing report. */
export interface DemoContext {
  host: Host;
  seconds: number;
  /** One line of the story. */
  say: (line: string) => void;
  /** A row of the closing report: what was shown and the figure that shows it. */
  record: (what: string, figure: string) => void;
}

export interface DemoChapter {
  title: string;
  run(ctx: DemoContext): Promise<void>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A short round-trip sampler: `n` echo requests, each published then announced on the core's
 * doorbell (the producer protocol: a sleeping core must be woken), spinning on the answer.
 * Returns sorted latencies in µs.
 */
export function sampleEcho(
  core: DpuCore,
  i32: Int32Array,
  echoBase: number,
  n: number,
  seq: { v: number },
): Float64Array {
  const req = (echoBase + ECHO_REQUEST) >> 2;
  const resp = (echoBase + ECHO_RESPONSE) >> 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = ++seq.v;
    const t0 = process.hrtime.bigint();
    Atomics.store(i32, req, v);
    core.ringDoorbell();
    while (Atomics.load(i32, resp) !== v);
    out[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return out.sort();
}
