import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError, type QingtianError } from '../../../src/common/errors.js';
import type { Host } from '../../../src/orchestrator/host.js';
import { bootHost, regionNames, test } from './helpers.js';

/**
 * The health probe of a hot swap (docs/hot-swap.md): a probe that cannot be read refuses the swap
 * before anything changes; one that fails later rolls it back. A swap is never reported failed
 * while its new version stays live.
 */
describe('hot swap: the health probe fails closed', () => {
  let host: Host;
  const events: string[] = [];

  beforeAll(async () => {
    host = await bootHost(1);
    await host.loadKernel('virtio');
    for (const e of ['refused', 'staged', 'committed', 'swapped', 'rolled-back', 'settled'] as const)
      host.swaps.on(e, () => events.push(e));
  });
  afterAll(async () => {
    await host?.shutdown();
  });

  const snapshot = (): unknown => ({
    commands: host.dpu.cores.map((c) => c.counters().commands),
    regions: regionNames(host),
    kernels: host.kernels.list().map((k) => k.key),
    live: host.swaps.liveVersion('virtio')!.key,
  });

  for (const [what, probe] of [
    [
      'throws',
      () => {
        throw new Error('probe down');
      },
    ],
    ['returns NaN', () => NaN],
    ['returns a string', () => '3' as unknown as number],
    ['returns Infinity', () => Infinity],
  ] as const) {
    it(`a probe that ${what} on its first read refuses the swap; nothing changes`, async () => {
      const before = snapshot();
      events.length = 0;
      const v2 = test('virtio-v2');
      const err = await host
        .hotSwap('virtio', v2.bytes, { signature: v2.signature, health: probe, graceMs: 60_000 })
        .catch((e: unknown) => e);
      expect(isQingtianError(err, 'QT_SWAP_REFUSED'), String(err)).toBe(true);
      expect((err as QingtianError).message).toMatch(
        /^hotSwap options\.health: the probe (threw: probe down|returned .*, not a finite number) before the swap; nothing was changed$/,
      );
      expect(events).toEqual(['refused']);
      expect(snapshot()).toEqual(before);
    });
  }

  for (const [what, later] of [
    [
      'throws',
      () => {
        throw new Error('probe down');
      },
    ],
    ['returns NaN', () => NaN],
  ] as const) {
    it(`a probe that ${what} inside the grace window rolls the swap back, and says so`, async () => {
      const previous = host.swaps.liveVersion('virtio')!;
      events.length = 0;
      let reads = 0;
      const v2 = test('virtio-v2');
      const r = await host.hotSwap('virtio', v2.bytes, {
        signature: v2.signature,
        graceMs: 60_000,
        healthPollMs: 1,
        health: () => (++reads === 1 ? 0 : later()),
      });
      const outcome = await r.settled;
      expect(outcome).toMatchObject({ outcome: 'rolled-back' });
      expect((outcome as { reason: string }).reason).toMatch(
        /^health probe (threw: probe down|returned NaN, not a finite number) within the grace window$/,
      );
      expect(host.swaps.liveVersion('virtio')!.key).toBe(previous.key);
      expect(host.runtime.kernel('virtio').key).toBe(previous.key);
      expect(events).toEqual(['staged', 'committed', 'swapped', 'rolled-back']);
    });
  }
});
