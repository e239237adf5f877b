import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refused, startDaemon, state, type D } from '../../helpers/daemon.js';
import { signer, stranger, signed, test as testModule, family } from '../../ops/hot-swap/helpers.js';

const scrub = (core = 0, scratchBytes = 1 << 20) => ({ core, kind: 'scrub', scratchBytes, budget: 32 });
const regions = (d: D): string[] => d.daemon.host.memory.regions().map((r) => r.name);

describe('/jobs', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon();
  });
  afterAll(async () => d.stop());

  it('runs a job, reads it, and frees everything it held on DELETE', async () => {
    const before = regions(d);
    const put = await d.client.send('PUT', '/jobs/a', scrub());
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ name: 'a', status: 'running', spec: scrub() });
    expect(regions(d)).toEqual(expect.arrayContaining(['job:a', 'job:a:scratch']));
    expect(((await d.client.send('GET', '/jobs')).json as unknown[]).length).toBe(1);
    let lines = 0;
    while (lines === 0) lines = ((await d.client.send('GET', '/jobs/a')).json as { linesWritten: number }).linesWritten;
    expect(d.daemon.host.dpu.core(0).jobCount()).toBe(1);
    const del = await d.client.send('DELETE', '/jobs/a');
    expect(del.status).toBe(200);
    expect(d.daemon.host.dpu.core(0).jobCount()).toBe(0);
    expect(regions(d).filter((n) => n.startsWith('job:'))).toEqual([]);
    expect(regions(d).filter((n) => !before.includes(n) && !n.startsWith('kimg:'))).toEqual([]);
  });

  it('is idempotent: the same spec again changes nothing; another spec is refused', async () => {
    await d.client.send('PUT', '/jobs/b', scrub());
    const s = await state(d);
    const again = await d.client.send('PUT', '/jobs/b', scrub());
    expect(again.status).toBe(200);
    expect(await state(d)).toEqual(s);
    await refused(d, 'PUT', '/jobs/b', scrub(0, 2 << 20), 409, 'params.name');
    await d.client.send('DELETE', '/jobs/b');
  });

  it('refuses bad names, specs and ids, naming the field, and changes nothing', async () => {
    await refused(d, 'PUT', '/jobs/Bad!', scrub(), 400, 'params.name');
    await refused(d, 'PUT', '/jobs/c', { ...scrub(), core: 1 }, 400, 'body.core');
    await refused(d, 'PUT', '/jobs/c', { ...scrub(), kind: 'mine' }, 400, 'body.kind');
    await refused(d, 'PUT', '/jobs/c', { ...scrub(), scratchBytes: 1000 }, 400, 'body.scratchBytes');
    await refused(d, 'PUT', '/jobs/c', { ...scrub(), budget: 0 }, 400, 'body.budget');
    await refused(d, 'PUT', '/jobs/c', { ...scrub(), extra: true }, 400, 'body.extra');
    await refused(d, 'PUT', '/jobs/c', undefined, 400, 'body');
    // Larger than the host's free memory: refused by the allocator, nothing left behind.
    const oom = await refused(d, 'PUT', '/jobs/c', scrub(0, (64 << 20) - 64), 409);
    expect(oom.code).toBe('QT_OUT_OF_MEMORY');
    await refused(d, 'GET', '/jobs/c', undefined, 404);
    await refused(d, 'DELETE', '/jobs/c', undefined, 404);
  });

  it('serves concurrent clients: many jobs put and deleted at once, nothing left over', async () => {
    const before = regions(d);
    const names = Array.from({ length: 12 }, (_, i) => `j${i}`);
    const puts = await Promise.all(names.map((n) => d.client.send('PUT', `/jobs/${n}`, scrub(0, 64 << 10))));
    expect(puts.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(d.daemon.host.dpu.core(0).jobCount()).toBe(12);
    const dels = await Promise.all(names.map((n) => d.client.send('DELETE', `/jobs/${n}`)));
    expect(dels.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(d.daemon.host.dpu.core(0).jobCount()).toBe(0);
    expect(regions(d)).toEqual(before);
  });
});

