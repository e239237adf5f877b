import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, nameString } from '../../common/validate.js';
import { CT_BATCH_MAX, type ContainerOp, type ContainerResult } from '../../hypervisor/agent/protocol/containers.js';
import { AgentStatus, statusError, type AgentStatusName } from '../../hypervisor/agent/protocol/status.js';
import { containerNetGpa } from '../../hypervisor/agent/agent-containers.js';
import type { Vm } from '../vms/vm.js';
import type { VmNetHandle } from '../vms/vm-device.js';
import type { VmManager } from '../vms/vm-manager.js';
import { ControlBatch } from './control-batch.js';
import { CONTAINER_NET_BYTES, ContainerTrunk, type ContainerNetSpec } from './container-trunk.js';

/** The shared guest that runs containers (`Host.boot({ instances: { containerHost } })`). */
export interface ContainerHostOptions {
  /** The container host VM's name in `host.vms`. Default 'container-host'. */
  name?: string | undefined;
  /** Its vCPUs (container tasks are spread over them), 1–64. Default 2. */
  vcpus?: number | undefined;
  /** Its RAM in MiB (the containers' memory quotas come out of it), 2–3072. Default 256. */
  memoryMiB?: number | undefined;
  /** Containers it holds at most, 1–65535. Default 4096. */
  capacity?: number | undefined;
  /**
   * The container host's NIC port in `host.network` (a VM port): the container host gets a
   * virtio-net device on it, and containers with a `network` get trunk sub-ports of it, their
   * frames split by VLAN inside the container host (its vCPU 0 runs the split). Default none
   * (a container asking for a network is refused).
   */
  port?: string | undefined;
}

export const containerHostSchema = z.strictObject({
  name: nameString(48).optional(),
  vcpus: intIn(1, 64).optional(),
  memoryMiB: intIn(2, 3072).optional(),
  capacity: intIn(1, 65535).optional(),
  port: nameString(64).optional(),
});

type CreateItem = { name: string; share: number; memoryMiB: number; task: 'idle' | 'busy' };
type Ok = Extract<ContainerResult, { ok: true }>;

/**
 * The container host: a VM of `host.vms`, defined and started at the first container, whose
 * vCPUs run the containers' tasks from a table in its RAM. Container requests made in the same
 * turn go to the host agent as one batch per operation (over its vsock device, as all control).
 * With a `port`, it has a NIC on that port and a network area in its RAM (ContainerTrunk),
 * laid out again at every boot of the VM, whoever starts it (`host.vms` too): each boot probes
 * a fresh NIC, and the containers' stacks come back down (a boot finds every container stopped).
 */
export class ContainerHost {
  private booting: Promise<Vm> | null = null;
  private readonly creates: ControlBatch<CreateItem, ContainerResult>;
  private readonly ops = new Map<ContainerOp, ControlBatch<number, ContainerResult>>();
  private net: ContainerTrunk | null = null;
  /** The containers' sub-ports by VLAN: each has a stack in the network, made again at each boot. */
  private readonly nets = new Map<number, ContainerNetSpec>();

  constructor(
    private readonly vms: VmManager,
    readonly options: Readonly<z.output<typeof containerHostSchema>>,
    /** The address of a `host.network` port. */
    private readonly portIp: (port: string) => string,
  ) {
    this.creates = new ControlBatch(async (items) => {
      const [vm, client] = await this.target();
      return (await client.request('ct.create', { vm: vm.id, items })).results;
    }, CT_BATCH_MAX);
  }

  get name(): string {
    return this.options.name ?? 'container-host';
  }

  /** The host VM if it was booted. */
  vm(): Promise<Vm> | null {
    return this.booting;
  }

  /** The network laid out in the host VM (null without a port, or before the host booted). */
  trunk(): ContainerTrunk | null {
    return this.net;
  }

  /** The host VM was destroyed: the next container boots a new one. */
  forget(): void {
    this.booting = null;
    this.net = null;
    this.nets.clear();
  }

