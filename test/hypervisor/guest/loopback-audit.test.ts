import { describe, expect, it } from 'vitest';
import type { RingFeatures } from '../../../src/common/virtio/features.js';
import { GD_ADDED, GD_COMPLETED, GD_REAP_BYTES, GLOOP_PAIR_BYTES } from '../../../src/generated/guest.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { LoopbackAudit, type GuestCaller } from '../../../src/hypervisor/guest/loopback-audit.js';

type Fn = (...a: (number | bigint)[]) => number | bigint;
const MIB = 1 << 20;
const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };

/**
 * The guest's exactly-once audit (assembly/guest/audit.ts) with the guest driver and the Wasm
 * loopback device interleaved on this thread: completions tallied by the version stamped into
 * them, duplicates and gaps found.
 */
describe('loopback audit', () => {
  function rig(stampVersion: boolean) {
    const memory = new HostMemory({ sizeBytes: 32 * MIB });
    const rt = new LoaderRuntime(memory);
    const k = rt.kernel('guest');
    const fn = (name: string): Fn => k.fn<Fn>(name);
    const caller: GuestCaller = { call: async (name, ...args) => fn(name)(...args) };
    const g = new Guest(memory, { name: 'a', ramBytes: 4 * MIB });
    const n = 64;
    const dev = new LoopbackDevice(rt, g, 'a:loop', { maxQueueSize: n, maxBurst: 64, stampVersion });
    const desc = g.allocGpa(16 * n, 16);
    const avail = g.allocGpa(6 + 2 * n, 4);
    const used = g.allocGpa(6 + 8 * n, 4);
    dev.configure({ size: n, features: SPLIT, descGpa: desc, driverGpa: avail, deviceGpa: used });
    const state = g.allocGpa(Number(fn('gdrv_bytes')(n)), 64);
    const scratch = g.host(g.allocGpa(GD_REAP_BYTES * n, 64));
    const buf = g.allocGpa(GLOOP_PAIR_BYTES * n, 64);
    const bell = g.allocIrq();
    const drv = g.host(state);
    expect(fn('gdrv_init')(drv, 0, n, g.ramBase, g.ramBytes, desc, avail, used, bell, bell + 4, g.allocIrq(), 0n)).toBe(
      0,
    );
    const run = rt.kernel('virtio').fn<Fn>('vloop_run');
    const added = (): number => Number(g.ram.getBigUint64(Number(state) + GD_ADDED, true));
    return { g, caller, fn, drv, scratch, buf, state, added, serve: () => run(dev.state.base, 64) };
  }

  it('tallies every completion by the version the device stamped, once each, none missing', async () => {
    const r = rig(true);
    const audit = await LoopbackAudit.create(r.g, r.caller, { maxRequests: 10_000, maxTransitions: 8 });
    const pump = r.fn('gloop_pump_audit');
    for (let round = 0; round < 50; round++) {
      pump(r.drv, r.buf, r.scratch, 1, audit.host);
      r.serve();
    }
    expect(r.fn('gloop_drain_audit')(r.drv, r.buf, r.scratch, 1000, audit.host)).toBe(0);
    const rep = audit.read();
    expect(r.added()).toBeGreaterThan(500);
    expect(rep.byVersion).toEqual({ '1.0.0': r.added() });
    expect(rep.transitions).toEqual([{ seq: 1, from: '0.0.0', to: '1.0.0' }]);
    expect({ duplicates: rep.duplicates, wrong: rep.wrong, beyond: rep.beyond, untallied: rep.untallied }).toEqual({
      duplicates: 0,
      wrong: 0,
      beyond: 0,
      untallied: 0,
    });
    expect(await audit.missing(r.added())).toBe(0);
    // Sequence numbers that never completed are counted as missing.
    expect(await audit.missing(r.added() + 5)).toBe(5);
  });

  it('finds a request completed twice, and reports unstamped responses as 0.0.0', async () => {
    const r = rig(false);
    const audit = await LoopbackAudit.create(r.g, r.caller, { maxRequests: 1000 });
    const pump = r.fn('gloop_pump_audit');
    pump(r.drv, r.buf, r.scratch, 1, audit.host);
    r.serve();
    pump(r.drv, r.buf, r.scratch, 1, audit.host);
    r.fn('gloop_drain_audit')(r.drv, r.buf, r.scratch, 1000, audit.host);
    const first = r.added();
    // Replay: the driver's sequence counter goes back, so the next requests carry numbers that
    // already completed — exactly what a device completing a request twice looks like.
    r.g.ram.setBigUint64(Number(r.state) + GD_ADDED, 0n, true);
    r.g.ram.setBigUint64(Number(r.state) + GD_COMPLETED, 0n, true);
    pump(r.drv, r.buf, r.scratch, 1, audit.host);
    r.serve();
    r.fn('gloop_drain_audit')(r.drv, r.buf, r.scratch, 1000, audit.host);
    const rep = audit.read();
    expect(rep.duplicates).toBe(r.added());
    expect(rep.byVersion).toEqual({ '0.0.0': first + r.added() });
    expect(await audit.missing(first)).toBe(0);
  });
});
