import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import type { VmInfo } from '../../hypervisor/agent/protocol/messages.js';
import type { AgentClient } from '../agent/agent-client.js';
import type { GuestAgentClient, GuestBlkStatus, GuestInfo, GuestNetCounters } from '../agent/guest-agent-client.js';
import { connectGuestAgent } from './vm-guest-agent.js';
import type { UnplugReport, VmBlkHandle, VmDeviceKind, VmDevicePart, VmNetHandle } from './vm-device.js';
import { VmDeviceSet, type VmDeviceEntry } from './vm-device-set.js';
import type { VmMemoryMap } from './vm-memory-map.js';
import { VmRam } from './vm-ram.js';
import { defaultDeviceId, vmDeviceSchema, type PluggableDeviceSpec, type VmSpec } from './vm-spec.js';
import type { VmVsock } from './vm-vsock.js';
import { VmBlk } from './vm-blk.js';
import { VmNet } from './vm-net.js';
import { GUEST_BLK_BLOCKS, type VmGuestProgram } from './vm-guest-program.js';
import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { RelocationReport } from '../sched/device-relocation.js';
import type { VcpuPlacement } from '../../hypervisor/sched/vcpu-class.js';

/** A VM's lifecycle state, after libvirt's: `defined` → `running` ⇄ `paused` → `shutoff`; `destroyed` at the end. */
export type VmState = 'defined' | 'running' | 'paused' | 'shutoff' | 'destroyed';

/** One state transition of a VM (every transition emits one, whatever caused it). */
export interface VmStateEvent {
  /** The VM's name. */
  vm: string;
  /** Its id on the host agent. */
  id: number;
  /** The state now. */
  state: VmState;
  /** The state before; 'none' for the creation. */
  previous: VmState | 'none';
  /**
   * What caused it: the operation ('vm.start', 'vm.shutdown', …), 'guest-halt' (the guest
   * powered itself off) or 'vcpu-exit'.
   */
  reason: string;
}

/** A device came into a VM or left it (`hotplug` / `unplug`). */
export interface VmDeviceEvent {
  /** The VM's name. */
  vm: string;
  /** The device's id in the VM. */
  id: string;
  /** The device kind. */
  kind: VmDeviceKind;
  /** It came in ('plugged') or left ('unplugged'). */
  action: 'plugged' | 'unplugged';
}

/** Events of a {@link Vm}. */
export interface VmEvents {
  /** The VM changed state. */
  state: [VmStateEvent];
  /** A device was hotplugged or unplugged. */
  device: [VmDeviceEvent];
}

/** How `shutdown` asks the guest. */
export interface ShutdownOptions {
  /** How long the guest has to acknowledge and power off, ms (1–600000). Default 10000. */
  timeoutMs?: number | undefined;
  /**
   * 'agent': the guest agent is asked over the VM's vsock device, acknowledges, and the guest
   * powers off (needs a vsock device with `guestAgent`). 'acpi': the power button is pressed and
   * the guest's vCPUs halt. Default 'agent' when the VM has a guest agent, else 'acpi'.
   */
  mode?: 'agent' | 'acpi' | undefined;
}

const shutdownSchema = z
  .strictObject({ timeoutMs: intIn(1, 600_000).optional(), mode: oneOf(['agent', 'acpi']).optional() })
  .optional();

/** What a Vm needs from its manager. */
export interface VmOwner {
  readonly client: AgentClient;
  /** The VM is gone: forget it. */
  forget(vm: Vm): void;
  /**
   * Checks a device for this VM against the host (its port free, its core there) and reserves
   * what it takes; throws QT_INVALID_ARGUMENT naming `field` + the key otherwise, reserving nothing.
   */
  reserveDevice(vm: Vm, spec: PluggableDeviceSpec, field: string): Promise<void>;
  /** Builds a reserved device over the VM's memory map (allocates its regions; attaches its volume). */
  makeDevice(vm: Vm, spec: PluggableDeviceSpec): Promise<VmDevicePart>;
  /** Gives back what reserveDevice took. */
  releaseDevice(vm: Vm, spec: PluggableDeviceSpec): void;
  /** The host's DPU cores (where devices may be placed). */
  cores?: (() => readonly DpuCore[]) | undefined;
}

