import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { DpuCorePool } from '../../dpu/core/core-pool.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { AgentStats } from '../../hypervisor/agent/protocol/messages.js';
import { HostAgent } from '../agent/host-agent.js';
import type { HostNetwork } from '../../dpu/net/host-network.js';
import type { Storage } from '../../dpu/blk/storage.js';
import { Vm, type VmDeviceEvent, type VmStateEvent } from './vm.js';
import { VmBlk } from './vm-blk.js';
import type { VmDevicePart } from './vm-device.js';
import { refuse, VmDeviceHolds } from './vm-device-holds.js';
import { VmMemoryMap } from './vm-memory-map.js';
import { VmNet } from './vm-net.js';
import {
  deviceIdOf,
  isVolumeBlk,
  vmSpecSchema,
  withDeviceIds,
  type PluggableDeviceSpec,
  type VmSpec,
} from './vm-spec.js';
import { checkVcpuCpus } from '../../hypervisor/sched/vcpu-thread.js';
import { checkVsockFits, VmVsock, vsockLayout } from './vm-vsock.js';
import { guestProgramLayout, VmGuestProgram } from './vm-guest-program.js';

/** Where the firmware's area ends in a VM without a vsock device (the first 64 KiB are the guest's). */
const FIRMWARE_END_GPA = 0x10000;

/** Options of `host.vms` (given as `Host.boot({ vms })`). */
export interface VmManagerOptions {
  /** Host memory the host agent may give to VMs (RAM and control pages), MiB, 1–3072. Default 256. */
  poolMiB?: number | undefined;
  /** DPU core serving the host agent's vsock device, and the VMs' devices unless a device names one. Default 0. */
  core?: number | undefined;
  /** The host agent's vsock CID (no VM may take it), 3–0xfffffffe. Default 3. */
  agentCid?: number | undefined;
  /** Timeout of each control request to the host agent, ms (1–600000). Default 10000. */
  timeoutMs?: number | undefined;
  /**
   * vCPU threads the host agent keeps idle between VMs, 0–1024: a VM started later takes one
   * instead of starting a thread (tens of ms each). Default 0: threads end with their VM.
   */
  keepVcpus?: number | undefined;
  /**
   * Guest CPUs: threads the host agent starts once, on which VMs' vCPUs are bound (several per
   * thread) unless a VM asks for threads of its own (`vcpuPlacement: 'dedicated'`), 1–256.
   * A bare-metal instance takes all of them. Default: the host's CPU count.
   */
  guestCpus?: number | undefined;
}

const optionsSchema = z
  .strictObject({
    poolMiB: intIn(1, 3072).optional(),
    core: intIn(0, 1023).optional(),
    agentCid: intIn(3, 0xfffffffe).optional(),
    timeoutMs: intIn(1, 600_000).optional(),
    keepVcpus: intIn(0, 1024).optional(),
    guestCpus: intIn(1, 256).optional(),
  })
  .optional();

/** Events of the {@link VmManager}. */
export interface VmManagerEvents {
  /** A VM changed state (every transition of every VM). */
  'vm.state': [VmStateEvent];
  /** A device was hotplugged into a VM or unplugged from it. */
  'vm.device': [VmDeviceEvent];
}

/**
 * `host.vms`: the VMs of this host. The control plane (this side, the DPU) owns each VM's
 * devices and memory map; the host agent — a thread of its own, booted at the first `create`
 * and reached only over its virtio-vsock device — owns the VMs' RAM and vCPU threads. Every
 * lifecycle request crosses that device. Events: 'vm.state' for every transition of every VM.
 *
 * ```ts
 * const host = await Host.boot({ memory: { sizeBytes: 1 << 30 }, vms: { poolMiB: 512 } });
 * host.vms.on('vm.state', (e) => console.log(e.vm, e.previous, '->', e.state));
 * const vm = await host.vms.create({ name: 'db-1', vcpus: 2, memoryMiB: 64, devices: [{ kind: 'vsock', cid: 10 }] });
 * await vm.start();
 * await vm.destroy();
 * ```
 */
export class VmManager extends EventEmitter<VmManagerEvents> {
  private readonly o: NonNullable<z.output<typeof optionsSchema>>;
  private agentBoot: Promise<HostAgent> | null = null;
  private agent: HostAgent | null = null;
  private readonly byName = new Map<string, Vm>();
  private readonly byId = new Map<number, Vm>();
  /** Names and CIDs of creations in flight (a second create with either is refused at once). */
  private readonly pendingNames = new Set<string>();
  private readonly cids = new Set<number>();
  /** Ports and volumes VM devices hold (or are being plugged with). */
  private readonly holds: VmDeviceHolds;
  private blkKernel: Promise<void> | null = null;
  private closed = false;

