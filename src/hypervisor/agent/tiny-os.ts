import * as C from '../../generated/guest.js';
import type { AgentHandlers } from './agent-server.js';
import { AgentPool } from './agent-pool.js';
import { AgentVm, type VmHost } from './agent-vm.js';
import { ContainerTable } from './agent-containers.js';
import { threadCpuNs } from './thread-cpu.js';
import { AGENT_PROTOCOL_VERSION, type EventBody, type VmState } from './protocol/messages.js';
import { AgentError } from './protocol/status.js';
import { GUEST_CPU_DOORBELL_BYTES, GuestCpuPool } from './guest-cpu-pool.js';
import { VcpuPool } from './vcpu-pool.js';

/** How long a batch of container changes may wait for the host's vCPUs to take it, ms. */
const CT_ACK_MS = 5_000;
/** Guest CPU threads when hello does not say. */
const DEFAULT_GUEST_CPUS = 2;
/** Bytes at the end of the grant the agent keeps for itself: its guest CPUs' doorbells (256 at most). */
const AGENT_PAGE = 256 * GUEST_CPU_DOORBELL_BYTES;

/** Where the agent's events go (the server sends them to the control plane). */
export type EventSink = (name: 'vm.state', body: EventBody<'vm.state'>) => void;

/**
 * The host agent's work, the seed's TinyOS: it owns the memory the control plane granted it
 * (guest RAM, VM control pages) and the vCPU threads, and does nothing else. Each request is a
 * handler; requests on one VM run one after the other (in arrival order), requests on
 * different VMs overlap. Every state change is reported as a 'vm.state' event.
 */
export class TinyOs implements VmHost {
  readonly i32: Int32Array;
  readonly sizeBytes: number;
  private pool: AgentPool | null = null;
  private readonly vms = new Map<number, AgentVm>();
  private readonly names = new Set<string>();
  private readonly queues = new Map<number, Promise<unknown>>();
  private readonly busy = new Set<number>();
  private nextId = 1;
  private readonly started = performance.now();
  /** Set by the server: how many requests and refusals it saw. */
  counters: () => { requests: number; errors: number } = () => ({ requests: 0, errors: 0 });

  readonly vcpuPool: VcpuPool;
  private cpus: GuestCpuPool | null = null;
  /** The VM holding every guest CPU (bare metal), if any. */
  private exclusiveVm: AgentVm | null = null;

  constructor(
    readonly memory: WebAssembly.Memory,
    private readonly emit: EventSink,
    /** The guest kernel, compiled once for every guest CPU. */
    private readonly guestModule: WebAssembly.Module,
  ) {
    this.i32 = new Int32Array(memory.buffer);
    this.sizeBytes = memory.buffer.byteLength;
    this.vcpuPool = new VcpuPool(this);
  }

