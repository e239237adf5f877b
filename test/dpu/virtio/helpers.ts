import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { createDriver, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import type { Region } from '../../../src/common/host-memory-api.js';
import { writeGuestMap, type GuestSlot } from '../../../src/common/gpa.js';
import type { RingFeatures } from '../../../src/common/virtio/features.js';

export const MIB = 1 << 20;

/**
 * A guest whose RAM sits between two 64 KiB guard regions of canaries, adjacent on both sides;
 * `guardsIntact()` says whether any guard byte (or the guest's memory map, written once at
 * creation) changed.
 */
export class GuardedGuest {
  readonly guest: Guest;
  private readonly guards: Region[];
  private gmapBytes: Uint8Array;

  constructor(
    readonly memory: HostMemory,
    name: string,
    ramBytes: number,
  ) {
    // Find room for guard + RAM + guard, then place the three exactly there.
    const probe = memory.alloc({
      name: 'probe',
      owner: 'test',
      kind: 'core-scratch',
      sizeBytes: ramBytes + 2 * 65536,
      alignBytes: 65536,
    });
    memory.free(probe, 'test');
    const guard = (at: number): Region => {
      const g = memory.alloc({
        name: `${name}:guard`,
        owner: 'test',
        kind: 'core-scratch',
        sizeBytes: 65536,
        atBase: at,
      });
      memory.u8.fill(0xa5, g.base, g.base + g.sizeBytes);
      return g;
    };
    const below = guard(probe.base);
    const above = guard(probe.base + 65536 + ramBytes);
    this.guest = new Guest(memory, { name, ramBytes, ramAt: probe.base + 65536 });
    this.guards = [below, above];
    const gm = this.guest.gmap;
    this.gmapBytes = memory.u8.slice(gm.base, gm.base + gm.sizeBytes);
  }

  /** Rewrites the guest memory map (multi-slot layouts for C4/C4a/D6a) and re-takes its snapshot. */
  remap(slots: GuestSlot[]): void {
    const gm = this.guest.gmap;
    writeGuestMap(this.memory.view, gm.base, slots);
    this.gmapBytes = this.memory.u8.slice(gm.base, gm.base + gm.sizeBytes);
  }

  guardsIntact(): boolean {
    const gm = this.guest.gmap;
    const u8 = this.memory.u8;
    for (let i = 0; i < this.gmapBytes.length; i++) if (u8[gm.base + i] !== this.gmapBytes[i]) return false;
    // The never-allocated low 64 KiB (where a 0 "address" would land) must stay zero too.
    const words = new Uint32Array(this.memory.memory.buffer);
    for (let w = 0; w < 65536 / 4; w++) if (words[w] !== 0) return false;
    for (const g of this.guards) {
      for (let w = g.base / 4, end = (g.base + g.sizeBytes) / 4; w < end; w++)
        if (words[w] !== 0xa5a5a5a5) return false;
    }
    return true;
  }
}

export interface Rig {
  memory: HostMemory;
  rt: LoaderRuntime;
  pool: DpuCorePool;
  close(): Promise<void>;
}

export async function startRig(cores = 1, mode: 'poll' | 'interrupt' | 'adaptive' = 'adaptive'): Promise<Rig> {
  const memory = new HostMemory({ sizeBytes: 128 * MIB });
  const rt = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores, mode, idleSpinPolls: 64 });
  await pool.loadKernel(rt.kernel('virtio'));
  return { memory, rt, pool, close: () => pool.close() };
}

export interface LoopbackSetup {
  gg: GuardedGuest;
  dev: LoopbackDevice;
  drv: VirtqueueDriver;
}

/** A guarded guest with a loopback device configured by a TS driver (not yet attached to a core). */
export function loopback(
  rig: Rig,
  name: string,
  size: number,
  features: RingFeatures,
  notify: () => void = () => undefined,
): LoopbackSetup {
  const gg = new GuardedGuest(rig.memory, name, 4 * MIB);
  const dev = new LoopbackDevice(rig.rt, gg.guest, `${name}:loop`, { maxQueueSize: Math.max(size, 256) });
  const drv = createDriver(gg.guest, { size, features, notify });
  dev.configure({ size, features, descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa });
  return { gg, dev, drv };
}

export const FEATURE_SETS: RingFeatures[] = [
  { packed: false, eventIdx: false, indirect: false, inOrder: false },
  { packed: false, eventIdx: true, indirect: false, inOrder: false },
  { packed: false, eventIdx: false, indirect: true, inOrder: false },
  { packed: false, eventIdx: true, indirect: true, inOrder: true },
  { packed: true, eventIdx: false, indirect: false, inOrder: false },
  { packed: true, eventIdx: true, indirect: false, inOrder: false },
  { packed: true, eventIdx: false, indirect: true, inOrder: false },
  { packed: true, eventIdx: true, indirect: true, inOrder: true },
];