describe('/swaps', () => {
  let d: D;
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
  beforeAll(async () => {
    d = await startDaemon({
      host: { memory: { sizeBytes: 128 << 20 }, dpu: { cores: 1 }, trustedKeys: [signer.publicKeyPem] },
    });
    expect((await d.client.send('PUT', '/kernels/virtio')).status).toBe(200);
  });
  afterAll(async () => d.stop());

  it('swaps a signed module in, reports it, counts it, and rolls it back', async () => {
    const v2 = testModule('virtio-v2');
    const r = await d.client.send('POST', '/swaps', {
      name: 'virtio',
      module: b64(v2.bytes),
      signature: v2.signature,
      graceMs: 60_000,
    });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ name: 'virtio', from: '1.0.0', to: '2.0.0', signer: v2.signature.keyId });
    const swaps = (await d.client.send('GET', '/swaps')).json as {
      modules: { version: string; status: string }[];
      totals: Record<string, number>;
      last: { to: string };
    };
    expect(swaps.last.to).toBe('2.0.0');
    expect(swaps.totals.swapped).toBe(1);
    expect(swaps.modules.filter((m) => m.status === 'live').map((m) => m.version)).toEqual(['2.0.0']);
    let metrics = (await d.client.send('GET', '/metrics')).text;
    expect(metrics).toContain('qingtian_swaps_total{module="virtio",outcome="swapped"} 1');
    expect(metrics).toMatch(/qingtian_kernel_module_info\{module="virtio",version="2\.0\.0",status="live"\} 1/);
    const back = await d.client.send('POST', '/swaps/virtio/rollback');
    expect(back.status).toBe(200);
    expect(back.json).toEqual({ name: 'virtio', live: '1.0.0' });
    metrics = (await d.client.send('GET', '/metrics')).text;
    expect(metrics).toContain('qingtian_swaps_total{module="virtio",outcome="rolled_back"} 1');
  });

  it('refuses what must not be swapped in, and changes nothing', async () => {
    const v2 = testModule('virtio-v2');
    const byStranger = signed(v2.bytes, stranger.privateKeyPem);
    const bad = await refused(
      d,
      'POST',
      '/swaps',
      { name: 'virtio', module: b64(v2.bytes), signature: byStranger.signature },
      403,
    );
    expect(bad.code).toBe('QT_BAD_SIGNATURE');
    await refused(
      d,
      'POST',
      '/swaps',
      { name: 'virtio', module: 'not base64!', signature: v2.signature },
      400,
      'body.module',
    );
    await refused(
      d,
      'POST',
      '/swaps',
      { name: 'Virtio', module: b64(v2.bytes), signature: v2.signature },
      400,
      'body.name',
    );
    await refused(
      d,
      'POST',
      '/swaps',
      { name: 'virtio', module: b64(v2.bytes), signature: 'x' },
      400,
      'body.signature',
    );
    await refused(
      d,
      'POST',
      '/swaps',
      { name: 'virtio', module: b64(v2.bytes), signature: v2.signature, graceMs: -1 },
      400,
      'body.graceMs',
    );
    await refused(
      d,
      'POST',
      '/swaps',
      { name: 'virtio', module: b64(v2.bytes), signature: v2.signature, trust: 'me' },
      400,
      'body.trust',
    );
    const c2 = testModule('counter-v2');
    const other = await refused(
      d,
      'POST',
      '/swaps',
      { name: 'virtio', module: b64(c2.bytes), signature: c2.signature },
      409,
    );
    expect(other.code).toBe('QT_SWAP_REFUSED');
    const none = await refused(d, 'POST', '/swaps/virtio/rollback', undefined, 409);
    expect(none.code).toBe('QT_SWAP_REFUSED');
    expect(
      ((await d.client.send('GET', '/swaps')).json as { totals: Record<string, number> }).totals.refused,
    ).toBeGreaterThanOrEqual(2);
  });

  it('runs concurrent swaps one after the other', async () => {
    const v2 = testModule('virtio-v2');
    const v1 = family('virtio');
    const send = (m: typeof v1) =>
      d.client.send('POST', '/swaps', { name: 'virtio', module: b64(m.bytes), signature: m.signature, graceMs: 0 });
    const [a, b] = await Promise.all([send(v2), send(v1)]);
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(a.json).toMatchObject({ from: '1.0.0', to: '2.0.0' });
    expect(b.json).toMatchObject({ from: '2.0.0', to: '1.0.0' });
  });
});