  /** @internal built by Host.boot */
  constructor(
    private readonly deps: {
      memory: HostMemoryApi;
      runtime: KernelRuntime;
      dpu: DpuCorePool;
      /** `host.network` if the host made it (null or none: there is no port, net devices are refused). */
      network?: (() => HostNetwork | null) | undefined;
      /** `host.storage`, for disks over volumes (none: such disks are refused). */
      storage?: (() => Storage) | undefined;
    },
    options?: VmManagerOptions,
  ) {
    super();
    this.o = parseArgs(optionsSchema, options, 'Host options.vms') ?? {};
    this.holds = new VmDeviceHolds({
      network: deps.network,
      storage: deps.storage,
      core: (i, field) => this.core(i, field),
      defaultCore: this.o.core ?? 0,
    });
  }

  /**
   * Defines a VM: the host agent takes its RAM (zeroed) and records it; the DPU side builds its
   * memory map and devices. The VM starts `defined`. A bad spec is refused with
   * QT_INVALID_ARGUMENT naming the field (`details.field`), a name in use likewise, a pool
   * without room with QT_OUT_OF_MEMORY; a refusal changes nothing.
   */
  async create(spec: VmSpec): Promise<Vm> {
    return this.define(spec);
  }

  /** @internal the kernels of this host (the guest kernel lays guest-side structures out, as firmware) */
  get runtime(): KernelRuntime {
    return this.deps.runtime;
  }

  /** Guest CPU threads of the host agent. */
  get guestCpus(): number {
    return this.o.guestCpus ?? availableParallelism();
  }

