/**
 * The vhost-user shaped device base (src/dpu/virtio/virtio-backend.ts), driven as a VMM would:
 * features, status, queues, memory table, config space, start/stop on a DPU core, the
 * DEVICE_NEEDS_RESET event, save/restore as bytes, and free() leaving nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { GMAP_BYTES, GMAP_LAYOUT, GMAP_MAGIC, writeGuestMap } from '../../../src/common/gpa.js';
import type { GuestMemoryView } from '../../../src/common/guest-api.js';
import { featureWord, type RingFeatures } from '../../../src/common/virtio/features.js';
import type { KernelRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { DeviceStatus } from '../../../src/dpu/virtio/device-status.js';
import { DEV_WEIGHT } from '../../../src/generated/virtio.js';
import { LOOPBACK_FEATURES, LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { VirtioBackend, type NeedsResetEvent } from '../../../src/dpu/virtio/virtio-backend.js';
import type { Guest } from '../../../src/hypervisor/guest/guest.js';
import { createDriver, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { until } from '../../helpers/kernels.js';
import { GuardedGuest, MIB, loopback, startRig, type Rig } from './helpers.js';

const SPLIT: RingFeatures = { packed: false, eventIdx: true, indirect: true, inOrder: false };
const V1 = 1n << 32n;

function throwsCode(fn: () => unknown, code: string, text?: string | RegExp): void {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isQingtianError(caught), String(caught)).toBe(true);
  expect((caught as { code: string }).code, String(caught)).toBe(code);
  if (text !== undefined) expect((caught as Error).message).toMatch(text);
}

/** Echoes `count` requests through `drv` and checks each answer. */
async function echo(g: Guest, drv: VirtqueueDriver, pool: bigint, count: number, seed: number): Promise<void> {
  let done = 0;
  let sent = 0;
  const want = new Map<number, { out: bigint; in: bigint }>();
  while (done < count) {
    while (sent < count) {
      const at = pool + BigInt((sent % drv.size) * 128);
      g.write(
        at,
        new Uint8Array(32).map((_, i) => (seed + sent + i) & 0xff),
      );
      const token = drv.add([{ gpa: at, len: 32 }], [{ gpa: at + 64n, len: 32 }]);
      if (token === null) break;
      want.set(token, { out: at, in: at + 64n });
      sent++;
    }
    drv.kick();
    for (const c of drv.reap()) {
      const w = want.get(c.token)!;
      expect(c.len).toBe(32);
      expect(g.read(w.in, 32)).toEqual(g.read(w.out, 32));
      want.delete(c.token);
      done++;
    }
    await new Promise((r) => setImmediate(r));
  }
}

/** A device with a config space: 8 read-only bytes (a u64 "capacity") and a writable u32 at 8. */
class ConfigDevice extends VirtioBackend {
  constructor(rt: KernelRuntime, guest: GuestMemoryView, name: string) {
    super(rt, guest, name, {
      magic: 'VTST',
      layoutVersion: 1,
      payloadBytes: 16,
      queues: 2,
      maxQueueSize: 64,
      features: V1 | (1n << 29n) | 1n,
      configBytes: 12,
      kernel: 'virtio',
      jobs: [{ entry: 'vloop_run' }],
    });
    this.configView().setBigUint64(0, 0x0102030405060708n, true);
  }

  grow(capacity: bigint): void {
    this.configView().setBigUint64(0, capacity, true);
    this.configChanged();
  }

  protected override onConfigWrite(offset: number, data: Uint8Array): void {
    if (offset < 8) super.onConfigWrite(offset, data);
    new Uint8Array(this.configView().buffer, this.configView().byteOffset + offset, data.length).set(data);
  }

  protected override onReset(): void {
    this.configView().setUint32(8, 0, true);
  }
}