  readonly handlers: AgentHandlers = {
    hello: async (a) => {
      if (!a.versions.includes(AGENT_PROTOCOL_VERSION))
        throw new AgentError(
          'unsupported-version',
          `hello: versions ${a.versions.join(', ')}; this agent speaks ${AGENT_PROTOCOL_VERSION}`,
        );
      const end = a.memory.base + a.memory.bytes;
      if (a.memory.base % 65536 !== 0 || a.memory.bytes % 65536 !== 0 || a.memory.base === 0 || end > this.sizeBytes)
        throw new AgentError(
          'bad-request',
          `hello memory: expected a 64 KiB-aligned range inside host memory, got [${a.memory.base}, ${end})`,
        );
      // The grant's last AGENT_PAGE bytes are the agent's own (its guest CPUs' doorbells); the rest is the pool.
      const poolBytes = a.memory.bytes - AGENT_PAGE;
      if (this.pool && (this.pool.base !== a.memory.base || this.pool.bytes !== poolBytes))
        throw new AgentError('bad-state', 'hello memory: the agent already holds a different grant');
      this.pool ??= new AgentPool(new Uint8Array(this.memory.buffer), a.memory.base, poolBytes);
      if (a.keepVcpus !== undefined) this.vcpuPool.keep = a.keepVcpus;
      if (!this.cpus) {
        const cpus = new GuestCpuPool(
          a.guestCpus ?? DEFAULT_GUEST_CPUS,
          this.guestModule,
          this.memory,
          a.memory.base + poolBytes,
        );
        this.cpus = cpus;
        await cpus.online();
      }
      return { version: AGENT_PROTOCOL_VERSION, agent: 'qingtian-tinyos', memory: a.memory };
    },
    ping: () => ({}),
    'agent.stats': () => {
      let threads = 0;
      for (const vm of this.vms.values()) threads += vm.threadCount;
      const c = this.counters();
      return {
        uptimeMs: performance.now() - this.started,
        cpuNs: threadCpuNs(),
        requests: c.requests,
        errors: c.errors,
        vms: this.vms.size,
        vcpuThreads: threads,
        idleVcpuThreads: this.vcpuPool.idleCount,
        guestCpus: { threads: this.cpus?.cpus.length ?? 0, boundVcpus: this.cpus?.bound ?? 0 },
        pool: this.needPool().stats(),
      };
    },
    'vm.create': (a) => {
      const pool = this.needPool();
      if (this.names.has(a.name))
        throw new AgentError('exists', `vm.create name: ${JSON.stringify(a.name)} is already used`);
      const ids = new Set<string>();
      for (const [i, d] of (a.devices ?? []).entries()) {
        if (ids.has(d.id))
          throw new AgentError('bad-request', `vm.create devices[${i}].id: ${JSON.stringify(d.id)} appears twice`);
        ids.add(d.id);
      }
      const placement = a.placement ?? 'dedicated';
      const cpus = this.guestCpus;
      if (this.exclusiveVm)
        throw new AgentError(
          'bad-state',
          `vm.create: bare-metal instance ${this.exclusiveVm.name} holds every guest CPU; destroy it first`,
        );
      if (placement === 'exclusive') {
        if (a.vcpus !== cpus.cpus.length)
          throw new AgentError(
            'bad-request',
            `vm.create vcpus: placement 'exclusive' takes every guest CPU: expected ${cpus.cpus.length}, got ${a.vcpus}`,
          );
        if (this.vms.size > 0)
          throw new AgentError(
            'bad-state',
            `vm.create placement: 'exclusive' needs a host with no other VM; it has ${this.vms.size}`,
          );
      }
      // A class is a thread's priority: bound vCPUs share their guest CPU's thread with other VMs.
      if (a.sched && placement !== 'dedicated')
        throw new AgentError(
          'bad-request',
          `vm.create sched: a vCPU class or CPU list needs placement 'dedicated', got '${placement}'`,
        );
      if (a.containers && a.guestAgent)
        throw new AgentError('bad-request', 'vm.create containers: a container host runs no guest agent');
      if (a.containers && a.vcpus > C.CT_MAX_VCPUS)
        throw new AgentError('bad-request', `vm.create vcpus: a container host has at most ${C.CT_MAX_VCPUS}`);
      const bytes = a.memoryMiB * 1024 * 1024;
      if (a.guestAgent) {
        const { vsGpa, gaGpa } = a.guestAgent;
        if (vsGpa % 64 !== 0 || vsGpa + C.GV_STATE_BYTES > bytes)
          throw new AgentError(
            'bad-request',
            `vm.create guestAgent.vsGpa: expected a 64-byte aligned GPA below ${bytes - C.GV_STATE_BYTES}, got ${vsGpa}`,
          );
        if (gaGpa % 64 !== 0 || gaGpa + C.QGA_STATE_BYTES > bytes)
          throw new AgentError(
            'bad-request',
            `vm.create guestAgent.gaGpa: expected a 64-byte aligned GPA below ${bytes - C.QGA_STATE_BYTES}, got ${gaGpa}`,
          );
      }
      if (a.program) {
        const { gpa } = a.program;
        if (!a.guestAgent)
          throw new AgentError('bad-request', 'vm.create program: a guest that drives its devices needs guestAgent');
        if (gpa % 64 !== 0 || gpa + C.GP_BYTES > bytes)
          throw new AgentError(
            'bad-request',
            `vm.create program.gpa: expected a 64-byte aligned GPA below ${bytes - C.GP_BYTES}, got ${gpa}`,
          );
      }
      const owner = `vm:${a.name}`;
      const ram = pool.take(`${owner}:ram`, owner, 'guest-ram', bytes, 65536);
      const ctl = ram && pool.take(`${owner}:ctl`, owner, 'device-state', C.VMC_BYTES);
      if (!ram || !ctl) {
        if (ram) pool.give(ram, owner);
        const s = pool.stats();
        throw new AgentError(
          'no-resources',
          `vm.create memoryMiB: ${a.memoryMiB} MiB asked, ${s.freeBytes >> 20} MiB free in the pool`,
        );
      }
      let vm: AgentVm;
      try {
        vm = new AgentVm(
          this,
          this.nextId,
          a.name,
          a.vcpus,
          ram,
          ctl,
          a.guestAgent ?? null,
          placement,
          a.sched ?? null,
          a.program ?? null,
        );
      } catch (e) {
        pool.give(ram, owner);
        pool.give(ctl, owner);
        throw e;
      }
      this.nextId++;
      if (a.containers) {
        try {
          vm.containers = new ContainerTable(
            new Uint8Array(this.memory.buffer),
            ram,
            a.containers.capacity,
            a.vcpus,
            a.containers.netBytes ?? 0,
          );
        } catch (e) {
          pool.give(ram, owner);
          pool.give(ctl, owner);
          throw e;
        }
      }
      if (placement === 'exclusive') {
        this.exclusiveVm = vm;
        for (const c of cpus.cpus) c.exclusive = true;
      }
      for (const d of a.devices ?? []) vm.devices.set(d.id, d);
      this.vms.set(vm.id, vm);
      this.names.add(vm.name);
      this.emitState(vm, 'none', 'vm.create');
      return vm.info();
    },
    'vm.start': (a) => this.onVm(a.vm, 'vm.start', (vm) => vm.start()),
    'vm.pause': (a) => this.onVm(a.vm, 'vm.pause', (vm) => vm.pause()),
    'vm.resume': (a) => this.onVm(a.vm, 'vm.resume', (vm) => vm.resume()),
    'vm.stop': (a) => this.onVm(a.vm, 'vm.stop', (vm) => vm.powerOff()),
    'vm.shutdown': (a) => this.onVm(a.vm, 'vm.shutdown', (vm) => vm.shutdown(a.timeoutMs ?? 10_000)),
    'vm.destroy': (a) =>
      this.serial(a.vm, async () => {
        const vm = this.vm(a.vm);
        // One event, from the state last told: a running VM goes running -> destroyed, as a container does.
        const previous = vm.state;
        if (vm.state === 'running' || vm.state === 'paused') await vm.powerOff();
        const pool = this.needPool();
        pool.give(vm.ram, `vm:${vm.name}`);
        pool.give(vm.ctl, `vm:${vm.name}`);
        vm.release();
        this.vms.delete(vm.id);
        this.names.delete(vm.name);
        if (this.exclusiveVm === vm) {
          this.exclusiveVm = null;
          for (const c of this.guestCpus.cpus) c.exclusive = false;
        }
        this.emit('vm.state', {
          vm: vm.id,
          name: vm.name,
          state: 'destroyed',
          previous,
          reason: 'vm.destroy',
        });
        return { vm: vm.id };
      }),
    'ct.create': (a) =>
      this.serial(a.vm, () => {
        const t = this.table(a.vm);
        return { results: t.create(a.items) };
      }),
    'ct.op': (a) =>
      this.serial(a.vm, async () => {
        const vm = this.vm(a.vm);
        const t = this.table(a.vm);
        const { results, touched } = t.apply(a.op, a.ids, vm.state === 'running');
        if (touched && vm.state === 'running') {
          const epoch = t.bump();
          vm.wake();
          if (!(await t.acked(epoch, CT_ACK_MS)))
            throw new AgentError('timeout', `ct.${a.op}: the container host's vCPUs did not take the change`);
        }
        if (a.op === 'destroy') t.release(a.ids);
        return { results };
      }),
    'ct.stats': (a) => {
      const t = this.table(a.vm);
      return { containers: t.stats(a.ids), memoryBytes: t.memoryBytes };
    },
    'vcpu.warm': async (a) => ({ idle: await this.vcpuPool.warm(a.count) }),
    'vm.list': () => ({ vms: [...this.vms.values()].map((vm) => vm.info()) }),
    'vm.stats': (a) => {
      const vm = this.vm(a.vm);
      const state = vm.vcpuState();
      return {
        vm: vm.info(),
        vcpus: Array.from({ length: vm.vcpus }, (_, index) => {
          const placement = vm.placementOf(index);
          return { index, state, ticks: vm.ticks(), ...(placement ? { placement } : {}) };
        }),
      };
    },
    'device.hotplug': (a) =>
      this.serial(a.vm, () => {
        const vm = this.vm(a.vm);
        if (vm.devices.has(a.device.id))
          throw new AgentError(
            'exists',
            `device.hotplug device.id: ${JSON.stringify(a.device.id)} is already plugged into ${vm.name}`,
          );
        vm.devices.set(a.device.id, a.device);
        return vm.info();
      }),
    'device.unplug': (a) =>
      this.serial(a.vm, () => {
        const vm = this.vm(a.vm);
        if (!vm.devices.delete(a.device))
          throw new AgentError(
            'not-found',
            `device.unplug device: ${JSON.stringify(a.device)} is not plugged into ${vm.name}`,
          );
        return vm.info();
      }),
  };

