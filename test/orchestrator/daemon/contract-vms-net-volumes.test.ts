import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refused, startDaemon, state, type D } from '../../helpers/daemon.js';

const MIB = 1 << 20;
const host = {
  memory: { sizeBytes: 512 * MIB },
  dpu: { cores: 1, mode: 'interrupt' as const },
  vms: { poolMiB: 128 },
  storage: { arenaBytes: 32 * MIB },
};

describe('/vms', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon({ host });
  });
  afterAll(async () => d.stop());

  it('creates a VM running, pauses, resumes, powers off and destroys it', async () => {
    const put = await d.client.send('PUT', '/vms/web-1', { vcpus: 1, memoryMiB: 4 });
    expect(put.status).toBe(200);
    expect(put.json).toMatchObject({ name: 'web-1', state: 'running', vcpus: 1, memoryMiB: 4 });
    expect(d.daemon.host.vms.get('web-1')?.state).toBe('running');
    for (const s of ['paused', 'running', 'shutoff', 'running'] as const) {
      const r = await d.client.send('PATCH', '/vms/web-1', { state: s });
      expect(r.status, s).toBe(200);
      expect((r.json as { state: string }).state).toBe(s);
    }
    const del = await d.client.send('DELETE', '/vms/web-1');
    expect(del.status).toBe(200);
    expect((del.json as { state: string }).state).toBe('destroyed');
    expect(d.daemon.host.vms.list()).toEqual([]);
    expect(d.daemon.host.memory.regions().filter((r) => r.name.includes('web-1'))).toEqual([]);
  });

  it('is idempotent: the same spec again changes nothing; another spec is refused', async () => {
    expect((await d.client.send('PUT', '/vms/a', { vcpus: 1, memoryMiB: 2, state: 'defined' })).status).toBe(200);
    const s = await state(d);
    const again = await d.client.send('PUT', '/vms/a', { memoryMiB: 2, vcpus: 1, state: 'defined' });
    expect(again.status).toBe(200);
    expect(await state(d)).toEqual(s);
    await refused(d, 'PUT', '/vms/a', { vcpus: 2, memoryMiB: 2 }, 409, 'params.name');
    // The same spec with another state moves it there.
    expect(((await d.client.send('PUT', '/vms/a', { vcpus: 1, memoryMiB: 2 })).json as { state: string }).state).toBe(
      'running',
    );
    expect((await d.client.send('DELETE', '/vms/a')).status).toBe(200);
  });

  it('refuses bad names, specs and transitions, naming the field, and changes nothing', async () => {
    await refused(d, 'PUT', '/vms/-x', { vcpus: 1, memoryMiB: 2 }, 400, 'params.name');
    await refused(d, 'PUT', '/vms/b', { vcpus: 0, memoryMiB: 2 }, 400, 'body.vcpus');
    await refused(d, 'PUT', '/vms/b', { vcpus: 1, memoryMiB: 99999 }, 400, 'body.memoryMiB');
    await refused(d, 'PUT', '/vms/b', { vcpus: 1, memoryMiB: 2, gpu: true }, 400, 'body.gpu');
    await refused(d, 'PUT', '/vms/b', { vcpus: 1, memoryMiB: 2, state: 'flying' }, 400, 'body.state');
    await refused(
      d,
      'PUT',
      '/vms/b',
      { vcpus: 1, memoryMiB: 2, devices: [{ kind: 'vsock', cid: 3 }] },
      400,
      'body.devices.0.cid',
    );
    // More RAM than the pool holds: refused by the host agent, nothing left behind.
    const oom = await refused(d, 'PUT', '/vms/b', { vcpus: 1, memoryMiB: 512 }, 409);
    expect(oom.code).toBe('QT_OUT_OF_MEMORY');
    await d.client.send('PUT', '/vms/c', { vcpus: 1, memoryMiB: 2, state: 'defined' });
    await refused(d, 'PATCH', '/vms/c', { state: 'shutoff' }, 409, 'body.state');
    await refused(d, 'PATCH', '/vms/c', { state: 'running', now: 1 }, 400, 'body.now');
    await refused(d, 'PATCH', '/vms/zz', { state: 'running' }, 404);
    await refused(d, 'DELETE', '/vms/zz', undefined, 404);
    await d.client.send('DELETE', '/vms/c');
  });

  it('serves concurrent clients: many VMs put and deleted at once, nothing left over', async () => {
    const before = d.daemon.host.memory.regions().map((r) => r.name);
    const names = Array.from({ length: 8 }, (_, i) => `vm${i}`);
    const puts = await Promise.all(names.map((n) => d.client.send('PUT', `/vms/${n}`, { vcpus: 1, memoryMiB: 1 })));
    expect(puts.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(d.daemon.host.vms.list().map((v) => v.state)).toEqual(names.map(() => 'running'));
    const dels = await Promise.all(names.map((n) => d.client.send('DELETE', `/vms/${n}`)));
    expect(dels.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(d.daemon.host.vms.list()).toEqual([]);
    expect(d.daemon.host.memory.regions().map((r) => r.name)).toEqual(before);
  });
});