describe('VirtioBackend', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig(1, 'adaptive');
  });
  afterAll(async () => rig.close());

  it('negotiates only offered bits, requires VERSION_1, and keeps FEATURES_OK clear on refusal', () => {
    const gg = new GuardedGuest(rig.memory, 'feat', MIB);
    const dev = new LoopbackDevice(rig.rt, gg.guest, 'feat:loop');
    expect(dev.features()).toBe(LOOPBACK_FEATURES);
    throwsCode(() => dev.negotiate(V1 | (1n << 5n)), 'QT_FEATURES_REFUSED', /bits 5 are not offered/);
    expect(dev.status() & DeviceStatus.FEATURES_OK).toBe(0);
    expect(dev.negotiated()).toBeNull();
    throwsCode(() => dev.negotiate(1n << 29n), 'QT_FEATURES_REFUSED', /VERSION_1 \(bit 32\) is required/);
    throwsCode(() => dev.negotiate(-1n), 'QT_INVALID_ARGUMENT', /driver features/);
    // Queues need FEATURES_OK (vhost-user: SET_FEATURES before SET_VRING_*).
    const drv = createDriver(gg.guest, { size: 16, features: SPLIT, notify: () => undefined });
    const rings = { size: 16, descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa };
    throwsCode(() => dev.setQueue(0, rings), 'QT_DEVICE_STATE', /features not negotiated/);
    expect(dev.negotiate(featureWord(SPLIT))).toBe(featureWord(SPLIT));
    expect(dev.status() & DeviceStatus.FEATURES_OK).toBe(DeviceStatus.FEATURES_OK);
    dev.setQueue(0, rings);
    expect(dev.queue.config?.features).toEqual(SPLIT);
    expect(dev.stats().queue.ready).toBe(true);
    // Rings are only rings: features come from the negotiation, unknown keys are refused.
    throwsCode(() => dev.setQueue(0, { ...rings, features: SPLIT } as never), 'QT_INVALID_ARGUMENT', /rings/);
    throwsCode(() => dev.setQueue(1, rings), 'QT_INVALID_ARGUMENT', /queue index: expected an integer in \[0, 0\]/);
    // Renegotiating other ring features resets the queue set up under the old ones.
    dev.negotiate(V1 | (1n << 34n));
    expect(dev.stats().queue.ready).toBe(false);
    dev.free();
  });

  it('status: drivers add bits, FEATURES_OK only after a negotiation, 0 resets', () => {
    const gg = new GuardedGuest(rig.memory, 'status', MIB);
    const dev = new LoopbackDevice(rig.rt, gg.guest, 'status:loop');
    dev.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
    expect(dev.status()).toBe(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
    throwsCode(() => dev.setStatus(DeviceStatus.DRIVER_OK), 'QT_DEVICE_STATE', /DRIVER_OK before FEATURES_OK/);
    throwsCode(() => dev.setStatus(16), 'QT_INVALID_ARGUMENT', /reserved/);
    dev.negotiate(V1);
    dev.setStatus(DeviceStatus.DRIVER_OK);
    expect(dev.status()).toBe(15);
    dev.setStatus(0);
    expect(dev.status()).toBe(0);
    expect(dev.negotiated()).toBeNull();
    dev.free();
  });

  it('config space: spec layout little-endian, read-only unless the device allows, generation and interrupt on change', () => {
    const gg = new GuardedGuest(rig.memory, 'cfg', MIB);
    const dev = new ConfigDevice(rig.rt, gg.guest, 'cfg:dev');
    expect([...dev.configRead(0, 8)]).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    throwsCode(
      () => dev.configRead(10, 4),
      'QT_INVALID_ARGUMENT',
      /configRead length: expected an integer in \[0, 2\]/,
    );
    throwsCode(() => dev.configWrite(0, new Uint8Array(2)), 'QT_INVALID_ARGUMENT', /read-only/);
    dev.configWrite(8, new Uint8Array([1, 2, 3, 4]));
    expect([...dev.configRead(8, 4)]).toEqual([1, 2, 3, 4]);
    const events: string[] = [];
    dev.on('config-change', () => events.push('config-change'));
    const gen = dev.configGeneration();
    const irq = Atomics.load(rig.memory.i32, dev.configIrq >> 2);
    dev.grow(1n << 40n);
    expect(dev.configGeneration()).toBe(gen + 1);
    expect(Atomics.load(rig.memory.i32, dev.configIrq >> 2)).toBe(irq + 1);
    expect(events).toEqual(['config-change']);
    expect(dev.configRead(0, 8)).toEqual(new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0]));
    dev.reset();
    expect([...dev.configRead(8, 4)]).toEqual([0, 0, 0, 0]);
    dev.free();
  });

  it('a started device refuses every reconfiguration with QT_DEVICE_STATE; stop() makes them legal', async () => {
    const core = rig.pool.cores[0]!;
    const { dev, drv } = loopback(rig, 'live', 64, SPLIT, () => core.ringDoorbell());
    await dev.start({ core, budget: 32, weight: 3 });
    throwsCode(() => dev.reset(), 'QT_DEVICE_STATE', /reset refused while the device is started/);
    const rings = { size: 64, descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa };
    throwsCode(() => dev.setQueue(0, rings), 'QT_DEVICE_STATE', /setQueue refused while the device is started/);
    throwsCode(() => dev.configure({ ...rings, features: SPLIT }), 'QT_DEVICE_STATE', /started/);
    throwsCode(() => dev.negotiate(V1), 'QT_DEVICE_STATE', /started/);
    throwsCode(() => dev.queueBase(0), 'QT_DEVICE_STATE', /started/);
    throwsCode(() => dev.save(), 'QT_DEVICE_STATE', /started/);
    throwsCode(() => dev.restore(new Uint8Array(0)), 'QT_DEVICE_STATE', /started/);
    throwsCode(() => dev.setMemTable(dev.queue.gmapBase), 'QT_DEVICE_STATE', /started/);
    throwsCode(() => dev.free(), 'QT_DEVICE_STATE', /stop\(\) before free/);
    await expect(dev.start({ core })).rejects.toThrow(/already started/);
    expect(dev.stats().jobs).toEqual([{ coreId: 0, status: 'running', budget: 32, weight: 3 }]);
    expect(rig.memory.view.getUint32(dev.state.base + DEV_WEIGHT, true)).toBe(3);
    await dev.stop();
    expect(dev.started).toBe(false);
    dev.setQueue(0, rings);
    dev.reset();
    dev.free();
  });

  it('refuses bad placements before attaching anything', async () => {
    const core = rig.pool.cores[0]!;
    const { dev } = loopback(rig, 'place', 64, SPLIT);
    const jobs = core.jobCount();
    await expect(dev.start({ core, budget: 0 })).rejects.toThrow(
      /placement\[0\]\.budget: expected an integer in \[1, 65536\]/,
    );
    await expect(dev.start({ core, weight: 20_000 })).rejects.toThrow(/weight: expected an integer in \[1, 10000\]/);
    await expect(dev.start({ core: {} as never })).rejects.toThrow(/placement\[0\]\.core: expected a DpuCore/);
    await expect(dev.start([{ core }, { core }, { core }])).rejects.toThrow(/expected 1 placement or 1/);
    await expect(dev.start({ core, extra: 1 } as never)).rejects.toThrow(/placement\[0\]/);
    expect(core.jobCount()).toBe(jobs);
    dev.free();
  });

  it('reports DEVICE_NEEDS_RESET as an event and a config interrupt; reset after stop clears it', async () => {
    const core = rig.pool.cores[0]!;
    const { gg, dev, drv } = loopback(rig, 'brk', 64, SPLIT, () => core.ringDoorbell());
    const events: NeedsResetEvent[] = [];
    dev.on('needs-reset', (e: NeedsResetEvent) => events.push(e));
    await dev.start({ core, budget: 32 });
    await echo(gg.guest, drv, gg.guest.allocGpa(64 * 128, 64), 100, 1);
    // The guest publishes head 999 on a 64-entry ring (B2).
    const ram = gg.guest.ram;
    const idx = ram.getUint16(Number(drv.driverGpa) + 2, true);
    ram.setUint16(Number(drv.driverGpa) + 4 + 2 * (idx % 64), 999, true);
    Atomics.store(new Uint16Array(gg.guest.sharedBuffer), gg.guest.host(drv.driverGpa + 2n) >> 1, (idx + 1) & 0xffff);
    core.ringDoorbell();
    await until(() => events.length > 0, 'the needs-reset event');
    expect(events).toEqual([
      { device: 'brk:loop', queues: [{ index: 0, id: 'B2', what: expect.any(String) as string, detail: 999 }] },
    ]);
    expect(Atomics.load(rig.memory.i32, dev.configIrq >> 2)).toBeGreaterThan(0);
    expect(dev.stats()).toMatchObject({ needsReset: true, resets: 1, requests: 100 });
    await dev.stop();
    dev.reset();
    expect(dev.stats().needsReset).toBe(false);
    expect(dev.status()).toBe(0);
    expect(events.length).toBe(1);
    dev.free();
  });

  it('save() is bytes; restore() into another device carries on the same rings; bad bytes leave it reset', async () => {
    const core = rig.pool.cores[0]!;
    const { gg, dev, drv } = loopback(rig, 'mig', 64, SPLIT, () => core.ringDoorbell());
    const g = gg.guest;
    const pool = g.allocGpa(64 * 128, 64);
    dev.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.DRIVER_OK);
    await dev.start({ core, budget: 16 });
    await echo(g, drv, pool, 150, 3);
    await dev.stop();
    const bytes = dev.save();
    expect(bytes).toBeInstanceOf(Uint8Array);
    const base = dev.queueBase(0);
    expect(base.nextAvail).toBe(150);
    dev.free();

    const next = new LoopbackDevice(rig.rt, g, 'mig:loop2', { maxQueueSize: 256 });
    next.restore(bytes);
    expect(next.status()).toBe(
      DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.DRIVER_OK | DeviceStatus.FEATURES_OK,
    );
    expect(next.negotiated()).toBe(featureWord(SPLIT));
    expect(next.queueBase(0)).toEqual(base);
    expect(next.stats().requests).toBe(150);
    await next.start({ core, budget: 16 });
    await echo(g, drv, pool, 70, 9); // the driver never noticed the device changed
    await next.stop();
    expect(next.stats().requests).toBe(220);

    const refused = (b: Uint8Array, code: string, text: RegExp): void => {
      throwsCode(() => next.restore(b), code, text);
      expect(next.stats().queue.ready).toBe(false);
      expect(next.status()).toBe(0);
    };
    const patch = (f: (v: DataView) => void): Uint8Array => {
      const b = bytes.slice();
      f(new DataView(b.buffer));
      return b;
    };
    refused(bytes.subarray(0, 20), 'QT_BAD_FORMAT', /features: expected 8 bytes at offset 16, the snapshot has 20/);
    refused(new Uint8Array([...bytes, 0]), 'QT_BAD_FORMAT', /trailing bytes/);
    refused(
      patch((v) => v.setUint32(0, 0x1234, true)),
      'QT_BAD_FORMAT',
      /magic/,
    );
    refused(
      patch((v) => v.setUint32(8, 0x4b424c57, true)),
      'QT_BAD_FORMAT',
      /expected 0x4b424c56 \(VLBK\)/,
    );
    refused(
      patch((v) => v.setBigUint64(16, featureWord(SPLIT) | 1n, true)),
      'QT_FEATURES_REFUSED',
      /bits 0/,
    );
    // nextAvail - nextUsed = 5 with nothing in flight: A6.
    refused(
      patch((v) => v.setUint16(72, 155, true)),
      'QT_QUEUE_REFUSED',
      /A6/,
    );
    // A ring moved outside guest RAM: A3.
    refused(
      patch((v) => v.setBigUint64(48, 1n << 40n, true)),
      'QT_QUEUE_REFUSED',
      /A3/,
    );
    refused(
      patch((v) => v.setUint32(28, 0xffffffff, true)),
      'QT_BAD_FORMAT',
      /queue\[1\]\.present: expected 0 or 1/,
    );
    next.restore(bytes); // the good bytes still restore afterwards
    expect(next.queueBase(0)).toEqual(base);
    next.free();
  });

  it('setMemTable re-translates set-up queues through the new map, and resets one that no longer fits', () => {
    const gg = new GuardedGuest(rig.memory, 'mt', MIB);
    const g = gg.guest;
    const dev = new LoopbackDevice(rig.rt, g, 'mt:loop');
    const drv = createDriver(g, { size: 16, features: SPLIT, notify: () => undefined });
    dev.configure({
      size: 16,
      features: SPLIT,
      descGpa: drv.descGpa,
      driverGpa: drv.driverGpa,
      deviceGpa: drv.deviceGpa,
    });
    const map = rig.memory.allocState({
      name: 'mt:map2',
      owner: 'test',
      kind: 'device-state',
      magic: GMAP_MAGIC,
      layoutVersion: GMAP_LAYOUT,
      payloadBytes: GMAP_BYTES,
    });
    // The same RAM at GPA 0x100000: the rings' GPAs now lie outside the map.
    writeGuestMap(rig.memory.view, map.base, [{ gpaStart: 0x100000n, sizeBytes: BigInt(MIB), hostBase: g.ramBase }]);
    throwsCode(() => dev.setMemTable(map.base), 'QT_QUEUE_REFUSED', /A3/);
    expect(dev.stats().queue.ready).toBe(false);
    expect(dev.queue.gmapBase).toBe(map.base);
    throwsCode(() => dev.setMemTable(dev.state.base), 'QT_BAD_HEADER');
    // Mapped at 0 again: the queue set up through the new map works.
    writeGuestMap(rig.memory.view, map.base, [{ gpaStart: 0n, sizeBytes: BigInt(MIB), hostBase: g.ramBase }]);
    dev.configure({
      size: 16,
      features: SPLIT,
      descGpa: drv.descGpa,
      driverGpa: drv.driverGpa,
      deviceGpa: drv.deviceGpa,
    });
    dev.setMemTable(map.base);
    expect(dev.stats().queue.ready).toBe(true);
    dev.free();
    rig.memory.free(map, 'test');
  });

  it('free() gives back every region and interrupt word: the allocator is where it was', async () => {
    const core = rig.pool.cores[0]!;
    const gg = new GuardedGuest(rig.memory, 'leak', MIB);
    // Everything but the lifetime counters of allocations and frees.
    const accounting = (): object => {
      const { allocs, frees, ...rest } = rig.memory.stats();
      void allocs;
      void frees;
      return rest;
    };
    const before = accounting();
    const irqs = [gg.guest.allocIrq(), gg.guest.allocIrq()];
    irqs.forEach((w) => gg.guest.freeIrq(w));
    for (let round = 0; round < 3; round++) {
      const dev = new LoopbackDevice(rig.rt, gg.guest, 'leak:loop', { maxQueueSize: 256, maxBurst: 32 });
      const drv = createDriver(gg.guest, { size: 64, features: SPLIT, notify: () => core.ringDoorbell() });
      dev.configure({
        size: 64,
        features: SPLIT,
        descGpa: drv.descGpa,
        driverGpa: drv.driverGpa,
        deviceGpa: drv.deviceGpa,
      });
      await dev.start({ core });
      await dev.stop();
      dev.free();
      dev.free(); // a second free does nothing
      throwsCode(() => dev.stats(), 'QT_DISPOSED');
      await expect(dev.start({ core })).rejects.toThrow(/used after free\(\)/);
    }
    expect(accounting()).toEqual(before);
    // The device's interrupt words went back to the guest: the next ones handed out are reused.
    const again = new Set([gg.guest.allocIrq(), gg.guest.allocIrq(), gg.guest.allocIrq()]);
    expect(irqs.every((w) => again.has(w))).toBe(true);
    throwsCode(() => gg.guest.freeIrq(12), 'QT_INVALID_ARGUMENT', /freeIrq/);
  });
});
