import type { HostNetwork } from '../../dpu/net/host-network.js';
import type { NetDevice } from '../../dpu/net/net-device.js';
import type { VmMemoryMap } from './vm-memory-map.js';
import { queueReport, type UnplugReport, type VmDevicePart, type VmNetHandle } from './vm-device.js';

/**
 * A VM's network interface: a `host.network` VM port whose virtio-net device is attached to the
 * VM's memory map while the guest runs (the vSwitch serves its queues on the switch's DPU core)
 * and detached when the guest is off, so each boot probes a fresh device. Detaching waits until
 * no switch burst uses the port: every chain the device took is completed by then.
 */
export class VmNet implements VmDevicePart {
  readonly kind = 'net';
  private attached: { device: NetDevice; notify: { doorbell: number; sleeping: number } } | null = null;

  constructor(
    private readonly network: HostNetwork,
    private readonly map: VmMemoryMap,
    readonly id: string,
    readonly port: string,
    private readonly options: { queuePairs?: number | undefined; mtu?: number | undefined },
  ) {}

  async boot(): Promise<void> {
    await this.halt();
    const o: { queuePairs?: number; mtu?: number } = {};
    if (this.options.queuePairs !== undefined) o.queuePairs = this.options.queuePairs;
    if (this.options.mtu !== undefined) o.mtu = this.options.mtu;
    this.attached = await this.network.attachPort(this.port, this.map, o);
  }

  async halt(): Promise<void> {
    await this.detach();
  }

  async free(): Promise<UnplugReport> {
    return { id: this.id, kind: 'net', queues: await this.detach() };
  }

  /** The port's IPv4 address (the guest's stack takes it). */
  ip(): string {
    return this.network.list().ports.find((p) => p.name === this.port)?.ip ?? '0.0.0.0';
  }

  handle(): VmNetHandle | null {
    const a = this.attached;
    return a ? { kind: 'net', id: this.id, port: this.port, device: a.device, notify: a.notify } : null;
  }

  /** Takes the port off the switch; its device's interrupt words go back to the VM's page. */
  private async detach(): Promise<UnplugReport['queues']> {
    const a = this.attached;
    if (!a) return [];
    this.attached = null;
    const last = await this.network.detachPort(this.port);
    const d = a.device;
    for (const q of [...d.rx, ...d.tx, d.ctrl]) this.map.freeIrq(q.irqAddr);
    this.map.freeIrq(d.configIrq);
    return last ? queueReport(last.queues) : [];
  }
}