describe('/vpcs, /subnets, /security-groups, /ports, /routes', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon({ host });
  });
  afterAll(async () => d.stop());

  it('builds a network, reads it back, and takes it down in reverse', async () => {
    const ok = async (path: string, body: unknown) => {
      const r = await d.client.send('PUT', path, body);
      expect(r.status, `${path} ${r.text}`).toBe(200);
      return r.json as { name: string; spec: unknown; status: Record<string, unknown> };
    };
    expect((await ok('/vpcs/blue', { cidr: '198.19.0.0/16' })).status).toMatchObject({ cidr: '198.19.0.0/16' });
    await ok('/subnets/web', { vpc: 'blue', cidr: '198.19.1.0/24' });
    await ok('/security-groups/ping', { rules: [{ direction: 'ingress', protocol: 'icmp' }] });
    const port = await ok('/ports/a', { subnet: 'web', ip: '198.19.1.10', securityGroups: ['ping'] });
    expect(port.status).toMatchObject({ vpc: 'blue', ip: '198.19.1.10', attached: null, traffic: null });
    await ok('/routes/to-a', { vpc: 'blue', prefix: '198.19.9.0/24', target: { port: 'a' } });
    expect(d.daemon.host.network.list().routes.some((r) => r.prefix === '198.19.9.0/24')).toBe(true);
    // Idempotent, and a changed spec is refused.
    const s = await state(d);
    await ok('/ports/a', { ip: '198.19.1.10', subnet: 'web', securityGroups: ['ping'] });
    expect(await state(d)).toEqual(s);
    await refused(d, 'PUT', '/ports/a', { subnet: 'web', ip: '198.19.1.11' }, 409, 'params.name');
    // In use: refused, nothing changes.
    await refused(d, 'DELETE', '/vpcs/blue', undefined, 409);
    await refused(d, 'DELETE', '/security-groups/ping', undefined, 409);
    for (const p of ['/routes/to-a', '/ports/a', '/security-groups/ping', '/subnets/web', '/vpcs/blue'])
      expect((await d.client.send('DELETE', p)).status, p).toBe(200);
    expect(d.daemon.host.network.list()).toMatchObject({ vpcs: [], subnets: [], ports: [], securityGroups: [] });
  });

  it('refuses bad specs naming the field, and changes nothing', async () => {
    await d.client.send('PUT', '/vpcs/red', { cidr: '198.18.0.0/16' });
    await refused(d, 'PUT', '/vpcs/x', { cidr: '198.18.0.1/16' }, 400, 'body.cidr');
    await refused(d, 'PUT', '/vpcs/x', { cidr: '198.18.0.0/16', vni: 0 }, 400, 'body.vni');
    await refused(d, 'PUT', '/vpcs/bad!name', { cidr: '198.18.0.0/16' }, 400, 'params.name');
    await refused(d, 'PUT', '/subnets/s', { vpc: 'nope', cidr: '198.18.1.0/24' }, 400, 'body.vpc');
    await refused(d, 'PUT', '/subnets/s', { vpc: 'red', cidr: '10.0.0.0/24' }, 400, 'body.cidr');
    await refused(
      d,
      'PUT',
      '/security-groups/g',
      { rules: [{ direction: 'up', protocol: 'icmp' }] },
      400,
      'body.rules.0.direction',
    );
    await refused(d, 'PUT', '/ports/p', { subnet: 'nope', ip: '198.18.1.5' }, 400, 'body.subnet');
    await refused(d, 'PUT', '/routes/r', { vpc: 'red', prefix: '198.18.5.0/24', target: { port: 'nope' } }, 400);
    await refused(d, 'GET', '/ports/nope', undefined, 404);
    expect((await d.client.send('DELETE', '/vpcs/red')).status).toBe(200);
  });

  it('serves concurrent clients: many ports at once', async () => {
    await d.client.send('PUT', '/vpcs/green', { cidr: '198.18.0.0/16' });
    await d.client.send('PUT', '/subnets/g1', { vpc: 'green', cidr: '198.18.1.0/24' });
    const names = Array.from({ length: 16 }, (_, i) => `p${i}`);
    const puts = await Promise.all(
      names.map((n, i) => d.client.send('PUT', `/ports/${n}`, { subnet: 'g1', ip: `198.18.1.${10 + i}` })),
    );
    expect(puts.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(((await d.client.send('GET', '/ports')).json as unknown[]).length).toBe(16);
    const dels = await Promise.all(names.map((n) => d.client.send('DELETE', `/ports/${n}`)));
    expect(dels.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(d.daemon.host.network.list().ports).toEqual([]);
  });
});

