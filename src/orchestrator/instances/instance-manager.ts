import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { parseArgs } from '../../common/validate.js';
import type { HostNetwork } from '../../dpu/net/host-network.js';
import type { VmManager } from '../vms/vm-manager.js';
import type { VmStateEvent } from '../vms/vm.js';
import { ContainerHost, containerHostSchema, type ContainerHostOptions } from './container-host.js';
import { ContainerInstance } from './container-instance.js';
import type { Instance, InstanceStateEvent } from './instance.js';
import { instanceSpecSchema, type InstanceSpec } from './instance-spec.js';
import { VmInstance } from './vm-instance.js';

/** Options of `host.instances` (given as `Host.boot({ instances })`). */
export interface InstanceManagerOptions {
  /** The shared guest that runs containers. */
  containerHost?: ContainerHostOptions | undefined;
}

const optionsSchema = z.strictObject({ containerHost: containerHostSchema.optional() }).optional();

/** Events of the {@link InstanceManager}. */
export interface InstanceManagerEvents {
  /** An instance changed state (every transition of every instance, all kinds). */
  'instance.state': [InstanceStateEvent];
}

/** Default CPU share and memory of a container. */
const CT_SHARE = 16;
const CT_MEMORY_MIB = 1;

/**
 * `host.instances`: VMs, containers and bare-metal instances under one control plane, with one
 * API and one lifecycle. `create({ kind, ... })` picks the kind:
 * - 'vm' — a VM of `host.vms` (the same spec, `kind` added);
 * - 'container' — a task inside the shared container host (a VM of its own, booted at the
 *   first container) with its own CPU share and memory quota, and optionally a trunk sub-port
 *   of the host's NIC; creates and operations of one turn travel to the host agent as batches;
 * - 'bare-metal' — every guest CPU given to one instance (one vCPU each, nothing else on the
 *   host meanwhile), its devices on the DPU cores as a VM's.
 * Every control message crosses the host agent's vsock device. Refusals name the field
 * (`details.field`) and change nothing.
 *
 * ```ts
 * const host = await Host.boot({ memory: { sizeBytes: 1 << 30 }, vms: { poolMiB: 512 } });
 * host.instances.on('instance.state', (e) => console.log(e.kind, e.instance, e.previous, '->', e.state));
 * const api = await host.instances.create({ kind: 'container', name: 'api-1', cpuShare: 32, memoryMiB: 2 });
 * const db = await host.instances.create({ kind: 'vm', name: 'db-1', vcpus: 2, memoryMiB: 64 });
 * await Promise.all([api.start(), db.start()]);
 * ```
 */
export class InstanceManager extends EventEmitter<InstanceManagerEvents> {
  private readonly byName = new Map<string, Instance>();
  private readonly pending = new Set<string>();
  private readonly containers = new Map<number, ContainerInstance>();
  private readonly vlans = new Set<number>();
  private readonly ct: ContainerHost;
  private closed = false;

  /** @internal built by Host.boot */
  constructor(
    private readonly vms: VmManager,
    private readonly network: () => HostNetwork,
    options?: InstanceManagerOptions,
  ) {
    super();
    const o = parseArgs(optionsSchema, options, 'Host options.instances') ?? {};
    this.ct = new ContainerHost(vms, o.containerHost ?? {}, (port) => {
      const p = this.network()
        .list()
        .ports.find((x) => x.name === port);
      if (!p?.ip)
        throw new QingtianError(ErrorCode.NotFound, `instances.containerHost.port: no host.network port ${port}`);
      return p.ip;
    });
    vms.on('vm.state', (e) => this.onVmState(e));
  }

  /**
   * Creates an instance of `spec.kind`, `defined`. A bad spec is refused with
   * QT_INVALID_ARGUMENT naming the field, a name in use likewise, no room with
   * QT_OUT_OF_MEMORY; a refusal changes nothing.
   */
  async create(spec: InstanceSpec): Promise<Instance> {
    this.assertOpen();
    const s = parseArgs(instanceSpecSchema, spec, 'instance spec');
    if (this.byName.has(s.name) || this.pending.has(s.name) || this.vms.get(s.name) || s.name === this.ct.name)
      refuse('name', 'a name not used by another instance or VM on this host', s.name);
    const bare = this.list().find((i) => i.kind === 'bare-metal');
    if (bare) refuse('kind', `nothing else while bare-metal instance ${bare.name} holds every guest CPU`, s.kind);
    if (s.kind === 'bare-metal' && this.vms.list().length > 0)
      refuse(
        'kind',
        `a host with no other instance or VM for bare metal; it has ${this.vms.list().length} VMs`,
        s.kind,
      );
    this.pending.add(s.name);
    try {
      let made: Instance;
      if (s.kind === 'container') made = await this.createContainer(s);
      else if (s.kind === 'vm') {
        const { kind: _k, ...vm } = s;
        made = new VmInstance('vm', await this.vms.create(vm));
      } else {
        const { kind: _k, ...rest } = s;
        const vm = await this.vms.define({ ...rest, vcpus: this.vms.guestCpus }, { placement: 'exclusive' });
        made = new VmInstance('bare-metal', vm);
      }
      this.byName.set(made.name, made);
      made.on('state', (e) => {
        if (e.state === 'destroyed') this.byName.delete(made.name);
        this.emit('instance.state', e);
      });
      this.emit('instance.state', {
        instance: made.name,
        kind: made.kind,
        state: 'defined',
        previous: 'none',
        reason: 'create',
      });
      return made;
    } finally {
      this.pending.delete(s.name);
    }
  }

  /** The instance named `name`, if there is one. */
  get(name: string): Instance | undefined {
    return this.byName.get(name);
  }

