import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refused, startDaemon, state, type D } from '../../helpers/daemon.js';

describe('/cores', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon({ host: { memory: { sizeBytes: 64 << 20 }, dpu: { cores: 2, mode: 'adaptive' } } });
  });
  afterAll(async () => d.stop());

  it('lists the cores and reads one, with counters and rates', async () => {
    const all = (await d.client.send('GET', '/cores')).json as { id: number }[];
    expect(all.map((c) => c.id)).toEqual([0, 1]);
    const one = await d.client.send('GET', '/cores/1');
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ id: 1, mode: 'adaptive', jobs: 0 });
    expect((one.json as { counters: { passes: number } }).counters.passes).toBeGreaterThan(0);
  });

  it('changes the wait mode, pauses and resumes a core', async () => {
    const r = await d.client.send('PATCH', '/cores/0', { mode: 'interrupt' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: 0, mode: 'interrupt' });
    expect(d.daemon.host.dpu.core(0).mode()).toBe('interrupt');
    const paused = (await d.client.send('PATCH', '/cores/0', { paused: true })).json as { state: string };
    expect(paused).toMatchObject({ paused: true });
    expect(['quiesced', 'sleeping']).toContain(paused.state); // an idle core sleeps while quiesced
    const resumed = (await d.client.send('PATCH', '/cores/0', { paused: false, mode: 'adaptive' })).json;
    expect(resumed).toMatchObject({ mode: 'adaptive', paused: false });
    expect(['running', 'sleeping']).toContain((resumed as { state: string }).state);
  });

  it('refuses bad ids and bodies, naming the field, and changes nothing', async () => {
    await refused(d, 'PATCH', '/cores/0', { mode: 'turbo' }, 400, 'body.mode');
    await refused(d, 'PATCH', '/cores/0', { idleSpinPolls: 0 }, 400, 'body.idleSpinPolls');
    await refused(d, 'PATCH', '/cores/0', { paused: 'yes' }, 400, 'body.paused');
    const unknown = await refused(d, 'PATCH', '/cores/0', { mode: 'poll', nice: 5 }, 400, 'body.nice');
    expect(unknown.message).toMatch(/unknown field; accepted: mode, idleSpinPolls, paused/);
    await refused(d, 'PATCH', '/cores/0', [1, 2], 400, 'body');
    await refused(d, 'PATCH', '/cores/abc', { mode: 'poll' }, 400, 'params.id');
    await refused(d, 'PATCH', '/cores/-1', { mode: 'poll' }, 400, 'params.id');
    await refused(d, 'PATCH', '/cores/2', { mode: 'poll' }, 404);
    await refused(d, 'GET', '/cores/7', undefined, 404);
  });

  it('applies concurrent changes one at a time: each answer shows its own change', async () => {
    const modes = ['poll', 'interrupt', 'adaptive'] as const;
    const replies = await Promise.all(
      Array.from({ length: 24 }, (_, i) => d.client.send('PATCH', `/cores/${i % 2}`, { mode: modes[i % 3] })),
    );
    replies.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ id: i % 2, mode: modes[i % 3] });
    });
    // Reads during changes are served, never refused.
    const reads = await Promise.all(Array.from({ length: 16 }, () => d.client.send('GET', '/cores')));
    expect(reads.every((r) => r.status === 200)).toBe(true);
    await d.client.send('PATCH', '/cores/0', { mode: 'adaptive' });
    await d.client.send('PATCH', '/cores/1', { mode: 'adaptive' });
  });
});

describe('/kernels and /host', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => d.stop());

  it('loads a built family once: loading it again changes nothing', async () => {
    expect((await d.client.send('GET', '/kernels')).json).toEqual([]);
    const a = await d.client.send('PUT', '/kernels/core');
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ name: 'core' });
    expect((a.json as { version: string }).version).toMatch(/^\d+\.\d+\.\d+$/);
    expect((a.json as { functions: string[] }).functions).toContain('core_fill');
    const before = await state(d);
    const b = await d.client.send('PUT', '/kernels/core');
    expect(b.json).toEqual(a.json);
    expect(await state(d)).toEqual(before);
    expect(((await d.client.send('GET', '/host')).json as { kernels: number }).kernels).toBe(1);
  });

  it('refuses a family that is not built, naming the field', async () => {
    const err = await refused(d, 'PUT', '/kernels/nope', undefined, 400, 'params.family');
    expect(err.message).toMatch(/expected one of .*'core'/);
    await refused(d, 'PUT', '/kernels/Core', undefined, 400, 'params.family');
    await refused(d, 'DELETE', '/kernels/core', undefined, 404);
    await refused(d, 'POST', '/host', {}, 404);
  });

  it('loads a family once when many clients ask at the same time', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => d.client.send('PUT', '/kernels/flow')));
    const keys = new Set(replies.map((r) => (r.json as { key: number }).key));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(keys.size).toBe(1);
    const list = (await d.client.send('GET', '/kernels')).json as { name: string }[];
    expect(list.filter((k) => k.name === 'flow')).toHaveLength(1);
    const hosts = await Promise.all(Array.from({ length: 8 }, () => d.client.send('GET', '/host')));
    expect(hosts.every((r) => (r.json as { kernels: number }).kernels === 2)).toBe(true);
  });
});