  /**
   * A container's sub-port on VLAN `vlan` gets a stack in the container host, down until
   * `setNetUp(vlan, true)`; kept across the host's reboots. QT_DEVICE_STATE without a network,
   * QT_CAPACITY_EXCEEDED when its area is full (nothing recorded then).
   */
  addNet(vlan: number, spec: ContainerNetSpec): void {
    const trunk = this.net;
    if (!trunk) throw new QingtianError(ErrorCode.DeviceState, `container host ${this.name}: it has no network`);
    trunk.attach(vlan, spec);
    this.nets.set(vlan, spec);
  }

  /** Frees VLAN `vlan`'s stack (its container is gone). */
  removeNet(vlan: number): void {
    this.nets.delete(vlan);
    this.net?.detach(vlan);
  }

  /** Puts VLAN `vlan`'s stack in the split, or takes it out (its container runs, or not). */
  setNetUp(vlan: number, up: boolean): void {
    if (!this.nets.has(vlan)) return;
    if (up) this.net?.up(vlan);
    else this.net?.down(vlan);
  }

  /** The host powered off: every container's stack is down (its container stopped with it). */
  hostOff(): void {
    for (const vlan of this.nets.keys()) this.setNetUp(vlan, false);
  }

  /**
   * Lays the network out in the booting host VM, before its vCPUs run: the NIC probed afresh,
   * and every container's stack made again, down.
   */
  private async layNet(vm: Vm, port: string, capacity: number): Promise<void> {
    this.net = null;
    const nic = vm.device('net0') as VmNetHandle;
    const trunk = await ContainerTrunk.lay(this.vms.runtime, vm.ram, nic.device, nic.notify, {
      netGpa: containerNetGpa(capacity),
      netBytes: CONTAINER_NET_BYTES,
      ip: this.portIp(port),
    });
    for (const [vlan, spec] of this.nets) trunk.attach(vlan, spec);
    this.net = trunk;
  }

  /** The host VM, defined and started if it is not yet. */
  boot(): Promise<Vm> {
    this.booting ??= (async () => {
      const port = this.options.port;
      const capacity = this.options.capacity ?? 4096;
      const vm = await this.vms.define(
        {
          name: this.name,
          vcpus: this.options.vcpus ?? 2,
          memoryMiB: this.options.memoryMiB ?? 256,
          ...(port ? { devices: [{ kind: 'net' as const, port }] } : {}),
        },
        { containers: { capacity, ...(port ? { netBytes: CONTAINER_NET_BYTES } : {}) } },
      );
      if (port) vm.onBoot((v) => this.layNet(v, port, capacity));
      try {
        await vm.start();
      } catch (e) {
        await vm.destroy().catch(() => undefined);
        throw e;
      }
      return vm;
    })().catch((e: unknown) => {
      this.booting = null;
      throw e;
    });
    return this.booting;
  }

  private async target() {
    const vm = await this.boot();
    return [vm, (await this.vms.hostAgent()).client] as const;
  }

  /** Defines a container (batched with the others of this turn); throws the agent's refusal. */
  async create(item: CreateItem): Promise<Ok> {
    return ok(await this.creates.push(item), 'create');
  }

  /** Applies `op` to container `id` (batched); throws the agent's refusal. */
  async op(op: ContainerOp, id: number): Promise<Ok> {
    let b = this.ops.get(op);
    if (!b) {
      b = new ControlBatch(async (ids) => {
        const [vm, client] = await this.target();
        return (await client.request('ct.op', { vm: vm.id, op, ids })).results;
      }, CT_BATCH_MAX);
      this.ops.set(op, b);
    }
    return ok(await b.push(id), op);
  }

  /** Work units and rounds of the containers `ids` (all when absent), and the memory they hold. */
  async stats(ids?: number[]) {
    const [vm, client] = await this.target();
    return client.request('ct.stats', { vm: vm.id, ...(ids ? { ids } : {}) });
  }
}

function ok(r: ContainerResult, what: string): Ok {
  if (r.ok) return r;
  throw failure(r.status, what, r.message);
}

function failure(status: string, what: string, message: string): QingtianError {
  const code = AgentStatus[status as AgentStatusName] ?? -1;
  return statusError(code, `container ${what}`, message);
}