/** Where `Vm.placeDevice` puts a device's backend. */
export interface DevicePlacement {
  /** The DPU core that serves the device from now on (an index of `host.dpu.cores`). */
  core: number;
}

const placementSchema = z.strictObject({ core: intIn(0, 1023) });

/**
 * A VM on this host, created by `host.vms.create`. The host agent (reached over vsock only)
 * holds its RAM and vCPU threads; the DPU side holds its devices and memory map. Operations on
 * one VM run one after the other; an operation the state does not allow is refused with
 * QT_INVALID_STATE and changes nothing.
 *
 * ```ts
 * const vm = await host.vms.create({ name: 'web-1', vcpus: 2, memoryMiB: 16, devices: [{ kind: 'vsock', cid: 42 }] });
 * vm.on('state', (e) => console.log(e.previous, '->', e.state, e.reason));
 * await vm.start();
 * await vm.pause();
 * await vm.resume();
 * await vm.shutdown(); // the guest agent acknowledges, the guest powers off
 * await vm.destroy();  // RAM scrubbed and freed, devices freed
 * ```
 */
export class Vm extends EventEmitter<VmEvents> {
  private current: VmState = 'defined';
  private info: VmInfo;
  private queue: Promise<unknown> = Promise.resolve();
  private deviceWork: Promise<void> = Promise.resolve();
  private readonly devs: VmDeviceSet;
  private readonly bootSteps: ((vm: Vm) => Promise<void>)[] = [];
  /** The VM's RAM as its guest-side code sees it. */
  readonly ram: VmRam;

  /** @internal built by the VM manager */
  constructor(
    private readonly owner: VmOwner,
    info: VmInfo,
    /** The spec the VM was created with (checked, defaults not filled in). */
    readonly spec: Readonly<VmSpec>,
    private readonly map: VmMemoryMap,
    /** @internal the VM's vsock device, if it has one */
    readonly vsock: VmVsock | null,
    /** @internal its other devices, made by the manager with the spec each came from */
    parts: readonly VmDeviceEntry[],
    /** @internal the first GPA the firmware leaves to the guest */
    firstFreeGpa: number,
    /** @internal the firmware of a guest that drives its own devices (spec guest.program 'drivers') */
    private readonly program: VmGuestProgram | null = null,
  ) {
    super();
    this.info = info;
    this.devs = new VmDeviceSet(vsock, parts);
    this.ram = new VmRam(map.memory, info.name, info.ramBase, info.memoryBytes, firstFreeGpa);
  }

  /** The VM's name (unique on the host). */
  get name(): string {
    return this.info.name;
  }

  /** The VM's id on the host agent. */
  get id(): number {
    return this.info.id;
  }

  /** The current state. */
  get state(): VmState {
    return this.current;
  }

  /** Guest RAM, bytes. */
  get memoryBytes(): number {
    return this.info.memoryBytes;
  }

  /** Host address of the VM's guest-physical 0 (its RAM region in host memory). */
  get ramBase(): number {
    return this.info.ramBase;
  }

  /** vCPU count. */
  get vcpus(): number {
    return this.info.vcpus;
  }

  /** Ids and kinds of the VM's devices. */
  get devices(): readonly { id: string; kind: string }[] {
    return this.info.devices;
  }

  /**
   * A device of the running VM as the guest's driver probes it: a network interface's
   * virtio-net backend and kick words, a disk's virtio-blk backend (see {@link VmBlkHandle}).
   * QT_NOT_FOUND for an unknown id; QT_INVALID_STATE when the VM is not running or paused, or
   * for the vsock device (the firmware drives it).
   */
  device(id: string): VmNetHandle | VmBlkHandle {
    const p = this.devs.get(id) ?? (this.vsock?.id === id ? { part: this.vsock } : undefined);
    if (!p)
      throw new QingtianError(ErrorCode.NotFound, `vm ${this.name}.device id: no device ${JSON.stringify(id)}`, {
        field: 'id',
        got: id,
      });
    const h = p.part.handle();
    if (!h)
      throw new QingtianError(
        ErrorCode.InvalidState,
        `vm ${this.name}.device: ${id} is not probed by the guest while the VM is ${this.current}` +
          (p.part.kind === 'vsock' ? " (the vsock device is the firmware's)" : ''),
        { state: this.current },
      );
    return h;
  }