  /** @internal create, with the placement a bare-metal instance asks for */
  async define(
    spec: VmSpec,
    extra: { placement?: 'exclusive'; containers?: { capacity: number; netBytes?: number } } = {},
  ): Promise<Vm> {
    const placement = extra.placement;
    this.assertOpen();
    const s = parseArgs(vmSpecSchema, spec, 'vm spec');
    // A class and a CPU list are a thread's: they make the vCPUs dedicated, unless told otherwise.
    const classed = s.vcpuClass !== undefined && s.vcpuClass !== 'normal';
    const drives = s.guest?.program === 'drivers';
    const vcpuPlacement = placement ?? s.vcpuPlacement ?? (classed || s.cpus ? 'dedicated' : 'shared');
    if (vcpuPlacement !== 'dedicated') {
      const expected = `no vCPU class but 'normal' with vcpuPlacement '${vcpuPlacement}' (a class needs dedicated vCPU threads)`;
      if (classed) refuse('vcpuClass', expected, s.vcpuClass);
      if (s.cpus)
        refuse('cpus', `no CPU list with vcpuPlacement '${vcpuPlacement}' (it needs dedicated vCPU threads)`, s.cpus);
    }
    if (s.cpus) checkVcpuCpus(s.cpus, 'vm spec.cpus');
    const sched =
      vcpuPlacement === 'dedicated' && (s.vcpuClass !== undefined || s.cpus !== undefined)
        ? {
            ...(s.vcpuClass === undefined ? {} : { class: s.vcpuClass }),
            ...(s.cpus === undefined ? {} : { cpus: s.cpus }),
          }
        : null;
    // Ids are given here once, so the agent, the device set and every later step see the same ones.
    const devices = withDeviceIds(s.devices ?? []);
    const vsocks = devices.filter((d) => d.kind === 'vsock');
    if (vsocks.length > 1) refuse('devices', `at most one vsock device per VM, got ${vsocks.length}`, vsocks.length);
    const ids = new Set<string>();
    for (const [i, d] of devices.entries()) {
      const id = d.id ?? `${d.kind}0`;
      if (ids.has(id)) refuse(`devices.${i}.id`, `a device id unique in the VM, got ${JSON.stringify(id)} twice`, id);
      ids.add(id);
    }
    const vs = vsocks[0];
    const agentCid = this.o.agentCid ?? 3;
    if (vs && (vs.cid === agentCid || this.cids.has(vs.cid)))
      refuse(
        `devices.${devices.indexOf(vs)}.cid`,
        `a CID not used on this host (${agentCid} is the host agent's)`,
        vs.cid,
      );
    if (this.byName.has(s.name) || this.pendingNames.has(s.name))
      refuse('name', 'a name not used by another VM on this host', s.name);
    const layout = vs ? vsockLayout(this.deps.runtime) : null;
    if (layout) checkVsockFits(layout, s.memoryMiB);
    const program = drives && layout ? guestProgramLayout(layout.endGpa) : null;
    if (drives) {
      if (!vs || vs.guestAgent === false)
        refuse(
          'guest.program',
          "'idle' for a VM without a vsock device running the guest agent ('drivers' needs it)",
          'drivers',
        );
      for (const kind of ['net', 'blk'] as const) {
        const n = devices.filter((d) => d.kind === kind).length;
        if (n > 1) refuse('devices', `at most one ${kind} device for guest.program 'drivers', got ${n}`, n);
      }
      if (program && program.endGpa > s.memoryMiB * 1024 * 1024)
        refuse(
          'memoryMiB',
          `at least ${Math.ceil(program.endGpa / (1 << 20))} MiB for guest.program 'drivers'`,
          s.memoryMiB,
        );
    }
    const core = vs ? this.core(vs.core ?? this.o.core ?? 0, `devices.${devices.indexOf(vs)}.core`) : null;
    const others = devices.filter((d): d is PluggableDeviceSpec => d.kind !== 'vsock');
    const reserved: PluggableDeviceSpec[] = [];
    try {
      for (const d of others) {
        this.holds.take(s.name, d, `devices.${devices.indexOf(d)}`);
        reserved.push(d);
      }
    } catch (e) {
      for (const d of reserved) this.holds.give(d);
      throw e;
    }

    // Everything checked is taken before the first await: a concurrent create sees it.
    this.pendingNames.add(s.name);
    if (vs) this.cids.add(vs.cid);
    try {
      for (const d of others) await this.deviceKernel(d);
      const agent = await this.hostAgent();
      const info = await agent.client.createVm({
        name: s.name,
        vcpus: s.vcpus,
        memoryMiB: s.memoryMiB,
        devices: devices.map((d) => ({ id: d.id ?? `${d.kind}0`, kind: d.kind })),
        ...(layout && vs?.guestAgent !== false ? { guestAgent: { vsGpa: layout.vsGpa, gaGpa: layout.gaGpa } } : {}),
        ...(program ? { program: { gpa: program.gpa } } : {}),
        placement: vcpuPlacement,
        ...(sched ? { sched } : {}),
        ...(extra.containers ? { containers: extra.containers } : {}),
      });
      let map: VmMemoryMap | null = null;
      let vsock: VmVsock | null = null;
      let guest: VmGuestProgram | null = null;
      const parts: { part: VmDevicePart; spec: PluggableDeviceSpec }[] = [];
      try {
        map = new VmMemoryMap(this.deps.memory, s.name, info.ramBase, info.memoryBytes);
        if (program && info.irq !== undefined)
          guest = new VmGuestProgram(this.deps.runtime, map, program, info.irq, s.guest?.udpEchoPort ?? 7);
        if (vs && layout && core)
          vsock = new VmVsock(
            this.deps.runtime,
            map,
            vs.id ?? 'vsock0',
            vs.cid,
            core,
            vs.guestAgent !== false,
            layout,
            guest ? guest.irq : null,
          );
        for (const d of others) parts.push({ part: await this.makeDevice(map, d), spec: d });
      } catch (e) {
        for (const p of parts) await p.part.free().catch(() => undefined);
        if (vsock) await vsock.free().catch(() => undefined);
        map?.free();
        await agent.client.destroyVm(info.id).catch(() => undefined);
        throw e;
      }
      const owner = {
        client: agent.client,
        forget: (v: Vm) => this.forget(v),
        reserveDevice: async (v: Vm, d: PluggableDeviceSpec, field: string) => {
          this.holds.take(v.name, d, field);
          try {
            await this.deviceKernel(d);
          } catch (e) {
            this.holds.give(d);
            throw e;
          }
        },
        makeDevice: (_v: Vm, d: PluggableDeviceSpec) => this.makeDevice(map, d),
        releaseDevice: (_v: Vm, d: PluggableDeviceSpec) => this.holds.give(d),
        cores: () => this.deps.dpu.cores,
      };
      const vm = new Vm(
        owner,
        info,
        s,
        map,
        vsock,
        parts,
        program ? program.endGpa : layout ? layout.endGpa : FIRMWARE_END_GPA,
        guest,
      );
      this.byName.set(vm.name, vm);
      this.byId.set(vm.id, vm);
      vm.on('device', (e) => this.emit('vm.device', e));
      // The agent's 'defined' event came before its answer: say it now that the Vm exists.
      const created: VmStateEvent = { vm: vm.name, id: vm.id, state: 'defined', previous: 'none', reason: 'vm.create' };
      vm.onAgentState(created);
      this.emit('vm.state', created);
      return vm;
    } catch (e) {
      if (vs) this.cids.delete(vs.cid);
      for (const d of reserved) this.holds.give(d);
      throw e;
    } finally {
      this.pendingNames.delete(s.name);
    }
  }

  /** The VM named `name`, if there is one. */
  get(name: string): Vm | undefined {
    return this.byName.get(name);
  }

