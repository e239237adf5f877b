import { ErrorCode, QingtianError } from '../../common/errors.js';
import { BlkDevice } from '../../dpu/blk/blk-device.js';
import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { VmMemoryMap } from './vm-memory-map.js';
import { queueReport, type UnplugReport, type VmBlkHandle, type VmDevicePart } from './vm-device.js';

const MIB = 1 << 20;

/**
 * A VM's disk: a virtio-blk device over the VM's memory map, made with the VM (a RAM disk keeps
 * its data across reboots) and freed with it. Each boot resets the device so the guest probes
 * it afresh; the guest's DRIVER_OK starts its jobs on the DPU core. Requests of the null and RAM
 * backends complete in the burst that took them, so stopping the device (which waits for the
 * burst in flight) leaves nothing half-done.
 */
export class VmBlk implements VmDevicePart {
  readonly kind = 'blk';
  readonly device: BlkDevice;
  private booted = false;

  constructor(
    rt: KernelRuntime,
    map: VmMemoryMap,
    readonly id: string,
    private readonly core: DpuCore,
    spec: { backend: 'ram' | 'null'; capacityMiB: number; readOnly?: boolean | undefined; queues?: number | undefined },
  ) {
    this.device = new BlkDevice(rt, map, `vm:${map.name}:${id}`, {
      backend: spec.backend,
      capacityBytes: spec.capacityMiB * MIB,
      queues: spec.queues ?? 1,
      readOnly: spec.readOnly ?? false,
      blkSize: 4096,
      id: `${map.name}:${id}`.slice(0, 20),
    });
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
    this.device.free();
    return { id: this.id, kind: 'blk', queues };
  }

  handle(): VmBlkHandle | null {
    if (!this.booted) return null;
    return { kind: 'blk', id: this.id, device: this.device, driverOk: () => this.driverOk() };
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
