import type { BlkDevice } from '../../dpu/blk/blk-device.js';
import type { NetDevice } from '../../dpu/net/net-device.js';
import type { QueueStats } from '../../dpu/virtio/device-queue.js';

/** The kinds of device a VM can hold. */
export type VmDeviceKind = 'net' | 'blk' | 'vsock';

/**
 * A VM's network interface as the guest's driver probes it (`vm.device(id)` while running): the
 * virtio-net backend (features, config space, queues) and the words its driver kicks. The
 * vSwitch serves the queues as soon as they are set.
 */
export interface VmNetHandle {
  /** The device kind. */
  readonly kind: 'net';
  /** The device's id in the VM. */
  readonly id: string;
  /** The `host.network` port it is. */
  readonly port: string;
  /** The virtio-net backend the guest's driver probes. */
  readonly device: NetDevice;
  /** Host addresses of the serving core's doorbell word and of its sleeping flag. */
  readonly notify: { doorbell: number; sleeping: number };
}

/**
 * A VM's disk as the guest's driver probes it (`vm.device(id)` while running): the virtio-blk
 * backend; the driver negotiates and sets its queues, then calls `driverOk()` (the status
 * register's DRIVER_OK), on which the VM starts the device on its DPU core. Kick words and
 * interrupt words: `device.notifyWords(q)`, `device.queues[q].irqAddr`.
 */
export interface VmBlkHandle {
  /** The device kind. */
  readonly kind: 'blk';
  /** The device's id in the VM. */
  readonly id: string;
  /** The virtio-blk backend the guest's driver probes. */
  readonly device: BlkDevice;
  /** The `host.storage` volume the disk is, or null for a RAM or null disk. */
  readonly volume: string | null;
  /** The driver is ready: the device's queues start being served. */
  driverOk(): Promise<void>;
}

/** What `vm.unplug` reports once the device is gone. */
export interface UnplugReport {
  /** The device's id in the VM. */
  id: string;
  /** The device kind. */
  kind: VmDeviceKind;
  /**
   * Per queue, at the moment no burst touched the device any more: chains the device took
   * from the guest's rings and chains it returned. Equal on every queue: nothing was left
   * half-done; what the guest posted and the device never took comes back to the guest's
   * driver with the removal.
   */
  queues: { popped: number; completed: number; inflight: number }[];
}

/** @internal what a Vm does with each of its devices */
export interface VmDevicePart {
  readonly id: string;
  readonly kind: VmDeviceKind;
  /** The VM starts (or the device is plugged into a running VM): serve the guest. */
  boot(): Promise<void>;
  /** The guest is off: nothing serves the device. */
  halt(): Promise<void>;
  /** Quiesces and frees everything the device holds (its regions, its interrupt words). */
  free(): Promise<UnplugReport>;
  /** The guest-probe view while booted; null otherwise. */
  handle(): VmNetHandle | VmBlkHandle | null;
}

/** The quiesce figures of a device's queues. */
export function queueReport(queues: readonly QueueStats[]): UnplugReport['queues'] {
  return queues.map((q) => ({ popped: q.popped, completed: q.pushed, inflight: q.inflight }));
}