  /**
   * @internal a step of the VM side's firmware, run at every boot (whoever starts the VM) once
   * its devices are up and before any vCPU runs: a container host's network is laid out there
   */
  onBoot(step: (vm: Vm) => Promise<void>): void {
    this.bootSteps.push(step);
  }

  /** defined | shutoff → running: devices booted, one thread per vCPU started. */
  start(): Promise<void> {
    return this.serial(async () => {
      this.need('start', 'defined', 'shutoff');
      await this.deviceWork;
      try {
        await this.devs.bootAll();
        if (this.program) await this.layDrivers(this.program);
        for (const step of this.bootSteps) await step(this);
        this.info = await this.owner.client.startVm(this.id);
      } catch (e) {
        await this.haltAll();
        throw e;
      }
    });
  }

  /**
   * Plugs a device into the running (or paused) VM. The spec is checked whole first (strict, a
   * field named in `details.field` as 'device.<key>'): a bad spec, an id the VM has, a port in
   * use, a volume that is not open or that a VM or another device holds, or a core that does
   * not exist is refused with QT_INVALID_ARGUMENT; a VM not running or
   * paused with QT_INVALID_STATE; a refusal changes nothing. Then the host agent is told over
   * vsock (the host side's slot), and the DPU side makes the device and serves it. Resolves
   * with the device as the guest probes it; emits 'device'. The vsock device is fixed at
   * creation (it carries the guest agent chosen at start).
   */
  hotplug(device: PluggableDeviceSpec): Promise<VmNetHandle | VmBlkHandle> {
    const given = parseArgs(vmDeviceSchema, device, 'device');
    if (given.kind === 'vsock')
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        "device.kind: expected 'net' or 'blk' (the vsock device is fixed at creation), got 'vsock'",
        { field: 'device.kind', got: given.kind },
      );
    return this.serial(async () => {
      this.need('hotplug', 'running', 'paused');
      const id = given.id ?? defaultDeviceId(given.kind, (x) => this.devs.has(x));
      const d = { ...given, id };
      if (this.devs.has(id))
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `device.id: expected an id not used in vm ${this.name}, got ${JSON.stringify(id)}`,
          { field: 'device.id', got: id, status: 'exists' },
        );
      await this.owner.reserveDevice(this, d, 'device');
      let part: VmDevicePart | null = null;
      let plugged = false;
      try {
        this.info = await this.owner.client.hotplug(this.id, { id, kind: d.kind });
        plugged = true;
        part = await this.owner.makeDevice(this, d);
        await part.boot();
      } catch (e) {
        if (part) await part.free().catch(() => undefined);
        if (plugged) this.info = await this.owner.client.unplug(this.id, id).catch(() => this.info);
        this.owner.releaseDevice(this, d);
        throw e;
      }
      this.devs.add({ part, spec: d });
      this.emit('device', { vm: this.name, id, kind: d.kind, action: 'plugged' });
      return part.handle()!;
    });
  }

  /**
   * Unplugs device `id` from the running (or paused) VM: the device is quiesced — the DPU side
   * stops serving it once the burst in flight is done, so every chain it took is completed and
   * whatever the guest posted that it never took comes back to the guest with the removal —
   * then its regions and interrupt words are freed and the host agent is told over vsock.
   * Resolves with the queues' figures at the moment of removal; emits 'device'. QT_NOT_FOUND
   * (field 'id') for an unknown id, QT_INVALID_ARGUMENT for the vsock device, QT_INVALID_STATE
   * for a VM not running or paused; a refusal changes nothing.
   */
  unplug(id: string): Promise<UnplugReport> {
    parseArgs(z.string({ error: 'a device id' }), id, 'id');
    return this.serial(async () => {
      this.need('unplug', 'running', 'paused');
      if (this.vsock?.id === id)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `id: expected a net or blk device (the vsock device stays for the VM's life), got ${JSON.stringify(id)}`,
          { field: 'id', got: id },
        );
      const p = this.devs.take(id);
      if (!p)
        throw new QingtianError(ErrorCode.NotFound, `id: no device ${JSON.stringify(id)} in vm ${this.name}`, {
          field: 'id',
          got: id,
        });
      const report = await p.part.free();
      this.owner.releaseDevice(this, p.spec);
      this.info = await this.owner.client.unplug(this.id, id);
      this.emit('device', { vm: this.name, id, kind: p.part.kind, action: 'unplugged' });
      return report;
    });
  }

  /** running → paused: every vCPU parks (devices keep their state). */
  pause(): Promise<void> {
    return this.op('pause', ['running'], (c) => c.pauseVm(this.id));
  }

  /** paused → running. */
  resume(): Promise<void> {
    return this.op('resume', ['paused'], (c) => c.resumeVm(this.id));
  }

  /** running | paused → shutoff at once (power off; RAM kept, devices halted). */
  stop(): Promise<void> {
    return this.op('stop', ['running', 'paused'], (c) => c.stopVm(this.id));
  }

  /**
   * running → shutoff the graceful way: the guest acknowledges and powers itself off (see
   * {@link ShutdownOptions}). If it does not within the timeout, QT_TIMEOUT and the VM keeps running.
   */
  shutdown(options?: ShutdownOptions): Promise<void> {
    const o = parseArgs(shutdownSchema, options, 'vm.shutdown options');
    const timeoutMs = o?.timeoutMs ?? 10_000;
    const agent = this.vsock?.guestAgent === true;
    const mode = o?.mode ?? (agent ? 'agent' : 'acpi');
    if (mode === 'agent' && !agent)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `vm.shutdown options.mode: 'agent' needs a vsock device with guestAgent; ${this.name} has none`,
        { field: 'mode', got: mode },
      );
    return this.serial(async () => {
      this.need('shutdown', 'running');
      if (mode === 'acpi') {
        this.info = await this.owner.client.shutdownVm(this.id, timeoutMs);
        await this.deviceWork;
        await this.haltAll();
        return;
      }
      const off = this.until('shutoff', timeoutMs);
      try {
        const ga = await this.guestAgent(timeoutMs);
        try {
          await ga.shutdown();
        } finally {
          ga.close();
        }
        await off.done;
        await this.deviceWork;
        await this.haltAll();
      } finally {
        off.cancel();
      }
    });
  }

  /**
   * Moves device `id`'s backend to another DPU core — off the CPUs of latency-sensitive guests,
   * for instance. On a running VM the move is live and loses nothing: the device is quiesced
   * (no burst in flight), the guest driver's kicks are re-pointed at the new core, and the new
   * core picks up whatever the guest queued meanwhile. On a VM that is not running, the device
   * starts there at the next boot. Refused on a destroyed VM and for an unknown device or core.
   *
   * ```ts
   * const r = await vm.placeDevice('vsock0', { core: 1 });
   * console.log(`moved from core ${r.from} to ${r.to}, ${r.pauseNs} ns unserved`);
   * ```
   */
  placeDevice(id: string, placement: DevicePlacement): Promise<RelocationReport> {
    const p = parseArgs(placementSchema, placement, `vm.placeDevice placement`);
    return this.serial(async () => {
      this.need('placeDevice', 'defined', 'running', 'paused', 'shutoff');
      const dev = this.vsock && this.vsock.id === id ? this.vsock : null;
      if (!dev)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `vm.placeDevice id: expected a device of ${this.name} that can be placed (${this.vsock?.id ?? 'none'}: only a vsock device moves), got ${JSON.stringify(id)}`,
          { field: 'id', got: id },
        );
      const cores = this.owner.cores?.() ?? [];
      const core = cores[p.core];
      if (!core)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `vm.placeDevice placement.core: expected a core index below ${cores.length}, got ${p.core}`,
          { field: 'core', got: p.core },
        );
      await this.deviceWork;
      return dev.relocate(core);
    });
  }

  /**
   * How each vCPU thread is scheduled (its class, nice value, CPUs, kernel thread id), as the
   * thread reported it when the VM started; asked of the host agent over vsock. Empty for a VM
   * created without `vcpuClass` or `cpus`, or not started since.
   */
  async vcpuPlacements(): Promise<VcpuPlacement[]> {
    const s = await this.serial(async () => {
      this.need('vcpuPlacements', 'defined', 'running', 'paused', 'shutoff');
      return this.owner.client.vmStats(this.id);
    });
    return s.vcpus.flatMap((v) => (v.placement ? [v.placement] : []));
  }

  /** running → shutoff → running: a graceful shutdown (same options), then a fresh boot. */
  async reboot(options?: ShutdownOptions): Promise<void> {
    await this.shutdown(options);
    await this.start();
  }

  /** Asks the guest agent for the guest's uptime and counters (needs a vsock device with guestAgent, running). */
  guestInfo(options: { timeoutMs?: number } = {}): Promise<GuestInfo> {
    parseArgs(z.strictObject({ timeoutMs: intIn(1, 600_000).optional() }), options, 'vm.guestInfo options');
    return this.serial(async () => {
      this.need('guestInfo', 'running');
      if (!this.vsock?.guestAgent)
        throw new QingtianError(
          ErrorCode.InvalidState,
          `vm ${this.name}: no guest agent (no vsock device with guestAgent)`,
        );
      const ga = await this.guestAgent(options.timeoutMs ?? 5_000);
      try {
        return await ga.info();
      } finally {
        ga.close();
      }
    });
  }

  /**
   * The counters of the network stack the guest runs on its own vCPU 0, read by the guest agent
   * over vsock (a VM created with `guest.program: 'drivers'` and a NIC; running). QT_NOT_FOUND
   * when the guest has no NIC, QT_INVALID_STATE when it runs no drivers or is not running.
   */
  guestNet(options: { timeoutMs?: number } = {}): Promise<GuestNetCounters> {
    return this.withGuestAgent('guestNet', options, (ga) => ga.netCounters());
  }

  /**
   * Has the guest ping `dst` `count` times (1–65535) from its own vCPU 0, one at a time (the next
   * when the last was answered, or after 200 ms); resolves once the guest took the request.
   * Progress: `guestNet()`'s `pingsSent` and `pingReplies`.
   */
  guestPing(dst: string, count: number, options: { timeoutMs?: number } = {}): Promise<void> {
    const ip = parseArgs(z.ipv4({ error: 'an IPv4 address' }), dst, 'vm.guestPing dst');
    const n = parseArgs(intIn(1, 65535), count, 'vm.guestPing count');
    const p = ip.split('.').map(Number);
    const word = (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
    return this.withGuestAgent('guestPing', options, (ga) => ga.netPing(word, n));
  }

  /**
   * Starts the guest's checked block job on its own vCPU 0: it writes `count` 4 KiB blocks from
   * block `base` (a new version each run), flushes, reads every block back and checks it word by
   * word, `depth` requests in flight. Resolves once the guest took the request; follow it with
   * `guestBlkStatus()`. `count` 1–4096, `depth` 1–32 (default 16), `base` default 0.
   */
  guestBlkCheck(
    job: { count: number; base?: number; depth?: number },
    options: { timeoutMs?: number } = {},
  ): Promise<void> {
    const j = parseArgs(
      z.strictObject({
        count: intIn(1, GUEST_BLK_BLOCKS),
        base: intIn(0, 0x7fffffff).optional(),
        depth: intIn(1, 32).optional(),
      }),
      job,
      'vm.guestBlkCheck job',
    );
    return this.withGuestAgent('guestBlkCheck', options, (ga) => ga.blkCheck(j.base ?? 0, j.count, j.depth ?? 16));
  }

  /** Where the guest's checked block job is, read by the guest agent (see `guestBlkCheck`). */
  guestBlkStatus(options: { timeoutMs?: number } = {}): Promise<GuestBlkStatus> {
    return this.withGuestAgent('guestBlkStatus', options, (ga) => ga.blkStatus());
  }

  /**
   * Any state → destroyed: powers off if needed, halts and frees the devices and memory map,
   * then the host agent scrubs and frees the RAM and forgets the VM. The Vm is unusable after.
   */
  destroy(): Promise<void> {
    return this.serial(async () => {
      this.need('destroy', 'defined', 'running', 'paused', 'shutoff');
      await this.deviceWork;
      // The devices stop touching guest RAM before the agent frees it.
      await this.haltAll();
      await this.owner.client.destroyVm(this.id);
      await this.devs.freeAll((d) => this.owner.releaseDevice(this, d));
      this.map.free();
      this.owner.forget(this);
    });
  }

  /** @internal the host is going away and the agent did not destroy this VM: free the DPU side's part */
  async abandon(): Promise<void> {
    await this.deviceWork;
    await this.devs.freeAll((d) => this.owner.releaseDevice(this, d));
    this.map.free();
    this.current = 'destroyed';
  }

  /** @internal the manager passes the agent's events on */
  onAgentState(e: VmStateEvent): void {
    this.current = e.state;
    if (e.state !== 'destroyed') this.info = { ...this.info, state: e.state };
    // A guest that powers off (whatever asked it) leaves its devices with nothing to serve.
    if (e.state === 'shutoff') this.deviceWork = this.deviceWork.then(() => this.haltAll()).catch(() => undefined);
    this.emit('state', e);
  }

  /** Runs `fn` over a fresh connection to the guest agent of this running VM. */
  private withGuestAgent<T>(
    what: string,
    options: { timeoutMs?: number },
    fn: (ga: GuestAgentClient) => Promise<T>,
  ): Promise<T> {
    parseArgs(z.strictObject({ timeoutMs: intIn(1, 600_000).optional() }), options, `vm.${what} options`);
    return this.serial(async () => {
      this.need(what, 'running');
      if (!this.vsock?.guestAgent)
        throw new QingtianError(
          ErrorCode.InvalidState,
          `vm ${this.name}: no guest agent (no vsock device with guestAgent)`,
        );
      const ga = await this.guestAgent(options.timeoutMs ?? 5_000);
      try {
        return await fn(ga);
      } finally {
        ga.close();
      }
    });
  }

  /** Lays the guest's drivers out for the first NIC and the first disk it has now. */
  private async layDrivers(program: VmGuestProgram): Promise<void> {
    const parts = this.devs.all();
    const net = parts.find((p): p is VmNet => p instanceof VmNet);
    const blk = parts.find((p): p is VmBlk => p instanceof VmBlk);
    const nh = net?.handle();
    const bh = blk?.handle();
    await program.lay(nh ? { handle: nh, ip: net!.ip() } : null, bh ?? null);
  }

  /** A connection to the guest agent; QT_TIMEOUT if the guest does not take it within `timeoutMs`. */
  private guestAgent(timeoutMs: number): Promise<GuestAgentClient> {
    return connectGuestAgent(this.vsock!.device.host, this.name, timeoutMs);
  }

  private haltAll(): Promise<void> {
    return this.devs.haltAll();
  }

  private op(what: string, from: VmState[], call: (c: AgentClient) => Promise<VmInfo>): Promise<void> {
    return this.serial(async () => {
      this.need(what, ...from);
      this.info = await call(this.owner.client);
      // A power-off halts the devices: resolve once they are (halting twice is harmless).
      await this.deviceWork;
      if (this.info.state === 'shutoff') await this.haltAll();
    });
  }

  private need(what: string, ...states: VmState[]): void {
    if (!states.includes(this.current))
      throw new QingtianError(
        ErrorCode.InvalidState,
        `vm ${this.name}.${what}: the VM is ${this.current}; ${what} needs ${states.join(' or ')}`,
        { state: this.current },
      );
  }

  /** Runs `fn` after every earlier operation on this VM settled. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Resolves when the VM reaches `state`; rejects with QT_TIMEOUT after `timeoutMs`. */
  private until(state: VmState, timeoutMs: number): { done: Promise<void>; cancel: () => void } {
    let cancel = (): void => undefined;
    const done = new Promise<void>((resolve, reject) => {
      if (this.current === state) return resolve();
      const on = (e: VmStateEvent): void => {
        if (e.state === state) {
          cancel();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cancel();
        reject(
          new QingtianError(ErrorCode.Timeout, `vm ${this.name}: not ${state} within ${timeoutMs} ms`, { timeoutMs }),
        );
      }, timeoutMs);
      cancel = () => {
        clearTimeout(timer);
        this.off('state', on);
      };
      this.on('state', on);
    });
    done.catch(() => undefined);
    return { done, cancel };
  }
}
