import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RingFeatures } from '../../../src/common/virtio/features.js';
import { LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { createDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { until } from '../../helpers/kernels.js';
import { GuardedGuest, MIB, startRig, type Rig } from './helpers.js';

const SPLIT: RingFeatures = { packed: false, eventIdx: true, indirect: true, inOrder: false };

/**
 * One DPU core serves two guests. Guest A is malicious: its descriptors name guest B's GPAs and
 * addresses past its own RAM, a second thread rewrites A's descriptor table and ring at random
 * while the core works (E3), and finally A's ring breaks. Guest B's requests must all come back
 * right, B's memory must change only where B's own device writes, and neither guest's guards move.
 */
describe('isolation: a malicious guest on a shared core', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(1, 'adaptive');
  });
  afterAll(async () => rig.close());

  it("guest A's hostile ring never changes guest B's results or memory", async () => {
    const core = rig.pool.cores[0]!;
    const ga = new GuardedGuest(rig.memory, 'evil', MIB);
    const gb = new GuardedGuest(rig.memory, 'victim', MIB);
    // Guest B: a normal driver, plus a sentinel area it never hands to its device.
    const devB = new LoopbackDevice(rig.rt, gb.guest, 'victim:loop', { maxQueueSize: 64 });
    const drvB = createDriver(gb.guest, { size: 64, features: SPLIT, notify: () => core.ringDoorbell() });
    devB.configure({
      size: 64,
      features: SPLIT,
      descGpa: drvB.descGpa,
      driverGpa: drvB.driverGpa,
      deviceGpa: drvB.deviceGpa,
    });
    const bufB = gb.guest.allocGpa(64 * 256, 64);
    const sentinel = gb.guest.allocGpa(65536, 64);
    gb.guest.bytes.fill(0x3c, Number(sentinel), Number(sentinel) + 65536);

    // Guest A: rings at the same GPAs as B's buffers, descriptors aimed at B and beyond A's RAM.
    const n = 64;
    const devA = new LoopbackDevice(rig.rt, ga.guest, 'evil:loop', { maxQueueSize: 64 });
    const descA = ga.guest.allocGpa(16 * n, 16);
    const availA = ga.guest.allocGpa(6 + 2 * n, 2);
    const usedA = ga.guest.allocGpa(6 + 8 * n, 4);
    devA.configure({ size: n, features: SPLIT, descGpa: descA, driverGpa: availA, deviceGpa: usedA });
    const ra = ga.guest.ram;
    for (let i = 0; i < n; i++) {
      const o = Number(descA) + 16 * i;
      const targets = [bufB, sentinel, BigInt(MIB) + BigInt(i * 4096), BigInt(gb.guest.ramBase - ga.guest.ramBase), 0n];
      ra.setBigUint64(o, targets[i % targets.length]!, true);
      ra.setUint32(o + 8, 4096, true);
      ra.setUint16(o + 12, i % 3 === 0 ? 2 : 0, true); // some writable
    }
    for (let i = 0; i < n; i++) ra.setUint16(Number(availA) + 4 + 2 * i, i, true);

    await devB.start({ core, budget: 32 });
    await devA.start({ core, budget: 32 });

    // A second thread scribbles over A's descriptor table and avail ring while the core serves both.
    const scribbler = new Worker(
      `const { workerData: w } = require('node:worker_threads');
       const u8 = new Uint8Array(w.buffer);
       let x = 0x12345678;
       const end = Date.now() + w.ms;
       while (Date.now() < end) {
         for (let k = 0; k < 256; k++) {
           x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
           const span = w.descBytes + w.availBytes;
           const off = (x >>> 0) % span;
           u8[(off < w.descBytes ? w.desc + off : w.avail + (off - w.descBytes))] = x & 0xff;
         }
       }`,
      {
        eval: true,
        workerData: {
          buffer: rig.memory.memory.buffer,
          desc: ga.guest.host(descA),
          descBytes: 16 * n,
          avail: ga.guest.host(availA),
          availBytes: 6 + 2 * n,
          ms: 1500,
        },
      },
    );
    const scribbled = new Promise((r) => scribbler.once('exit', r));

    // Meanwhile guest B runs echo traffic and checks every answer.
    let ok = 0;
    const want = new Map<number, { at: bigint; data: Uint8Array }>();
    let seq = 0;
    const deadline = Date.now() + 1500;
    while (Date.now() < deadline || want.size > 0) {
      while (Date.now() < deadline) {
        const slot = BigInt((seq % 128) * 128);
        const data = new Uint8Array(64).map((_, i) => (seq + i * 7) & 0xff);
        gb.guest.write(bufB + slot, data);
        const t = drvB.add([{ gpa: bufB + slot, len: 64 }], [{ gpa: bufB + slot + 64n, len: 64 }], {
          indirect: seq % 2 === 0,
        });
        if (t === null) break;
        want.set(t, { at: bufB + slot, data });
        seq++;
      }
      drvB.kick();
      for (const c of drvB.reap()) {
        const req = want.get(c.token);
        expect(req, `completion for unknown token ${c.token}`).toBeDefined();
        expect(c.len).toBe(64);
        expect(gb.guest.read(req!.at + 64n, 64)).toEqual(req!.data);
        want.delete(c.token);
        ok++;
      }
      // Keep A's ring churning too: publish more of its (scribbled) heads.
      ra.setUint16(Number(availA) + 2, (ra.getUint16(Number(availA) + 2, true) + 7) & 0xffff, true);
      core.ringDoorbell();
      await new Promise((r) => setImmediate(r));
    }
    await scribbled;
    // Finally break A outright: avail.idx far past what it published.
    ra.setUint16(Number(availA) + 2, (ra.getUint16(Number(availA) + 2, true) + 40000) & 0xffff, true);
    core.ringDoorbell();
    await until(() => devA.stats().needsReset, 'guest A to be marked NEEDS_RESET');

    expect(ok).toBeGreaterThan(100);
    expect(devB.stats().needsReset).toBe(false);
    expect(devB.stats().queue.rejected).toBe(0);
    expect(gb.guest.bytes.subarray(Number(sentinel), Number(sentinel) + 65536).every((b) => b === 0x3c)).toBe(true);
    expect(ga.guardsIntact()).toBe(true);
    expect(gb.guardsIntact()).toBe(true);
    expect(core.runState()).not.toBe('failed');
    expect(core.counters().errors).toBe(0); // nothing trapped
    // B keeps working after A broke.
    const t = drvB.add([{ gpa: bufB, len: 8 }], [{ gpa: bufB + 64n, len: 8 }]);
    expect(t).not.toBeNull();
    drvB.kick();
    await until(() => drvB.reap().length === 1, 'guest B after A broke');
    await devA.stop();
    await devB.stop();
  });
});
