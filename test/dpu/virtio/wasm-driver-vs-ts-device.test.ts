import { describe, expect, it } from 'vitest';
import { describeFeatures } from '../../../src/common/virtio/features.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { ReferenceDevice, echoChain } from '../../../src/dpu/virtio/reference-device.js';
import {
  DF_EVENT_IDX,
  DF_INDIRECT,
  DF_IN_ORDER,
  DF_PACKED,
  GD_ADDED,
  GD_COMPLETED,
  GD_ERRORS,
  GD_KICKS,
  GD_REAP_BYTES,
  GLOOP_PAIR_BYTES,
  TABLE_BYTES,
} from '../../../src/generated/guest.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { FEATURE_SETS, MIB } from './helpers.js';

type Fn = (...a: (number | bigint)[]) => number;

/**
 * The guest's Wasm driver (assembly/guest) against the spec-literal TS reference device, both
 * sides interleaved on this thread: every feature combination, including IN_ORDER and
 * indirect, and interrupt requests checked against the interrupt word.
 */
describe('Wasm guest driver against the spec-literal TS reference device', () => {
  for (const features of FEATURE_SETS) {
    it(`every request echoed exactly once (${describeFeatures(features)})`, () => {
      const memory = new HostMemory({ sizeBytes: 32 * MIB });
      const rt = new LoaderRuntime(memory);
      const k = rt.kernel('guest');
      const g = new Guest(memory, { name: 'x', ramBytes: 4 * MIB });
      const n = 32;
      const desc = g.allocGpa(16 * n, 16);
      const drvArea = g.allocGpa(features.packed ? 4 : 6 + 2 * n, 4);
      const devArea = g.allocGpa(features.packed ? 4 : 6 + 8 * n, 4);
      const state = g.allocGpa(Number(k.fn<Fn>('gdrv_bytes')(n)), 64);
      const scratch = g.allocGpa(GD_REAP_BYTES * n, 64);
      const buf = g.allocGpa(GLOOP_PAIR_BYTES * n, 64);
      const tables = features.indirect ? g.allocGpa(TABLE_BYTES * n, 16) : 0n;
      const doorbell = g.allocIrq();
      const irq = g.allocIrq();
      const flags =
        (features.packed ? DF_PACKED : 0) |
        (features.eventIdx ? DF_EVENT_IDX : 0) |
        (features.indirect ? DF_INDIRECT : 0) |
        (features.inOrder ? DF_IN_ORDER : 0);
      const drv = g.host(state);
      expect(
        k.fn<Fn>('gdrv_init')(
          drv,
          flags,
          n,
          g.ramBase,
          g.ramBytes,
          desc,
          drvArea,
          devArea,
          doorbell,
          doorbell + 4,
          irq,
          tables,
        ),
      ).toBe(0);
      const dev = new ReferenceDevice(
        g,
        { size: n, features: features, descGpa: desc, driverGpa: drvArea, deviceGpa: devArea },
        irq,
      );
      const pump = k.fn<Fn>('gloop_pump');
      const add = k.fn<Fn>('gdrv_add');
      const kick = k.fn<Fn>('gdrv_kick');
      const reap = k.fn<Fn>('gdrv_reap');
      const enableIrq = k.fn<Fn>('gdrv_enable_irq');
      const counters = (): { added: number; completed: number; errors: number; kicks: number } => ({
        kicks: Number(g.ram.getBigUint64(Number(state) + GD_KICKS, true)),
        added: Number(g.ram.getBigUint64(Number(state) + GD_ADDED, true)),
        completed: Number(g.ram.getBigUint64(Number(state) + GD_COMPLETED, true)),
        errors: Number(g.ram.getBigUint64(Number(state) + GD_ERRORS, true)),
      });
      const serve = (): number => {
        let c = 0;
        for (let chain = dev.pop(); chain; chain = dev.pop()) {
          dev.push(chain, echoChain(g, chain));
          c++;
        }
        if (c) dev.publish();
        return c;
      };
      // Pipelined: the driver fills and kicks, the device serves, the driver reaps and checks the echo.
      for (let round = 0; round < 300; round++) {
        pump(drv, buf, g.host(scratch), 1);
        serve();
      }
      pump(drv, buf, g.host(scratch), 1);
      const c = counters();
      expect(c.errors).toBe(0);
      expect(c.completed).toBeGreaterThanOrEqual(300 * 8 - n); // 2-descriptor requests: 16 per two rounds
      expect(c.added - c.completed).toBeLessThanOrEqual(n);
      expect(c.kicks).toBeGreaterThan(0);

      // Interrupts: with the device's kicks enabled, a request asked for with interrupts on raises one.
      serve();
      reap(drv, g.host(scratch), n);
      const before = Atomics.load(memory.i32, irq >> 2);
      expect(enableIrq(drv)).toBe(0);
      expect(add(drv, buf, 64, buf + 64n, 64)).toBeGreaterThanOrEqual(0);
      kick(drv);
      expect(serve()).toBe(1);
      expect(Atomics.load(memory.i32, irq >> 2)).toBe(before + 1);
      expect(reap(drv, g.host(scratch), n)).toBe(1);
    });
  }
});
