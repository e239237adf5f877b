import { ErrorCode, QingtianError } from '../../common/errors.js';
import { featureWord } from '../../common/virtio/features.js';
import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { VsockDevice } from '../../dpu/vsock/vsock-device.js';
import * as G from '../../generated/guest.js';
import { VSOCK_F_STREAM } from '../../generated/vsock.js';
import {
  initVsockDriver,
  vsockDriverAreaBytes,
  type VsockDriverGeometry,
} from '../../hypervisor/guest/virtio/vsock-driver.js';
import { relocateBackend, type RelocationReport } from '../sched/device-relocation.js';
import type { VmMemoryMap } from './vm-memory-map.js';
import { queueReport, type UnplugReport, type VmDevicePart } from './vm-device.js';

/** The guest's vsock driver: a few control connections (the guest agent and its clients). */
const GUEST_DRIVER: VsockDriverGeometry = {
  packed: false,
  eventIdx: true,
  queueSize: 64,
  eventQueueSize: 4,
  bufBytes: 4096,
  maxConns: 4,
  ringBytes: 65536,
};
/** Where the firmware puts the driver in guest RAM (the first 64 KiB stay the guest's). */
const AREA_GPA = 0x10000;

/** Guest-physical layout of a VM's vsock driver and guest agent. */
export interface VsockLayout {
  vsGpa: number;
  gaGpa: number;
  /** RAM the layout needs, bytes. */
  endGpa: number;
}

/** Where the driver and the agent go in guest RAM, and how much RAM that takes. */
export function vsockLayout(rt: KernelRuntime): VsockLayout {
  const area = vsockDriverAreaBytes(rt.kernel('guest'), GUEST_DRIVER);
  const gaGpa = Math.ceil((AREA_GPA + area) / 4096) * 4096;
  return { vsGpa: AREA_GPA, gaGpa, endGpa: gaGpa + G.QGA_STATE_BYTES };
}

/**
 * A VM's virtio-vsock device: the backend (a job on a DPU core) over the VM's memory map, and
 * the firmware step that lays the guest's driver out in its RAM at each boot, so that a
 * restarted guest begins from a reset device and a fresh driver. The host side's sockets to the
 * guest are `device.host`.
 */
export class VmVsock implements VmDevicePart {
  readonly kind = 'vsock';
  readonly device: VsockDevice;
  private booted = false;
  private serving: DpuCore;
  /** Host addresses of the guest driver's rx, tx and event queue drivers, recorded at boot. */
  private drivers: number[] = [];
  private started = false;

  constructor(
    private readonly rt: KernelRuntime,
    private readonly map: VmMemoryMap,
    readonly id: string,
    readonly cid: number,
    core: DpuCore,
    readonly guestAgent: boolean,
    readonly layout: VsockLayout,
    /** vCPU 0's interrupt word when the guest drives its devices (its queues are routed there), else null. */
    private readonly vector: number | null = null,
  ) {
    this.serving = core;
    this.device = new VsockDevice(rt, map, `vm:${map.name}:${id}`, { guestCid: cid, maxConns: 4, ringBytes: 65536 });
  }

  /** The DPU core that serves the device (now, or at its next boot). */
  get core(): DpuCore {
    return this.serving;
  }

  /**
   * Moves the device to `core`: live if it runs (device-relocation.ts: quiesce, re-point the
   * guest driver's kicks, attach there; nothing lost), else from its next boot.
   */
  async relocate(core: DpuCore): Promise<RelocationReport> {
    const from = this.serving;
    if (!this.started) {
      this.serving = core;
      return { device: this.device.name, from: from.id, to: core.id, pauseNs: 0 };
    }
    const r = await relocateBackend(
      this.rt.memory.i32,
      { name: this.device.name, stop: () => this.device.stop(), start: (c) => this.device.start(c) },
      from,
      core,
      { ram: { base: this.map.ramBase, bytes: this.map.ramBytes }, drivers: this.drivers },
    );
    this.serving = core;
    return r;
  }

  /** Firmware: reset the device, lay out a fresh driver and (if any) agent page, configure, start. */
  async boot(): Promise<void> {
    await this.halt();
    if (this.booted) this.device.reset();
    const u8 = this.rt.memory.u8;
    const ram = { base: this.map.ramBase, bytes: this.map.ramBytes };
    u8.fill(0, ram.base + this.layout.gaGpa, ram.base + this.layout.endGpa);
    if (this.vector !== null) for (const q of this.device.queues) q.route(this.vector);
    const words = VsockDevice.notifyWordsOn(this.core);
    const { vs, rings } = initVsockDriver(
      this.rt.kernel('guest'),
      this.rt.memory.view,
      ram,
      BigInt(this.layout.vsGpa),
      GUEST_DRIVER,
      {
        config: this.device.configAddress,
        doorbell: words.doorbell,
        sleeping: words.sleeping,
        irq: this.vector ?? this.device.queueIrq,
      },
    );
    this.booted = true;
    // Recorded now, while the firmware's layout is fresh: the guest may overwrite its RAM later.
    const v = this.rt.memory.view;
    this.drivers = [G.GV_RX_DRV, G.GV_TX_DRV, G.GV_EV_DRV].map((off) => v.getUint32(vs + off, true));
    this.device.negotiate(
      featureWord({ packed: false, eventIdx: true, indirect: false, inOrder: false }) | (1n << BigInt(VSOCK_F_STREAM)),
    );
    rings.forEach((r, i) =>
      this.device.setQueue(i, { size: i === 2 ? GUEST_DRIVER.eventQueueSize : GUEST_DRIVER.queueSize, ...r }),
    );
    await this.device.start(this.serving);
    this.started = true;
  }

  /** Detaches the device's job (the guest is off: nothing serves its queues). */
  async halt(): Promise<void> {
    await this.device.stop();
    this.started = false;
  }

  /** Frees the device (halted first). */
  async free(): Promise<UnplugReport> {
    await this.halt();
    const q = this.device.stats().queues;
    const queues = queueReport([q.rx, q.tx, q.event]);
    this.device.free();
    return { id: this.id, kind: 'vsock', queues };
  }

  /** The firmware drives the device: no guest probe. */
  handle(): null {
    return null;
  }
}

/** Refuses a VM too small for its vsock layout, naming the field. */
export function checkVsockFits(layout: VsockLayout, memoryMiB: number): void {
  if (layout.endGpa > memoryMiB * 1024 * 1024)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `vm spec.memoryMiB: a VM with a vsock device needs at least ${Math.ceil(layout.endGpa / (1 << 20))} MiB, got ${memoryMiB}`,
      { field: 'memoryMiB', got: memoryMiB },
    );
}