describe('/volumes', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon({ host, dataDir: undefined });
  });
  afterAll(async () => d.stop());

  it('without a data dir, refuses to create volumes', async () => {
    await refused(d, 'PUT', '/volumes/v', { sizeBytes: MIB }, 409, 'params.name');
  });
});

describe('/volumes with a data dir', () => {
  let d: D;
  beforeAll(async () => {
    d = await startDaemon({ host });
  });
  afterAll(async () => d.stop());

  it('creates, reads, is idempotent, refuses another spec, deletes with its files', async () => {
    const spec = { sizeBytes: 4 * MIB, dataDisks: 2, parityDisks: 1 };
    const put = await d.client.send('PUT', '/volumes/v0', spec);
    expect(put.status, put.text).toBe(200);
    const v = put.json as { dir: string; sizeBytes: number; disks: unknown[] };
    expect(v).toMatchObject({ sizeBytes: 4 * MIB, dataDisks: 2, parityDisks: 1 });
    expect(v.disks).toHaveLength(3);
    expect(existsSync(join(v.dir, 'volume.json'))).toBe(true);
    const s = await state(d);
    expect(
      (await d.client.send('PUT', '/volumes/v0', { parityDisks: 1, dataDisks: 2, sizeBytes: 4 * MIB })).status,
    ).toBe(200);
    expect(await state(d)).toEqual(s);
    await refused(d, 'PUT', '/volumes/v0', { ...spec, sizeBytes: 8 * MIB }, 409, 'params.name');
    await refused(d, 'PUT', '/volumes/v1', { sizeBytes: 1000 }, 400, 'body.sizeBytes');
    await refused(d, 'PUT', '/volumes/v1', { sizeBytes: MIB, dataDisks: 17 }, 400, 'body.dataDisks');
    await refused(d, 'PUT', '/volumes/v1', { sizeBytes: MIB, qos: { weight: 0 } }, 400, 'body.qos.weight');
    await refused(d, 'PUT', '/volumes/v1', { sizeBytes: MIB, path: '/etc' }, 400, 'body.path');
    await refused(d, 'GET', '/volumes/v1', undefined, 404);
    expect(existsSync(join(d.dir, 'data', 'volumes', 'v1'))).toBe(false);
    expect((await d.client.send('DELETE', '/volumes/v0')).status).toBe(200);
    expect(existsSync(v.dir)).toBe(false);
  });

  it('serves concurrent clients: volumes created and deleted at once', async () => {
    const names = ['c0', 'c1', 'c2', 'c3'];
    const puts = await Promise.all(
      names.map((n) => d.client.send('PUT', `/volumes/${n}`, { sizeBytes: MIB, dataDisks: 1, parityDisks: 1 })),
    );
    expect(puts.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(((await d.client.send('GET', '/volumes')).json as unknown[]).length).toBe(4);
    const dels = await Promise.all(names.map((n) => d.client.send('DELETE', `/volumes/${n}`)));
    expect(dels.map((r) => r.status)).toEqual(names.map(() => 200));
    expect(d.daemon.host.storage.volumes()).toEqual([]);
  });
});