  /** Every VM on this host (destroyed ones are gone). */
  list(): Vm[] {
    return [...this.byName.values()];
  }

  /**
   * Starts vCPU threads ahead of the VMs that will take them (at most `keepVcpus` wait idle), so
   * that starting those VMs costs no thread start. Resolves with how many threads wait idle.
   */
  async warm(vcpus: number): Promise<number> {
    this.assertOpen();
    const n = parseArgs(intIn(0, 1024), vcpus, 'vms.warm vcpus');
    return (await this.hostAgent()).client.warmVcpus(n);
  }

  /** The host agent's own figures (its CPU time, requests, VMs, vCPU threads, pool use), asked over vsock. */
  async agentStats(): Promise<AgentStats> {
    this.assertOpen();
    return (await this.hostAgent()).client.stats();
  }

  /** @internal the host agent, booted if it is not up yet (the control plane's only channel to the host) */
  async hostAgent(): Promise<HostAgent> {
    this.assertOpen();
    this.agentBoot ??= HostAgent.boot(this.deps, {
      poolBytes: (this.o.poolMiB ?? 256) * 1024 * 1024,
      cid: this.o.agentCid ?? 3,
      core: this.o.core ?? 0,
      timeoutMs: this.o.timeoutMs ?? 10_000,
      keepVcpus: this.o.keepVcpus ?? 0,
      guestCpus: this.guestCpus,
    }).then(
      (agent) => {
        this.agent = agent;
        agent.client.on('vm.state', (e) => this.onAgentState(e));
        return agent;
      },
      (e: unknown) => {
        this.agentBoot = null;
        throw e;
      },
    );
    return this.agentBoot;
  }

  /** Destroys every VM, then stops the host agent. The manager refuses everything after. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const boot = this.agentBoot;
    if (!boot) return;
    const agent = await boot.catch(() => null);
    if (!agent) return;
    await Promise.allSettled(this.list().map((vm) => vm.destroy()));
    // Whatever could not be destroyed in order still goes: its devices and map are freed, the agent frees its RAM.
    for (const vm of this.list()) {
      await vm.abandon();
      this.forget(vm);
    }
    await agent.stop();
    this.agent = null;
  }

  /** Loads the kernel family a device runs on the cores (once; the vSwitch loads its own). */
  private async deviceKernel(d: PluggableDeviceSpec): Promise<void> {
    // A disk over a volume: attachBlk loads the kernel itself.
    if (d.kind !== 'blk' || isVolumeBlk(d)) return;
    this.blkKernel ??= this.deps.dpu.loadKernel(this.deps.runtime.kernel('blk')).then(
      () => undefined,
      (e: unknown) => {
        this.blkKernel = null;
        throw e;
      },
    );
    await this.blkKernel;
  }

  /** Builds a reserved net or blk device over a VM's memory map (a disk over a volume attaches it). */
  private async makeDevice(map: VmMemoryMap, d: PluggableDeviceSpec): Promise<VmDevicePart> {
    const id = deviceIdOf(d);
    if (d.kind === 'blk') {
      const core = this.core(d.core ?? this.o.core ?? 0, 'core');
      // The hold was taken: the volume exists, so does the storage.
      if (isVolumeBlk(d)) return VmBlk.overVolume(this.deps.storage!(), map, id, core, d);
      // The schema holds a RAM or null disk to its backend and capacity.
      return VmBlk.local(this.deps.runtime, map, id, core, {
        ...d,
        backend: d.backend as 'ram' | 'null',
        capacityMiB: d.capacityMiB!,
      });
    }
    // The hold was taken: the port exists, so does the network.
    return new VmNet(this.deps.network!()!, map, id, d.port, { queuePairs: d.queuePairs, mtu: d.mtu });
  }

  private forget(vm: Vm): void {
    this.byName.delete(vm.name);
    this.byId.delete(vm.id);
    if (vm.vsock) this.cids.delete(vm.vsock.cid);
  }

  private onAgentState(e: { vm: number; name: string; state: string; previous: string; reason: string }): void {
    const vm = this.byId.get(e.vm);
    // Events of a VM still being created are said by create() once its Vm exists.
    if (!vm) return;
    const ev = { vm: e.name, id: e.vm, state: e.state, previous: e.previous, reason: e.reason } as VmStateEvent;
    vm.onAgentState(ev);
    this.emit('vm.state', ev);
  }

  private core(index: number, field: string) {
    const c = this.deps.dpu.cores[index];
    if (!c) refuse(field, `a core index below ${this.deps.dpu.cores.length}`, index);
    return c;
  }

  private assertOpen(): void {
    if (this.closed) throw new QingtianError(ErrorCode.Disposed, 'host.vms: the manager is closed (host shut down)');
  }
}
