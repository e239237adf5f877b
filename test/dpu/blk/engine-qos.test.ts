import { afterAll, describe, expect, it } from 'vitest';
import type { EngineRequest, RequestSink } from '../../../src/dpu/blk/engine/engine-request.js';
import { StorageEngine } from '../../../src/dpu/blk/engine/storage-engine.js';
import { VolumeOp } from '../../../src/dpu/blk/engine/volume-queue-layout.js';
import type { Clock } from '../../../src/dpu/blk/qos/qos-scheduler.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { defaultRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { removeDir, tmpDir } from './helpers.js';

const dir = tmpDir('eqos');
afterAll(() => removeDir(dir));

class ManualClock implements Clock {
  t = 0;
  nowNs(): number {
    return this.t;
  }
}

describe('storage engine: QoS on the real serving path', () => {
  it('a noisy neighbour flooding writes cannot push a reserved volume below its reservation', () => {
    const clock = new ManualClock();
    const engine = new StorageEngine(defaultRuntime().memory, clock);
    const quiet = Volume.create({ dir: `${dir}/quiet`, sizeBytes: 4 << 20 });
    const noisy = Volume.create({ dir: `${dir}/noisy`, sizeBytes: 4 << 20 });
    // The service model: every request served costs 0.5 ms of the manual clock (2000/s capacity).
    // By weight alone the quiet volume would get 1/21 of it (~95/s); it reserves 400/s.
    const q = engine.addVolume(quiet, { reservation: 400, weight: 10 });
    const n = engine.addVolume(noisy, { weight: 200 });
    const served = new Map([
      [q, 0],
      [n, 0],
    ]);
    const outstanding = new Map([
      [q, 0],
      [n, 0],
    ]);
    const sinks = new Map<number, RequestSink>();
    for (const id of [q, n]) {
      sinks.set(id, {
        complete: (_req, status) => {
          expect(status).toBe(0);
          served.set(id, served.get(id)! + 1);
          outstanding.set(id, outstanding.get(id)! - 1);
        },
        endBurst: () => undefined,
      });
    }
    const data = Buffer.alloc(4096, 7);
    let lba = 0;
    const topUp = (id: number): void => {
      while (outstanding.get(id)! < 32) {
        const req: EngineRequest = {
          op: VolumeOp.Write,
          flags: 0,
          lba: lba++ % 1000,
          blocks: 1,
          bytes: 4096,
          skew: 0,
          addr: -1,
          heap: data,
          tag: 0,
          sink: sinks.get(id)!,
        };
        engine.submit(id, req);
        outstanding.set(id, outstanding.get(id)! + 1);
      }
    };
    const seconds = 10;
    while (clock.t < seconds * 1e9) {
      topUp(q);
      topUp(n);
      if (engine.pass(1) === 1) clock.t += 0.5e6;
      else clock.t += 0.01e6;
    }
    expect(served.get(q)! / seconds).toBeGreaterThanOrEqual(400 * 0.98);
    expect(served.get(n)!).toBeGreaterThan(served.get(q)!);
    expect(engine.qos(q).served.reservation).toBeGreaterThan(0);
    engine.free();
    quiet.close();
    noisy.close();
  });
});
