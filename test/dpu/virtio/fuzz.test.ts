/**
 * Seeded fuzzing of the device side (fast-check): random descriptor tables, indirect tables,
 * available rings, indices, flags and suppression fields, in both ring formats, run through the
 * loopback device's kernel. Properties, for every case and every burst:
 *   - the kernel never traps (a trap would throw here, and across the worker boundary on a core);
 *   - no byte outside the guest's RAM changes (guards on both sides);
 *   - the work is bounded: at most `budget` chains, each walked over at most N ring slots;
 *   - every chain taken is completed in the same burst, or the device is marked NEEDS_RESET
 *     (with a known reason and a config interrupt).
 * Cases: QT_FUZZ_RUNS (default 10,000). A shrunk failure becomes a named test in conformance-*.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BR_CHAINS,
  CHAIN_BYTES,
  CH_DESC_COUNT,
  DESC_BYTES,
  EVS_FLAGS,
  EVS_OFF_WRAP,
  VQ_INFLIGHT,
} from '../../../src/generated/virtio.js';
import type { JobFailedEvent } from '../../../src/dpu/core/dpu-core.js';
import { LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { until } from '../../helpers/kernels.js';
import { GuardedGuest, MIB, startRig } from './helpers.js';
import { Harness } from './raw-ring.js';

const RUNS = Number(process.env.QT_FUZZ_RUNS ?? 10_000);
const RAM = 256 * 1024;
const RING_AT = 0x1000n;
const TABLES_AT = 0x10000n;
const DATA_AT = 0x20000n;

const descArb = fc.record({
  addrKind: fc.nat(6),
  addrOff: fc.nat(0xffff),
  len: fc.oneof(fc.constantFrom(0, 1, 16, 32, 64, 4096, 0xffff_ffff, 0x8000_0000), fc.nat(8192)),
  // Split: NEXT/WRITE/INDIRECT mixes; packed: the same with AVAIL set (available at wrap 1), or anything.
  flags: fc.oneof(
    fc.nat(7),
    fc.nat(7).map((f) => f | 0x80),
    fc.nat(0xffff),
  ),
  next: fc.nat(20),
  id: fc.nat(0xffff),
});
type Desc = typeof descArb extends fc.Arbitrary<infer T> ? T : never;

const caseArb = fc.record({
  packed: fc.boolean(),
  eventIdx: fc.boolean(),
  indirect: fc.boolean(),
  inOrder: fc.boolean(),
  sizeLog: fc.nat(4),
  packedSize: fc.integer({ min: 1, max: 16 }),
  descs: fc.array(descArb, { minLength: 1, maxLength: 16 }),
  tables: fc.array(fc.array(descArb, { minLength: 1, maxLength: 6 }), { maxLength: 4 }),
  avail: fc.array(fc.nat(20), { minLength: 16, maxLength: 16 }),
  availIdx: fc.oneof(fc.nat(20), fc.nat(0xffff)),
  availFlags: fc.nat(0xffff),
  usedEvent: fc.nat(0xffff),
  drvEvFlags: fc.nat(0xffff),
  drvEvOffWrap: fc.nat(0xffff),
  bursts: fc.array(fc.record({ budget: fc.integer({ min: 1, max: 64 }), bumpIdx: fc.nat(40) }), {
    minLength: 1,
    maxLength: 4,
  }),
});

describe('device-side fuzz (both ring formats)', () => {
  const h = new Harness(RAM, 64);
  const ram = h.guest.ram;
  const addrOf = (d: Desc): bigint => {
    switch (d.addrKind) {
      case 0:
      case 1:
        return DATA_AT + BigInt(d.addrOff % 0x8000);
      case 2:
        return TABLES_AT + BigInt(16 * (d.addrOff % 24));
      case 3:
        return BigInt(RAM) - BigInt(d.addrOff % 64);
      case 4:
        return BigInt(RAM) + BigInt(d.addrOff);
      case 5:
        return (1n << 64n) - BigInt(1 + (d.addrOff % 64));
      default:
        return 0n;
    }
  };
  const writeDesc = (at: number, d: Desc, packed: boolean): void => {
    ram.setBigUint64(at, addrOf(d), true);
    ram.setUint32(at + 8, d.len, true);
    if (packed) {
      ram.setUint16(at + 12, d.id, true);
      ram.setUint16(at + 14, d.flags, true);
    } else {
      ram.setUint16(at + 12, d.flags, true);
      ram.setUint16(at + 14, d.next, true);
    }
  };

  it(`never traps, never writes outside guest RAM, bounds its work and completes or breaks (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        h.dev.reset();
        h.guest.bytes.fill(0);
        const n = c.packed ? c.packedSize : 1 << c.sizeLog;
        const features = { packed: c.packed, eventIdx: c.eventIdx, indirect: c.indirect, inOrder: c.inOrder };
        const desc = RING_AT;
        const drv = desc + BigInt(DESC_BYTES * 16);
        const dev = drv + 128n; // avail for N <= 16 is at most 38 bytes
        c.descs.slice(0, n).forEach((d, i) => writeDesc(Number(desc) + 16 * i, d, c.packed));
        c.tables.forEach((t, ti) => t.forEach((d, i) => writeDesc(Number(TABLES_AT) + 16 * (6 * ti + i), d, c.packed)));
        if (c.packed) {
          ram.setUint16(Number(drv) + EVS_FLAGS, c.drvEvFlags, true);
          ram.setUint16(Number(drv) + EVS_OFF_WRAP, c.drvEvOffWrap, true);
        } else {
          ram.setUint16(Number(drv), c.availFlags, true);
          ram.setUint16(Number(drv) + 2, c.availIdx, true);
          c.avail.slice(0, n).forEach((e, i) => ram.setUint16(Number(drv) + 4 + 2 * i, e, true));
          ram.setUint16(Number(drv) + 4 + 2 * n, c.usedEvent, true);
        }
        h.dev.configure({ size: n, features, descGpa: desc, driverGpa: drv, deviceGpa: dev });
        for (const b of c.bursts) {
          const usedBefore = c.packed ? 0 : ram.getUint16(Number(dev) + 2, true);
          const got = h.run(b.budget); // a trap throws here
          expect(got).toBeGreaterThanOrEqual(0);
          expect(got).toBeLessThanOrEqual(b.budget);
          const st = h.dev.stats();
          for (let i = 0; i < got; i++) {
            expect(
              h.memory.view.getUint16(h.dev.burst.base + BR_CHAINS + CHAIN_BYTES * i + CH_DESC_COUNT, true),
            ).toBeLessThanOrEqual(n);
          }
          if (st.needsReset) {
            expect(st.queue.broken?.id).toMatch(/^[BCF]\d/);
            expect(h.configIrqs()).toBeGreaterThan(0);
          } else {
            expect(h.memory.view.getUint32(h.dev.queue.state.base + VQ_INFLIGHT, true)).toBe(0);
            if (!c.packed) expect((ram.getUint16(Number(dev) + 2, true) - usedBefore) & 0xffff).toBe(got);
          }
          if (!c.packed)
            ram.setUint16(Number(drv) + 2, (ram.getUint16(Number(drv) + 2, true) + b.bumpIdx) & 0xffff, true);
        }
        expect(h.gg.guardsIntact()).toBe(true);
      }),
      { numRuns: RUNS, seed: 0x9e3779b9 },
    );
  });
});

describe('device-side fuzz on a DPU core', () => {
  it('random rings served by a real core never fail the job or the core (300 cases)', async () => {
    const rig = await startRig(1, 'poll');
    try {
      const core = rig.pool.cores[0]!;
      const gg = new GuardedGuest(rig.memory, 'fz', MIB);
      const dev = new LoopbackDevice(rig.rt, gg.guest, 'fz:loop', { maxQueueSize: 16 });
      const failures: string[] = [];
      rig.pool.on('job-failed', (e: JobFailedEvent) => failures.push(e.failure.message));
      const g = gg.guest;
      const ring = g.allocGpa(4096, 64);
      const data = g.allocGpa(65536, 64);
      await dev.start({ core, budget: 16 });
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.uint8Array({ minLength: 16 * 16 + 64, maxLength: 16 * 16 + 64 }),
          fc.nat(0xffff),
          async (packed, bytes, idx) => {
            await dev.stop(); // reconfiguring a started device is refused: it would race a burst
            dev.reset();
            g.bytes.set(bytes, Number(ring));
            // Aim descriptor addresses into the data area (or anywhere, from the random bytes).
            for (let i = 0; i < 16; i++)
              if (bytes[i]! & 1) g.ram.setBigUint64(Number(ring) + 16 * i, data + BigInt(bytes[i + 16]! * 64), true);
            g.ram.setUint16(Number(ring) + 258, idx, true);
            dev.configure({
              size: 16,
              features: { packed, eventIdx: true, indirect: true, inOrder: false },
              descGpa: ring,
              driverGpa: ring + 256n,
              deviceGpa: ring + 512n,
            });
            const passes = core.counters().passes;
            await dev.start({ core, budget: 16 });
            await until(() => core.counters().passes > passes + 100, 'the core to work the ring');
          },
        ),
        { numRuns: 300, seed: 7 },
      );
      expect(failures).toEqual([]);
      expect(core.counters().errors).toBe(0);
      expect(core.runState()).toBe('running');
      expect(gg.guardsIntact()).toBe(true);
      await dev.stop();
    } finally {
      await rig.close();
    }
  });
});
