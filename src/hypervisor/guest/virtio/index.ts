import type { DriverOptions, GuestRam, VirtqueueDriver } from './driver-api.js';
import { PackedDriver } from './packed-driver.js';
import { SplitDriver } from './split-driver.js';

export type { Buf, Completion, DriverOptions, GuestRam, VirtqueueDriver } from './driver-api.js';
export { PackedDriver, SplitDriver };

/** A driver of the ring format the features name (packed or split). */
export function createDriver(guest: GuestRam, opts: DriverOptions): VirtqueueDriver {
  return opts.features.packed ? new PackedDriver(guest, opts) : new SplitDriver(guest, opts);
}
