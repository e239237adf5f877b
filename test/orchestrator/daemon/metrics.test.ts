import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { COUNTER_NAMES } from '../../../src/dpu/core/core-counters.js';
import { startDaemon } from '../../helpers/daemon.js';

const promtool = spawnSync('promtool', ['--version']).status === 0;
if (!promtool) console.warn('metrics.test: promtool not found (Debian package prometheus, installed by .ci/run)');

/** `name{labels} value` lines of a Prometheus text page, by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);

describe('GET /metrics', () => {
  let d: Awaited<ReturnType<typeof startDaemon>>;
  beforeAll(async () => {
    d = await startDaemon({ host: { memory: { sizeBytes: 64 << 20 }, dpu: { cores: 2, mode: 'adaptive' } } });
  });
  afterAll(async () => d.stop());

  it.runIf(promtool)('passes promtool check metrics on live output, with a job running', async () => {
    const put = await d.client.send('PUT', '/jobs/scrub', {
      core: 0,
      kind: 'scrub',
      scratchBytes: 1 << 20,
      budget: 64,
    });
    expect(put.status).toBe(200);
    await vi.waitFor(async () =>
      expect(
        ((await d.client.send('GET', '/jobs/scrub')).json as { linesWritten: number }).linesWritten,
      ).toBeGreaterThan(0),
    );
    const r = await d.client.send('GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    // promtool reads the page on stdin; it exits non-zero on a parse error or a lint problem.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
    expect(out).toBe('');
    expect((await d.client.send('DELETE', '/jobs/scrub')).status).toBe(200);
  });

  it('exports every core counter with HELP and TYPE, equal to the counters read out of band', async () => {
    // Freeze the counters: pause core 0 (no job runs) and let both cores go to sleep; a
    // sleeping core writes nothing until its doorbell rings.
    expect((await d.client.send('PATCH', '/cores/0', { paused: true })).status).toBe(200);
    await vi.waitFor(() => expect(d.daemon.host.dpu.cores.map((c) => c.runState())).toEqual(['sleeping', 'sleeping']), {
      timeout: 20_000,
    });
    const text = (await d.client.send('GET', '/metrics')).text;
    const got = samples(text);
    for (const core of d.daemon.host.dpu.cores) {
      const counters = core.counters();
      for (const name of COUNTER_NAMES) {
        const metric = `qingtian_dpu_core_${snake(name)}_total`;
        expect(text).toContain(`# HELP ${metric} `);
        expect(text).toContain(`# TYPE ${metric} counter`);
        expect(got.get(`${metric}{core="${core.id}"}`), `${metric} core ${core.id}`).toBe(counters[name]);
      }
    }
    expect(counters0Items(got)).toBeGreaterThan(0); // the scrub job of the first test ran on core 0
    expect((await d.client.send('PATCH', '/cores/0', { paused: false })).status).toBe(200);
  });

  it('exports the busy ratio of each core: near 1 under a job, 0 when idle', async () => {
    await d.client.send('PUT', '/jobs/busy', { core: 1, kind: 'scrub', scratchBytes: 1 << 20, budget: 64 });
    await vi.waitFor(
      async () => {
        const got = samples((await d.client.send('GET', '/metrics')).text);
        expect(got.get('qingtian_dpu_core_busy_ratio{core="1"}')).toBeGreaterThan(0.5);
      },
      { timeout: 20_000 },
    );
    await d.client.send('DELETE', '/jobs/busy');
    await vi.waitFor(
      async () => {
        const got = samples((await d.client.send('GET', '/metrics')).text);
        expect(got.get('qingtian_dpu_core_busy_ratio{core="1"}')).toBe(0);
      },
      { timeout: 20_000 },
    );
  });
});

function counters0Items(got: Map<string, number>): number {
  return got.get('qingtian_dpu_core_items_total{core="0"}') ?? 0;
}
