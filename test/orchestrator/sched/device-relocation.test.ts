import { describe, expect, it } from 'vitest';
import { ErrorCode, isQingtianError, QingtianError } from '../../../src/common/errors.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { CTL_DOORBELL, CTL_SLEEPING } from '../../../src/dpu/core/core-layout.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { GD_DOORBELL, GD_SLEEP } from '../../../src/generated/guest.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { AuditedTraffic } from '../../../src/ops/hot-swap/audited-traffic.js';
import { relocateBackend, type MovableBackend } from '../../../src/orchestrator/sched/device-relocation.js';

const MIB = 1 << 20;

async function rig() {
  const memory = new HostMemory({ sizeBytes: 256 * MIB });
  const runtime = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores: 2, mode: 'adaptive', nice: null });
  await pool.loadKernel(runtime.kernel('virtio'));
  const traffic = await AuditedTraffic.create({
    memory,
    runtime,
    core: pool.cores[0]!,
    name: 'moved',
    maxRequests: 1 << 22,
    queueSize: 64,
  });
  const dev: MovableBackend = {
    name: traffic.device.name,
    stop: () => traffic.device.stop(),
    start: (core) => traffic.device.start({ core, budget: 64 }),
  };
  const sites = {
    ram: { base: traffic.guest.ramBase, bytes: traffic.guest.ramBytes },
    drivers: [traffic.guest.host(traffic.queue.stateGpa)],
  };
  const close = async (): Promise<void> => {
    await traffic.close();
    await pool.close();
  };
  return { memory, pool, traffic, dev, sites, close };
}

/** Waits (no time asserted) until the device has served more than `n` requests. */
async function servedBeyond(traffic: AuditedTraffic, n: number): Promise<number> {
  for (;;) {
    const s = traffic.served();
    if (s > n) return s;
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('device backend relocation', () => {
  it('moves a loopback device between cores under traffic, back and forth, with no request lost or doubled', async () => {
    const { memory, pool, traffic, dev, sites, close } = await rig();
    try {
      const [a, b] = [pool.cores[0]!, pool.cores[1]!];
      traffic.start();
      let served = await servedBeyond(traffic, 0);
      const drv = sites.drivers[0]!;
      for (let i = 0; i < 12; i++) {
        const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
        const r = await relocateBackend(memory.i32, dev, from, to, sites);
        expect(r).toMatchObject({ device: 'moved:loop0', from: from.id, to: to.id });
        expect(r.pauseNs).toBeGreaterThan(0);
        // The guest now kicks the new core, and only the new core runs the device's job.
        expect(Atomics.load(memory.i32, (drv + GD_DOORBELL) >> 2)).toBe(to.controlBase + CTL_DOORBELL);
        expect(Atomics.load(memory.i32, (drv + GD_SLEEP) >> 2)).toBe(to.controlBase + CTL_SLEEPING);
        expect(to.runningJobs().some((j) => j.state === traffic.device.state.base)).toBe(true);
        expect(from.runningJobs().some((j) => j.state === traffic.device.state.base)).toBe(false);
        // Traffic goes on from where it was, served by the new core.
        served = await servedBeyond(traffic, served + 64);
      }
      const report = await traffic.stop();
      expect(report.added).toBeGreaterThan(0);
      expect(report.lost).toBe(0);
      expect(report.duplicates).toBe(0);
      expect(report.wrong).toBe(0);
      expect(report.unaudited).toBe(0);
    } finally {
      await close();
    }
  });

  it('refuses kick sites outside guest RAM or without a driver, moving nothing', async () => {
    const { memory, pool, traffic, dev, sites, close } = await rig();
    try {
      const [a, b] = [pool.cores[0]!, pool.cores[1]!];
      const bad = [
        { ...sites, drivers: [sites.ram.base + sites.ram.bytes] },
        { ...sites, drivers: [sites.drivers[0]! + 4] },
        { ...sites, drivers: [sites.ram.base] }, // inside RAM, but no driver state there
      ];
      for (const s of bad) {
        try {
          await relocateBackend(memory.i32, dev, a, b, s);
          throw new Error('accepted');
        } catch (e) {
          expect(isQingtianError(e)).toBe(true);
          expect((e as Error).message).toMatch(/relocate moved:loop0: drivers\[0\]/);
        }
        expect(a.runningJobs().some((j) => j.state === traffic.device.state.base)).toBe(true);
      }
      // A core that refuses the device: it goes back where it was, kicks included, and serves again.
      traffic.start();
      const refusing: MovableBackend = {
        ...dev,
        start: (core) =>
          core === b ? Promise.reject(new QingtianError(ErrorCode.CoreUnavailable, 'core 1 refuses')) : dev.start(core),
      };
      await expect(relocateBackend(memory.i32, refusing, a, b, sites)).rejects.toThrow('core 1 refuses');
      const drv = sites.drivers[0]!;
      expect(Atomics.load(memory.i32, (drv + GD_DOORBELL) >> 2)).toBe(a.controlBase + CTL_DOORBELL);
      expect(a.runningJobs().some((j) => j.state === traffic.device.state.base)).toBe(true);
      await servedBeyond(traffic, traffic.served() + 64);
      const report = await traffic.stop();
      expect(report.lost).toBe(0);
    } finally {
      await close();
    }
  });
});
