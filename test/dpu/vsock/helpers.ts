import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { VsockDevice, type VsockDeviceOptions } from '../../../src/dpu/vsock/vsock-device.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { featureWord } from '../../../src/common/virtio/features.js';
import { VSOCK_F_STREAM } from '../../../src/generated/vsock.js';
import {
  DEFAULT_VSOCK_DRIVER,
  VsockDriver,
  initVsockDriver,
  vsockDriverAreaBytes,
  type GuestVsockKernel,
  type VsockDriverGeometry,
  type VsockRings,
} from '../../../src/hypervisor/guest/virtio/vsock-driver.js';
import { familyKernel, instantiate } from '../../helpers/kernels.js';

export const MIB = 1 << 20;

export interface VsockRig {
  memory: HostMemory;
  rt: LoaderRuntime;
  pool: DpuCorePool;
  guestKernel: GuestVsockKernel;
  close(): Promise<void>;
}

export async function startVsockRig(cores = 1): Promise<VsockRig> {
  const memory = new HostMemory({ sizeBytes: 256 * MIB });
  const rt = new LoaderRuntime(memory);
  const pool = await DpuCorePool.start(memory, { cores, mode: 'adaptive', idleSpinPolls: 64 });
  await pool.loadKernel(rt.kernel('vsock'));
  const inst = instantiate(familyKernel('guest'), memory.memory);
  const guestKernel: GuestVsockKernel = { fn: (name) => inst.exports[name] as (...a: (number | bigint)[]) => number };
  return { memory, rt, pool, guestKernel, close: () => pool.close() };
}

export interface VsockPair {
  guest: Guest;
  dev: VsockDevice;
  vs: number;
  rings: VsockRings;
  irq: number;
  /** The guest's side, driven from this thread (null when `drive` was false). */
  driver: VsockDriver;
  stop(): Promise<void>;
}

/**
 * A guest with a vsock device on core `coreIndex` and a Wasm driver in its RAM; with `drive`
 * (default), the driver runs from this thread through VsockDriver.
 */
export async function vsockPair(
  rig: VsockRig,
  name: string,
  opts: Partial<VsockDeviceOptions> & {
    geometry?: Partial<VsockDriverGeometry>;
    coreIndex?: number;
    drive?: boolean;
  } = {},
): Promise<VsockPair> {
  const { geometry, coreIndex, drive, ...devOpts } = opts;
  const g: VsockDriverGeometry = { ...DEFAULT_VSOCK_DRIVER, ...geometry };
  const guest = new Guest(rig.memory, { name, ramBytes: 8 * MIB });
  const dev = new VsockDevice(rig.rt, guest, `${name}:vsock`, { guestCid: 3, ...devOpts });
  const core = rig.pool.cores[coreIndex ?? 0]!;
  const words = VsockDevice.notifyWordsOn(core);
  const irq = dev.queueIrq;
  const area = guest.allocGpa(vsockDriverAreaBytes(rig.guestKernel, g), 64);
  const { vs, rings } = initVsockDriver(
    rig.guestKernel,
    rig.memory.view,
    { base: guest.ramBase, bytes: guest.ramBytes },
    area,
    g,
    { config: dev.configAddress, doorbell: words.doorbell, sleeping: words.sleeping, irq },
  );
  dev.negotiate(
    featureWord({ packed: g.packed, eventIdx: g.eventIdx, indirect: false, inOrder: false }) |
      (1n << BigInt(VSOCK_F_STREAM)),
  );
  rings.forEach((r, i) => dev.setQueue(i, { size: i === 2 ? g.eventQueueSize : g.queueSize, ...r }));
  await dev.start(core);
  const driver = new VsockDriver(rig.guestKernel, rig.memory.memory.buffer, vs, irq);
  if (drive !== false) driver.start();
  return {
    guest,
    dev,
    vs,
    rings,
    irq,
    driver,
    stop: async () => {
      await driver.stop();
      await dev.stop();
    },
  };
}

/** Reads from a stream until `n` bytes arrived. */
export function readBytes(stream: NodeJS.ReadableStream, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let got = 0;
    const onData = (b: Buffer): void => {
      parts.push(b);
      got += b.length;
      if (got >= n) {
        stream.off('data', onData);
        stream.pause();
        resolve(Buffer.concat(parts));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
  });
}
