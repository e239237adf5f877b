import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFeatures } from '../../../src/common/virtio/features.js';
import type { Completion } from '../../../src/hypervisor/guest/virtio/index.js';
import { until } from '../../helpers/kernels.js';
import { FEATURE_SETS, loopback, startRig, type Rig } from './helpers.js';

describe('spec-literal TS driver against the Wasm loopback device on a DPU core', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(1, 'adaptive');
  });
  afterAll(async () => rig.close());

  for (const features of FEATURE_SETS) {
    it(`echoes every request exactly once (${describeFeatures(features)})`, async () => {
      const core = rig.pool.cores[0]!;
      const { gg, dev, drv } = loopback(rig, `g-${describeFeatures(features)}`, 64, features, () =>
        core.ringDoorbell(),
      );
      await dev.start({ core, budget: 32 });
      const g = gg.guest;
      const total = 600;
      const bufs = new Map<number, { out: bigint; in: bigint; inLen: number; tag: number }>();
      const pool = g.allocGpa(drv.size * 256, 64);
      const done: Completion[] = [];
      let sent = 0;
      const seen = new Set<number>();
      while (done.length < total) {
        while (sent < total) {
          // Mix shapes: 1 readable + 1 writable; 2 + 2 split buffers; write-less requests (len 0).
          const shape = sent % 3;
          const slot = BigInt((sent % drv.size) * 256);
          const out = pool + slot;
          const inb = out + 128n;
          const payload = new Uint8Array(40).map((_, i) => (sent * 7 + i) & 0xff);
          g.write(out, payload);
          const token =
            shape === 0
              ? drv.add([{ gpa: out, len: 40 }], [{ gpa: inb, len: 64 }], { indirect: sent % 2 === 0 })
              : shape === 1
                ? drv.add(
                    [
                      { gpa: out, len: 20 },
                      { gpa: out + 20n, len: 20 },
                    ],
                    [
                      { gpa: inb, len: 10 },
                      { gpa: inb + 10n, len: 54 },
                    ],
                    { indirect: true },
                  )
                : drv.add([{ gpa: out, len: 40 }], []);
          if (token === null) break;
          expect(bufs.has(token)).toBe(false);
          bufs.set(token, { out, in: inb, inLen: shape === 2 ? 0 : 40, tag: sent });
          sent++;
        }
        drv.kick();
        const c = drv.reap();
        for (const x of c) {
          const b = bufs.get(x.token)!;
          expect(b, `completion for unknown token ${x.token}`).toBeDefined();
          expect(seen.has(b.tag)).toBe(false);
          seen.add(b.tag);
          expect(x.len).toBe(b.inLen);
          if (b.inLen) expect(g.read(b.in, 40)).toEqual(g.read(b.out, 40));
          bufs.delete(x.token);
        }
        done.push(...c);
        if (c.length === 0) await new Promise((r) => setImmediate(r));
      }
      expect(seen.size).toBe(total);
      const st = dev.stats();
      expect(st.needsReset).toBe(false);
      expect(st.requests).toBe(total);
      expect(st.queue.rejected).toBe(0);
      expect(gg.guardsIntact()).toBe(true);
      await dev.stop();
    });
  }

  it('interrupts: EVENT_IDX suppresses them until the driver asks, and the ask is answered', async () => {
    const core = rig.pool.cores[0]!;
    const { gg, dev, drv } = loopback(
      rig,
      'irq',
      16,
      { packed: false, eventIdx: true, indirect: false, inOrder: false },
      () => core.ringDoorbell(),
    );
    await dev.start({ core, budget: 8 });
    const irq = dev.queue.irqAddr >> 2;
    const i32 = rig.memory.i32;
    const buf = gg.guest.allocGpa(4096);
    drv.disableInterrupts();
    for (let i = 0; i < 8; i++) drv.add([{ gpa: buf, len: 8 }], [{ gpa: buf + 64n, len: 8 }]);
    drv.kick();
    await until(() => dev.stats().requests === 8, 'first batch');
    drv.reap();
    const irqs = Atomics.load(i32, irq);
    const before = dev.stats().queue.irqSent;
    // Ask for an interrupt at the next completion, then add one: exactly that completion interrupts.
    expect(drv.enableInterrupts()).toBe(false);
    drv.add([{ gpa: buf, len: 8 }], [{ gpa: buf + 64n, len: 8 }]);
    drv.kick();
    await until(() => Atomics.load(i32, irq) !== irqs, 'the interrupt');
    expect(dev.stats().queue.irqSent).toBe(before + 1);
    expect(drv.reap()).toHaveLength(1);
    await dev.stop();
  });
});