  /** A vCPU program ended. Unasked (no request on the VM in progress), it is the guest's doing. */
  onProgramExit(vm: AgentVm, exit: 'halted' | 'stopped' | 'failed'): void {
    if (this.busy.has(vm.id) || vm.state !== 'running' || exit === 'stopped') return;
    void this.serial(vm.id, async () => {
      if (vm.state !== 'running') return;
      await vm.endThreads();
      vm.state = 'shutoff';
      this.emitState(vm, 'running', exit === 'halted' ? 'guest-halt' : 'vcpu-exit');
    });
  }

  /** Ends every VM's vCPU threads (the agent is going away). */
  async close(): Promise<void> {
    await Promise.all([...this.vms.values()].map((vm) => vm.endThreads()));
    await this.vcpuPool.close();
    await this.cpus?.close();
  }

  /** The guest CPUs (hello starts them). */
  get guestCpus(): GuestCpuPool {
    if (!this.cpus) throw new AgentError('bad-state', 'the agent has no guest CPUs yet (hello starts them)');
    return this.cpus;
  }

  private onVm(id: number, reason: string, op: (vm: AgentVm) => void | Promise<void>) {
    return this.serial(id, async () => {
      const vm = this.vm(id);
      const before = vm.state;
      await op(vm);
      this.emitState(vm, before, reason);
      return vm.info();
    });
  }

