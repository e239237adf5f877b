import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Host } from '../../../src/orchestrator/host.js';
import { AuditedTraffic, type TrafficReport } from '../../../src/ops/hot-swap/audited-traffic.js';
import type { CommittedEvent, RolledBackEvent, StagedEvent } from '../../../src/ops/hot-swap/events.js';
import { bootHost, family, regionNames, test, until, type Signed } from './helpers.js';

/**
 * The acceptance run: loopback traffic from two guests (one per DPU core) never stops while the
 * virtio module is swapped 1.0.0 → 2.0.0 → 1.0.0 … ; every request completes exactly once and
 * its response says which version served it. Then a trapping version is rolled back, and an
 * error counter that jumps within the grace window rolls a swap back too.
 */
describe('hot swap under continuous loopback traffic', () => {
  let host: Host;
  let traffic: AuditedTraffic[];
  let v1: Signed, v2: Signed;

  beforeAll(async () => {
    host = await bootHost(2);
    await host.loadKernel('virtio');
    v1 = family('virtio');
    v2 = test('virtio-v2');
    traffic = [];
    for (const core of host.dpu.cores) {
      traffic.push(
        await AuditedTraffic.create({
          memory: host.memory,
          runtime: host.runtime,
          core,
          name: `vm${core.id}`,
          maxRequests: 1 << 24,
        }),
      );
    }
  });

  afterAll(async () => {
    for (const t of traffic ?? []) await t.close();
    await host?.shutdown();
  });

  /** Waits until every device has served at least one request since this call. */
  const trafficFlows = async (): Promise<void> => {
    const before = traffic.map((t) => t.served());
    await until(() => traffic.every((t, i) => t.served() > before[i]!), 'traffic on every device');
  };

  const exactlyOnce = (r: TrafficReport): void => {
    expect({ lost: r.lost, duplicates: r.duplicates, wrong: r.wrong, unaudited: r.unaudited }).toEqual({
      lost: 0,
      duplicates: 0,
      wrong: 0,
      unaudited: 0,
    });
    expect(r.added).toBeGreaterThan(0);
    expect(r.completed).toBeGreaterThan(0);
    expect(Object.values(r.byVersion).reduce((a, b) => a + b, 0)).toBe(r.added);
  };

  it('v1 → v2 → v1, twenty times: none lost, none duplicated, each response stamped by the version that served it', async () => {
    const swaps = 20;
    const committed: CommittedEvent[] = [];
    const staged: StagedEvent[] = [];
    host.swaps.on('committed', (e) => committed.push(e));
    host.swaps.on('staged', (e) => staged.push(e));
    for (const t of traffic) t.start();
    await trafficFlows();
    for (let i = 0; i < swaps; i++) {
      const to = i % 2 === 0 ? v2 : v1;
      const r = await host.hotSwap('virtio', to.bytes, { signature: to.signature, graceMs: 0 });
      expect(r.to).toBe(i % 2 === 0 ? '2.0.0' : '1.0.0');
      expect(r.cores.map((c) => c.jobs)).toEqual([1, 1]);
      expect(await r.settled).toEqual({ outcome: 'kept', previousFreed: true });
      await trafficFlows();
    }
    const reports = [];
    for (const t of traffic) reports.push(await t.stop());
    for (const r of reports) {
      exactlyOnce(r);
      expect(Object.keys(r.byVersion).sort()).toEqual(['1.0.0', '2.0.0']);
      // In completion order: 1.0.0 first, then one change of version per swap, alternating.
      const path = r.transitions.map((t) => t.to);
      expect(path).toEqual(Array.from({ length: swaps + 1 }, (_, i) => (i % 2 === 0 ? '1.0.0' : '2.0.0')));
      const seqs = r.transitions.map((t) => t.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    }
    expect(committed).toHaveLength(2 * swaps);
    expect(new Set(committed.map((c) => c.coreId))).toEqual(new Set([0, 1]));
    for (const c of committed) expect(c.pauseNs).toBeGreaterThanOrEqual(0);
    expect(staged).toHaveLength(swaps);
    // At most two versions at once, and nothing leaked: one virtio image slot is left.
    expect(regionNames(host, 'kernel-image').filter((n) => n.startsWith('kimg:virtio'))).toHaveLength(1);
    expect(host.swaps.liveVersion('virtio')!.info.version).toBe('1.0.0');
    expect(host.runtime.kernel('virtio')).toBe(host.swaps.liveVersion('virtio'));
    host.swaps.removeAllListeners();
  });

  it('rolls back a version that traps, automatically, without losing a request', async () => {
    const v3 = test('virtio-v3-trap');
    for (const t of traffic) t.start();
    await trafficFlows();
    const rolled = new Promise<RolledBackEvent>((r) => host.swaps.once('rolled-back', r));
    const r = await host.hotSwap('virtio', v3.bytes, { signature: v3.signature, graceMs: 60_000 });
    expect(r.to).toBe('3.0.0');
    const e = await rolled;
    expect(e).toMatchObject({ name: 'virtio', from: '3.0.0', to: '1.0.0' });
    expect(e.reason).toMatch(/failed on virtio@3\.0\.0 .*unreachable/);
    const outcome = await r.settled;
    expect(outcome.outcome).toBe('rolled-back');
    expect(host.swaps.liveVersion('virtio')!.info.version).toBe('1.0.0');
    await trafficFlows();
    for (const t of traffic) {
      const rep = await t.stop();
      exactlyOnce(rep);
      expect(rep.byVersion['3.0.0']).toBeUndefined(); // it never served a request
    }
    expect(regionNames(host, 'kernel-image').filter((n) => n.startsWith('kimg:virtio@3'))).toEqual([]);
    expect(host.dpu.cores.map((c) => c.runningJobs().map((j) => j.kernel.info.version))).toEqual([
      ['1.0.0'],
      ['1.0.0'],
    ]);
    const states = host.swaps
      .modules()
      .filter((m) => m.name === 'virtio')
      .map((m) => `${m.version}:${m.status}`);
    expect(states.at(-1)).toBe('3.0.0:failed');
  });

  it('rolls back when the error counter it is given jumps within the grace window', async () => {
    let errors = 0;
    for (const t of traffic) t.start();
    const rolled = new Promise<RolledBackEvent>((r) => host.swaps.once('rolled-back', r));
    const r = await host.hotSwap('virtio', v2.bytes, {
      signature: v2.signature,
      graceMs: 60_000,
      health: () => errors,
      healthPollMs: 1,
    });
    await trafficFlows();
    errors += 3;
    const e = await rolled;
    expect(e.reason).toMatch(/error counter rose by 3 \(allowed: 0\)/);
    expect(e.cores.map((c) => c.jobs)).toEqual([1, 1]);
    expect((await r.settled).outcome).toBe('rolled-back');
    await trafficFlows();
    for (const t of traffic) {
      const rep = await t.stop();
      exactlyOnce(rep);
      expect(rep.transitions.slice(-2).map((x) => x.to)).toEqual(['2.0.0', '1.0.0']);
    }
  });

  it('a second swap ends the first one’s grace window (at most two versions live)', async () => {
    const a = await host.hotSwap('virtio', v2.bytes, { signature: v2.signature, graceMs: 60_000 });
    const b = await host.hotSwap('virtio', v1.bytes, { signature: v1.signature, graceMs: 60_000 });
    expect(await a.settled).toEqual({ outcome: 'kept', previousFreed: true });
    expect(regionNames(host, 'kernel-image').filter((n) => n.startsWith('kimg:virtio'))).toHaveLength(2);
    await host.swaps.settle('virtio');
    expect(await b.settled).toEqual({ outcome: 'kept', previousFreed: true });
    expect(regionNames(host, 'kernel-image').filter((n) => n.startsWith('kimg:virtio'))).toHaveLength(1);
    await expect(host.swaps.rollback('virtio')).rejects.toThrow(/no swap of virtio is in its grace window/);
  });
});
