import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import type { RingFeatures } from '../../../src/common/virtio/features.js';
import { until } from '../../helpers/kernels.js';
import { loopback, startRig, type Rig } from './helpers.js';

const SPLIT: RingFeatures = { packed: false, eventIdx: true, indirect: false, inOrder: false };

/** A queue that a core serves cannot be reconfigured under it: the burst in flight would race the rewrite. */
describe('live queue reconfiguration', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(1, 'adaptive');
  });
  afterAll(async () => rig.close());

  it('configure(), reset(), restore(), save() and free() are refused while a core serves the queue', async () => {
    const core = rig.pool.cores[0]!;
    const { gg, dev, drv } = loopback(rig, 'live', 64, SPLIT, () => core.ringDoorbell());
    const config = dev.queue.config!;
    const snapshot = dev.queue.save();
    const buf = gg.guest.allocGpa(256, 64);
    const echo = async (byte: number): Promise<void> => {
      gg.guest.write(buf, new Uint8Array(64).fill(byte));
      expect(drv.add([{ gpa: buf, len: 64 }], [{ gpa: buf + 64n, len: 64 }])).not.toBeNull();
      drv.kick();
      let len = -1;
      await until(() => {
        const c = drv.reap();
        if (c.length) len = c[0]!.len;
        return len >= 0;
      }, `echo of ${byte}`);
      expect(len).toBe(64);
      expect(gg.guest.read(buf + 64n, 64)).toEqual(new Uint8Array(64).fill(byte));
    };

    await dev.start({ core, budget: 32 });
    await echo(1);
    const stateBefore = rig.memory.u8.slice(dev.queue.state.base, dev.queue.state.base + dev.queue.state.sizeBytes);
    const refused: [string, () => unknown][] = [
      ['dev.configure()', () => dev.configure(config)],
      ['dev.reset()', () => dev.reset()],
      ['reset()', () => dev.queue.reset()],
      ['configure()', () => dev.queue.configure(config)],
      ['restore()', () => dev.queue.restore(snapshot)],
      ['save()', () => dev.queue.save()],
      ['free()', () => dev.queue.free()],
    ];
    for (const [op, f] of refused) {
      expect(f, op).toThrow(expect.objectContaining({ code: 'QT_DEVICE_STATE' }));
      // The queue's own operations name themselves and the core (the device's say it is started).
      if (!op.startsWith('dev.')) {
        try {
          f();
        } catch (e) {
          expect(isQingtianError(e, 'QT_DEVICE_STATE')).toBe(true);
          expect((e as Error).message).toContain(op);
          expect((e as Error).message).toContain('core 0');
        }
      }
    }
    // Nothing changed: the state region is as it was, and the device still serves.
    expect(rig.memory.u8.slice(dev.queue.state.base, dev.queue.state.base + dev.queue.state.sizeBytes)).toEqual(
      stateBefore,
    );
    expect(dev.queue.core).toBe(0);
    await echo(2);

    // Detached, the same operations go through.
    await dev.stop();
    expect(dev.queue.core).toBeNull();
    const saved = dev.queue.save();
    dev.reset();
    expect(dev.stats().queue.ready).toBe(false);
    dev.queue.restore(saved);
    expect(dev.stats().queue.ready).toBe(true);
    await dev.start({ core, budget: 32 });
    await echo(3);
    await dev.stop();
    dev.free();
  });
});