  /** Runs `fn` after every earlier request on VM `id` finished. */
  private serial<T>(id: number, fn: () => T | Promise<T>): Promise<T> {
    const prev = this.queues.get(id) ?? Promise.resolve();
    const run = async (): Promise<T> => {
      this.busy.add(id);
      try {
        return await fn();
      } finally {
        this.busy.delete(id);
      }
    };
    const p = prev.then(run, run);
    const tail = p.catch(() => undefined);
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return p;
  }

  private table(id: number): ContainerTable {
    const t = this.vm(id).containers;
    if (!t) throw new AgentError('bad-request', `vm: VM ${id} is not a container host`);
    return t;
  }

  private vm(id: number): AgentVm {
    const vm = this.vms.get(id);
    if (!vm) throw new AgentError('not-found', `vm ${id}: no such VM`);
    return vm;
  }

  private needPool(): AgentPool {
    if (!this.pool) throw new AgentError('bad-state', 'the agent has no memory yet (hello grants it)');
    return this.pool;
  }

  private emitState(vm: AgentVm, previous: VmState | 'none', reason: string): void {
    if (previous === vm.state) return;
    // A container host that powered off leaves its containers shut off (the control plane says so).
    if (vm.state === 'shutoff') vm.containers?.hostOff();
    this.emit('vm.state', { vm: vm.id, name: vm.name, state: vm.state, previous, reason });
  }
}
