import { ErrorCode, QingtianError } from '../../common/errors.js';
import { CTL_DOORBELL, CTL_SLEEPING, ringDoorbell } from '../../dpu/core/core-layout.js';
import type { DpuCore } from '../../dpu/core/dpu-core.js';
import { GD_DOORBELL, GD_MAGIC, GD_SLEEP } from '../../generated/guest.js';

/**
 * Moving a running device's backend to another DPU core (the Zero scheduler: noisy backends go
 * off the CPUs of latency-sensitive guests). The order is the one a vhost-user front end follows
 * to hand a vring to another back-end thread:
 *
 * 1. quiesce: `stop()` detaches the device's jobs; it resolves once no burst of the device is in
 *    flight (a detach is a core command, and commands land between bursts). Queue state —
 *    indices, chains popped and not yet completed, requests carried across turns — stays in the
 *    device's regions in shared memory, untouched.
 * 2. re-point the guest's notifications: each guest driver's kick words (the model's virtio-pci
 *    notify address) are rewritten to the new core's doorbell and sleeping words, as a VMM re-binds
 *    an ioeventfd. A kick made meanwhile lands on the old core, which has nothing to do for it.
 * 3. attach on the new core (`start`), then ring its doorbell once: whatever the guest published
 *    while no core served the device, or kicked at the old core, is picked up now.
 *
 * Nothing is lost: chains wait in the rings, the device's in-flight state is data. If the new core
 * refuses the device, it goes back to the old one (words included) and the error is thrown.
 */

/** A device backend that can be stopped (quiesced) and started on a core. */
export interface MovableBackend {
  /** For messages. */
  readonly name: string;
  /** Detaches the device's jobs; resolves once none of its bursts is in flight. */
  stop(): Promise<void>;
  /** Attaches the device's jobs to `core`. */
  start(core: DpuCore): Promise<unknown>;
}

/** Where the guest kicks the device: its drivers' state areas ('GDRV', host addresses) inside its RAM. */
export interface GuestKickSites {
  /** Host address and size of the guest's RAM (every driver state must lie inside). */
  ram: { base: number; bytes: number };
  /** Host addresses of the guest drivers' states whose kick words follow the device. */
  drivers: readonly number[];
}

/** What one relocation did. */
export interface RelocationReport {
  /** The device. */
  device: string;
  /** The core it left. */
  from: number;
  /** The core serving it now. */
  to: number;
  /** From the stop asked to the new core kicked: the time no core served the device, ns. */
  pauseNs: number;
}

/** Guest driver states are 'GDRV' areas of at least this many bytes (their header). */
const GD_HEADER_BYTES = 128;

/**
 * Moves `device` from core `from` to core `to` (see the file comment); `i32` views host memory.
 * The caller serialises operations on the device (no start/stop of its own meanwhile).
 */
export async function relocateBackend(
  i32: Int32Array,
  device: MovableBackend,
  from: DpuCore,
  to: DpuCore,
  sites: GuestKickSites,
): Promise<RelocationReport> {
  const drivers = checkSites(i32, sites, device.name);
  const t0 = process.hrtime.bigint();
  if (from === to) return { device: device.name, from: from.id, to: to.id, pauseNs: 0 };
  await device.stop();
  pointKicks(i32, drivers, to);
  try {
    await device.start(to);
  } catch (e) {
    pointKicks(i32, drivers, from);
    await device.start(from);
    ringDoorbell(i32, from.controlBase);
    throw e;
  }
  ringDoorbell(i32, to.controlBase);
  return { device: device.name, from: from.id, to: to.id, pauseNs: Number(process.hrtime.bigint() - t0) };
}

/** Rewrites each driver's doorbell and sleeping words to `core`'s. */
function pointKicks(i32: Int32Array, drivers: readonly number[], core: DpuCore): void {
  for (const d of drivers) {
    // SAFETY: d was checked to be a 4-aligned 'GDRV' header inside the guest's RAM (checkSites).
    Atomics.store(i32, (d + GD_DOORBELL) >> 2, core.controlBase + CTL_DOORBELL);
    Atomics.store(i32, (d + GD_SLEEP) >> 2, core.controlBase + CTL_SLEEPING);
  }
}

/**
 * The driver states are in guest RAM, so the guest could have overwritten them: each must lie
 * inside the RAM, be aligned and still carry its magic, or nothing is moved.
 */
function checkSites(i32: Int32Array, sites: GuestKickSites, name: string): number[] {
  const { base, bytes } = sites.ram;
  return sites.drivers.map((d, i) => {
    if (!Number.isInteger(d) || d % 8 !== 0 || d < base || d + GD_HEADER_BYTES > base + bytes)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `relocate ${name}: drivers[${i}]: expected an 8-byte aligned driver state inside guest RAM [${base}, ${base + bytes}), got ${d}`,
        { field: `drivers.${i}`, got: d },
      );
    if (Atomics.load(i32, d >> 2) >>> 0 !== GD_MAGIC)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `relocate ${name}: drivers[${i}] at ${d}: no guest driver there any more ('GDRV' magic gone); nothing moved`,
        { field: `drivers.${i}`, got: d },
      );
    return d;
  });
}