  /** Every instance (destroyed ones are gone). The container host is a VM of `host.vms`, not an instance. */
  list(): Instance[] {
    return [...this.byName.values()];
  }

  /**
   * Containers, memory they hold in the container host (bytes), whether the host is up, and
   * its network's stacks: those laid for containers' sub-ports, and the room left for more.
   */
  async containerStats(): Promise<{
    containers: number;
    memoryBytes: number;
    hostUp: boolean;
    networkStacks: number;
    networkRoom: number;
  }> {
    const trunk = this.ct.trunk();
    const net = { networkStacks: trunk?.stacks ?? 0, networkRoom: trunk?.room ?? 0 };
    if (!this.ct.vm()) return { containers: 0, memoryBytes: 0, hostUp: false, ...net };
    const s = await this.ct.stats();
    return { containers: s.containers.length, memoryBytes: s.memoryBytes, hostUp: true, ...net };
  }

  /** Destroys every instance, then the container host. The manager refuses everything after. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(this.list().map((i) => i.destroy()));
    const host = this.ct.vm();
    if (host) await (await host.catch(() => null))?.destroy().catch(() => undefined);
  }

  private async createContainer(s: Extract<ReturnType<typeof instanceSpecSchema.parse>, { kind: 'container' }>) {
    let sub: { name: string; vlan: number } | null = null;
    let subInfo: { mac: string; ip?: string | undefined } | null = null;
    if (s.network) {
      const port = this.ct.options.port;
      if (!port)
        refuse('network', 'no network: the container host has no NIC port (instances.containerHost.port)', s.network);
      let vlan = 1;
      while (this.vlans.has(vlan) && vlan <= 4094) vlan++;
      if (vlan > 4094) refuse('network', 'a free VLAN on the container host port (all 4094 in use)', s.network);
      sub = { name: `ct-${s.name}`, vlan };
      subInfo = this.network().createSubPort({
        name: sub.name,
        parent: port,
        vlan,
        subnet: s.network.subnet,
        ip: s.network.ip,
        ...(s.network.securityGroups ? { securityGroups: s.network.securityGroups } : {}),
      });
      this.vlans.add(vlan);
    }
    try {
      const r = await this.ct.create({
        name: s.name,
        share: s.cpuShare ?? CT_SHARE,
        memoryMiB: s.memoryMiB ?? CT_MEMORY_MIB,
        task: s.task ?? 'idle',
      });
      // The container's stack in the container host, down until the container runs.
      if (sub && subInfo) {
        try {
          this.ct.addNet(sub.vlan, { mac: subInfo.mac, ip: s.network!.ip, ...this.route(s.network!.subnet) });
        } catch (e) {
          await this.ct.op('destroy', r.id).catch(() => undefined);
          throw e;
        }
      }
      const c = new ContainerInstance(
        {
          host: this.ct,
          forget: (x) => this.forgetContainer(x),
          trunk: () => this.ct.trunk(),
          setNetUp: (x, up) => {
            if (x.subPort) this.ct.setNetUp(x.subPort.vlan, up);
          },
        },
        s.name,
        r.id,
        s.cpuShare ?? CT_SHARE,
        { gpa: r.memGpa ?? 0, bytes: r.memBytes ?? 0 },
        sub,
      );
      this.containers.set(c.id, c);
      return c;
    } catch (e) {
      if (sub) await this.dropSubPort(sub);
      throw e;
    }
  }

  /** The route a container's stack in `subnet` takes out of it: the subnet's prefix and gateway. */
  private route(subnet: string): { prefixLength: number; gateway: string } {
    const n = this.network()
      .list()
      .subnets.find((x) => x.name === subnet);
    if (!n) refuse('network.subnet', 'a subnet of host.network', subnet);
    return { prefixLength: Number(n.cidr.split('/')[1]), gateway: n.gateway };
  }

  private async forgetContainer(c: ContainerInstance): Promise<void> {
    this.containers.delete(c.id);
    if (c.subPort) this.ct.removeNet(c.subPort.vlan);
    if (c.subPort) await this.dropSubPort(c.subPort);
  }

  private async dropSubPort(sub: { name: string; vlan: number }): Promise<void> {
    await this.network().deletePort(sub.name);
    this.vlans.delete(sub.vlan);
  }

  /**
   * The container host powered off (whoever asked: this manager, `host.vms` or the guest): its
   * running and paused containers are shut off with it, their stacks down; they keep their
   * quotas and sub-ports, and a start brings them back once the host runs again (its network is
   * laid out anew at each boot). It was destroyed: so were its containers (their quotas went
   * with its RAM, their sub-ports are deleted).
   */
  private onVmState(e: VmStateEvent): void {
    if (e.vm !== this.ct.name) return;
    if (e.state === 'shutoff') {
      this.ct.hostOff();
      for (const c of this.containers.values())
        if (c.state === 'running' || c.state === 'paused') c.transition('shutoff', c.state, 'host-shutoff');
    }
    if (e.state !== 'destroyed') return;
    this.ct.forget();
    for (const c of [...this.containers.values()]) {
      void this.forgetContainer(c).catch(() => undefined);
      c.transition('destroyed', c.state, 'host-destroyed');
    }
  }

  private assertOpen(): void {
    if (this.closed)
      throw new QingtianError(ErrorCode.Disposed, 'host.instances: the manager is closed (host shut down)');
  }
}

function refuse(field: string, expected: string, got: unknown): never {
  throw new QingtianError(
    ErrorCode.InvalidArgument,
    `instance spec.${field}: expected ${expected}, got ${JSON.stringify(got)}`,
    {
      field,
      got,
    },
  );
}
