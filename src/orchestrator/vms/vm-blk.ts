import { ErrorCode, QingtianError } from '../../common/errors.js';
import { BlkDevice } from '../../dpu/blk/blk-device.js';
import type { Storage } from '../../dpu/blk/storage.js';
import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { VmMemoryMap } from './vm-memory-map.js';
import { queueReport, type UnplugReport, type VmBlkHandle, type VmDevicePart } from './vm-device.js';

const MIB = 1 << 20;

/**
 * A VM's disk: a virtio-blk device over the VM's memory map, made with the VM (or at hotplug)
 * and freed with it. Over a RAM or null disk the device is the VM's own (a RAM disk keeps its
 * data across reboots); over a `host.storage` volume it is attached with `attachBlk` and closed
 * on unplug or destroy, the volume keeping the data. Each boot resets the device so the guest
 * probes it afresh; the guest's DRIVER_OK starts its jobs on the DPU core. Stopping the device
 * leaves nothing half-done: RAM and null requests complete in the burst that took them, and a
 * volume-backed device's stop() waits until the storage worker answered every request in
 * flight and completes those chains.
 */
export class VmBlk implements VmDevicePart {
  readonly kind = 'blk';
  private booted = false;

  private constructor(
    readonly device: BlkDevice,
    readonly id: string,
    private readonly core: DpuCore,
    /** The volume the disk is, or null for a RAM or null disk. */
    readonly volume: string | null,
  ) {}

  /** A RAM or null disk of `capacityMiB`. */
  static local(
    rt: KernelRuntime,
    map: VmMemoryMap,
    id: string,
    core: DpuCore,
    spec: { backend: 'ram' | 'null'; capacityMiB: number; readOnly?: boolean | undefined; queues?: number | undefined },
  ): VmBlk {
    const device = new BlkDevice(rt, map, `vm:${map.name}:${id}`, {
      backend: spec.backend,
      capacityBytes: spec.capacityMiB * MIB,
      queues: spec.queues ?? 1,
      readOnly: spec.readOnly ?? false,
      blkSize: 4096,
      id: `${map.name}:${id}`.slice(0, 20),
    });
    return new VmBlk(device, id, core, null);
  }

  /** A disk over the open volume `spec.volume`, attached through `storage` (one volume queue per virtqueue). */
  static async overVolume(
    storage: Storage,
    map: VmMemoryMap,
    id: string,
    core: DpuCore,
    spec: { volume: string; readOnly?: boolean | undefined; queues?: number | undefined },
  ): Promise<VmBlk> {
    const device = await storage.attachBlk(spec.volume, map, {
      name: `vm:${map.name}:${id}`,
      queues: spec.queues ?? 1,
      readOnly: spec.readOnly ?? false,
    });
    return new VmBlk(device, id, core, spec.volume);
  }

  async boot(): Promise<void> {
    await this.device.stop();
    this.device.reset();
    this.booted = true;
  }

  async halt(): Promise<void> {
    this.booted = false;
    await this.device.stop();
  }

  async free(): Promise<UnplugReport> {
    await this.halt();
    const queues = queueReport(this.device.stats().queues);
    // A volume-backed device detaches its volume queues first (the worker writes into its buffers).
    if (this.volume !== null) await this.device.close();
    else this.device.free();
    return { id: this.id, kind: 'blk', queues };
  }

  handle(): VmBlkHandle | null {
    if (!this.booted) return null;
    return {
      kind: 'blk',
      id: this.id,
      device: this.device,
      volume: this.volume,
      driverOk: () => this.driverOk(),
    };
  }

  private async driverOk(): Promise<void> {
    if (!this.booted)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.device.name}: driverOk: the device is unplugged or its VM is off`,
      );
    if (!this.device.started) await this.device.start({ core: this.core });
  }
}
