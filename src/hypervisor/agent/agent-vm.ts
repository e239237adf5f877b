import type { Region } from '../../common/host-memory-api.js';
import * as C from '../../generated/guest.js';
import type { GuestVcpu } from '../guest/vcpu.js';
import type { VcpuPlacement, VcpuSchedSpec } from '../sched/vcpu-class.js';
import type { VmInfo, VmState } from './protocol/messages.js';
import { AgentError } from './protocol/status.js';
import type { ContainerTable } from './agent-containers.js';
import type { GuestCpu, GuestCpuPool } from './guest-cpu-pool.js';
import type { VcpuPool } from './vcpu-pool.js';

/** How long a vCPU takes to see a change of its control block, at most (its idle sleep). */
const IDLE_WAIT_NS = 1_000_000_000n;
/** The guest agent's longest sleep between polls: a pause or power button is seen within it. */
const AGENT_WAIT_NS = 50_000_000n;
/** How often a guest CPU looks at a bound vCPU that waits on nothing it can ring: the idle program, the guest agent. */
const IDLE_POLL_MS = 250;
const AGENT_POLL_MS = 5;
/** How long vCPU threads may take to come up (thread start is slow on a loaded host). */
const START_MS = 60_000;
/** How long the agent waits for vCPUs to park, resume or leave before it gives up (ms). */
const SETTLE_MS = 5_000;

/** What a VM needs from the agent that holds it. */
export interface VmHost {
  readonly memory: WebAssembly.Memory;
  readonly sizeBytes: number;
  readonly i32: Int32Array;
  /** vCPU threads between VMs. */
  readonly vcpuPool: VcpuPool;
  /** The guest CPUs vCPUs are bound to (placement 'shared' and 'exclusive'). */
  readonly guestCpus: GuestCpuPool;
  /** A vCPU's program ended (it halted, or was stopped). */
  onProgramExit(vm: AgentVm, exit: 'halted' | 'stopped' | 'failed'): void;
}

/**
 * Where a VM's vCPUs run: 'shared' — bound to the agent's guest CPUs, several per thread, no
 * thread started; 'dedicated' — a thread of its own per vCPU (taken from the idle ones or
 * started); 'exclusive' — one vCPU on each guest CPU, which nothing else may use (bare metal).
 */
export type VcpuPlacementMode = 'shared' | 'dedicated' | 'exclusive';

/**
 * One VM as the host agent holds it: its RAM and control block (both from the agent's pool),
 * its vCPU threads, the devices plugged into it, and its state. The primitive operations check
 * that the state allows them (else AgentError bad-state, nothing changed); the order of
 * operations on one VM is the caller's (the agent serialises them).
 */
export class AgentVm {
  state: VmState = 'defined';
  readonly devices = new Map<string, { id: string; kind: 'net' | 'blk' | 'vsock' }>();
  private vcpuThreads: GuestVcpu[] = [];
  private programs: Promise<void>[] = [];
  /** Per vCPU thread: its program returned (the thread is idle and can serve another VM). */
  private returned: boolean[] = [];
  /** Per vCPU: its placement as its thread reported it at start (VMs with `sched` only). */
  private placements: (VcpuPlacement | null)[] = [];
  /** The dedicated threads' `place` calls of the start under way. */
  private placing: Promise<unknown>[] = [];
  /** Per bound vCPU: its guest CPU and slot. */
  private bindings: { cpu: GuestCpu; slot: number; done: Promise<void> }[] = [];
  /** Set when the VM is a container host: its vCPUs run container tasks from this table. */
  containers: ContainerTable | null = null;
  /**
   * The guest CPU vCPU 0 is always bound to when it drives the guest's devices on a shared
   * CPU: the devices post its interrupts to that CPU's doorbell (a posted interrupt's
   * notification goes to the physical CPU the vCPU runs on).
   */
  private readonly irqCpu: GuestCpu | null;

  constructor(
    private readonly host: VmHost,
    readonly id: number,
    readonly name: string,
    readonly vcpus: number,
    readonly ram: Region,
    readonly ctl: Region,
    /** GPAs of the guest agent's vsock driver and state, when the guest runs one on vCPU 0. */
    readonly guestAgent: { vsGpa: number; gaGpa: number } | null = null,
    readonly placement: VcpuPlacementMode = 'dedicated',
    /** The vCPUs' class and CPUs (placement 'dedicated' only), or null: the threads' defaults. */
    readonly sched: VcpuSchedSpec | null = null,
    /** vCPU 0 drives the guest's devices from the program block at this GPA (its interrupt word: VMC_IRQ). */
    readonly driven: { gpa: number } | null = null,
  ) {
    this.irqCpu = null;
    if (driven && placement !== 'dedicated') {
      const cpu = placement === 'exclusive' ? host.guestCpus.cpus[0] : host.guestCpus.pick();
      if (!cpu) throw new AgentError('no-resources', `VM ${name}: every guest CPU is held by a bare-metal instance`);
      this.irqCpu = cpu;
      cpu.pinned++;
    }
    const v = new DataView(host.memory.buffer);
    v.setUint32(ctl.base, C.VMC_MAGIC, true);
    v.setUint32(ctl.base + C.VMC_VCPUS, vcpus, true);
  }

  info(): VmInfo {
    return {
      id: this.id,
      name: this.name,
      vcpus: this.vcpus,
      memoryBytes: this.ram.sizeBytes,
      ramBase: this.ram.base,
      state: this.state,
      devices: [...this.devices.values()],
      ...(this.driven ? { irq: this.irqWord() } : {}),
    };
  }

  /** vCPUs running (on threads of their own or bound to guest CPUs). */
  get threadCount(): number {
    return this.vcpuThreads.length + this.bindings.length;
  }

  /** vCPUs on threads of their own. */
  get dedicatedThreads(): number {
    return this.vcpuThreads.length;
  }

  /** Makes the guest CPUs that run this VM's vCPUs look at its control block now. */
  private kick(): void {
    for (const b of this.bindings) b.cpu.ring();
  }

  private word(off: number): number {
    return Atomics.load(this.host.i32, (this.ctl.base + off) >> 2);
  }

  private set(off: number, v: number): void {
    Atomics.store(this.host.i32, (this.ctl.base + off) >> 2, v);
  }

  /**
   * Bumps the wake word (and vCPU 0's interrupt word, if it drives devices) so that sleeping
   * vCPUs look at the control block now.
   */
  wake(): void {
    const i = (this.ctl.base + C.VMC_WAKE) >> 2;
    Atomics.add(this.host.i32, i, 1);
    Atomics.notify(this.host.i32, i);
    if (this.driven && !this.irqCpu) {
      const q = (this.ctl.base + C.VMC_IRQ) >> 2;
      Atomics.add(this.host.i32, q, 1);
      Atomics.notify(this.host.i32, q);
    }
    this.kick();
  }

  /**
   * vCPU 0's interrupt word when it drives the guest's devices: on a thread of its own, a word
   * of its control block it sleeps on; on a shared guest CPU, that CPU's doorbell.
   */
  private irqWord(): number {
    return this.irqCpu ? this.irqCpu.doorbell : this.ctl.base + C.VMC_IRQ;
  }

  private need(...states: VmState[]): void {
    if (!states.includes(this.state))
      throw new AgentError('bad-state', `VM ${this.name} is ${this.state}; this needs ${states.join(' or ')}`);
  }

  /**
   * defined | shutoff -> running: vCPUs bound to guest CPUs or on threads of their own (by
   * placement), running once each has entered the VM's program.
   */
  async start(): Promise<void> {
    this.need('defined', 'shutoff');
    for (const off of [C.VMC_RUN, C.VMC_PARKED, C.VMC_POWER, C.VMC_HALTED, C.VMC_EXITED, C.VMC_ENTERED])
      this.set(off, 0);
    this.placements = [];
    this.placing = [];
    try {
      if (this.placement === 'dedicated') this.startThreads();
      else this.bindCpus();
      await Promise.all(this.placing);
      await this.until(C.VMC_ENTERED, (n) => n >= this.vcpus, 'start', START_MS);
    } catch (e) {
      this.set(C.VMC_RUN, C.VMC_STOPPED);
      this.wake();
      await this.endThreads();
      throw e;
    }
    this.state = 'running';
  }

  /** The program vCPU `i` runs and its arguments (`waitNs` 0 on a shared CPU: the CPU does the waiting). */
  private program(i: number, shared: boolean): [string, (number | bigint)[]] {
    const t = this.containers;
    // vCPU 0 of a container host with a network runs its VLAN split: it looks often.
    if (t)
      return [
        'gvm_containers',
        [
          this.ctl.base,
          t.table,
          this.ram.base,
          this.ram.sizeBytes,
          i,
          shared ? 0n : i === 0 && t.netBytes > 0 ? AGENT_WAIT_NS : IDLE_WAIT_NS,
        ],
      ];
    const ga = i === 0 ? this.guestAgent : null;
    // vCPU 0 of a guest that drives its devices sleeps on its interrupt word, not on a timer.
    if (ga && this.driven)
      return [
        'gvm_guest',
        [
          this.ctl.base,
          this.ram.base + this.driven.gpa,
          this.ram.base + ga.vsGpa,
          this.ram.base + ga.gaGpa,
          shared ? 0n : IDLE_WAIT_NS,
        ],
      ];
    return ga
      ? ['gvm_agent', [this.ctl.base, this.ram.base + ga.vsGpa, this.ram.base + ga.gaGpa, shared ? 0n : AGENT_WAIT_NS]]
      : ['gvm_idle', [this.ctl.base, shared ? 0n : IDLE_WAIT_NS]];
  }

  private bindCpus(): void {
    const pool = this.host.guestCpus;
    for (let i = 0; i < this.vcpus; i++) {
      const cpu = i === 0 && this.irqCpu ? this.irqCpu : this.placement === 'exclusive' ? pool.cpus[i]! : pool.pick();
      if (!cpu)
        throw new AgentError('no-resources', `VM ${this.name}: every guest CPU is held by a bare-metal instance`);
      const slot = pool.slot();
      const [fn, args] = this.program(i, true);
      this.bindings.push({
        cpu,
        slot,
        done: cpu.bind(slot, fn, args, this.ctl.base, this.pollMs(i)).then((exit) => {
          // A vCPU that halted pressed the power button or saw it: the others must look now.
          if (exit === 'halted') this.kick();
          if (exit !== 'unbound') this.host.onProgramExit(this, exit);
        }),
      });
    }
  }

  /**
   * How often a guest CPU looks at bound vCPU `i` unrung: often for a vCPU 0 that waits on
   * something that cannot ring the CPU (the guest agent's socket, a container host's NIC), seldom
   * for one whose devices ring it (it drives them: only its ping retries run on a clock).
   */
  private pollMs(i: number): number {
    if (i !== 0 || this.irqCpu) return IDLE_POLL_MS;
    return this.guestAgent !== null || (this.containers?.netBytes ?? 0) > 0 ? AGENT_POLL_MS : IDLE_POLL_MS;
  }

  private startThreads(): void {
    for (let i = 0; i < this.vcpus; i++) {
      const t = this.host.vcpuPool.take(`${this.name}:vcpu${i}`);
      this.vcpuThreads.push(t);
      const returned = this.returned;
      returned.push(false);
      // Queued ahead of the program: the thread takes its class and CPUs before guest code runs.
      if (this.sched) this.placing.push(t.place(this.sched).then((p) => (this.placements[i] = p)));
      const [fn, args] = this.program(i, false);
      this.programs.push(
        t.runProgram(fn, args, this.ctl.base).then(
          (r) => {
            returned[i] = true;
            this.host.onProgramExit(this, r.exit);
          },
          () => this.host.onProgramExit(this, 'failed'),
        ),
      );
    }
  }

  /** running -> paused, once every vCPU has parked. */
  async pause(): Promise<void> {
    this.need('running');
    this.set(C.VMC_RUN, C.VMC_PAUSED);
    Atomics.notify(this.host.i32, (this.ctl.base + C.VMC_RUN) >> 2);
    this.wake();
    await this.until(C.VMC_PARKED, (n) => n >= this.vcpus, 'park');
    this.state = 'paused';
  }

  /** paused -> running, once every vCPU has left its parking place. */
  async resume(): Promise<void> {
    this.need('paused');
    this.set(C.VMC_RUN, C.VMC_RUNNING);
    Atomics.notify(this.host.i32, (this.ctl.base + C.VMC_RUN) >> 2);
    this.kick();
    await this.until(C.VMC_PARKED, (n) => n === 0, 'resume');
    this.state = 'running';
  }

  /** running | paused -> shutoff at once: the vCPU threads end (RAM is kept). */
  async powerOff(): Promise<void> {
    this.need('running', 'paused');
    this.set(C.VMC_RUN, C.VMC_STOPPED);
    Atomics.notify(this.host.i32, (this.ctl.base + C.VMC_RUN) >> 2);
    this.wake();
    await this.endThreads();
    this.state = 'shutoff';
  }

  /**
   * running -> shutoff the graceful way: press the power button and wait until every vCPU
   * halted (the guest's acknowledgement). On timeout the button is released and the VM keeps
   * running (AgentError timeout).
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.need('running');
    this.set(C.VMC_POWER, 1);
    this.wake();
    try {
      await this.until(C.VMC_HALTED, (n) => n >= this.vcpus, 'acknowledge the shutdown', timeoutMs);
    } catch (e) {
      this.set(C.VMC_POWER, 0);
      throw e;
    }
    await this.endThreads();
    this.state = 'shutoff';
  }

  /** The VM is destroyed: its vCPU 0 no longer counts on the guest CPU it was kept on. */
  release(): void {
    if (this.irqCpu) this.irqCpu.pinned--;
  }

  /** vCPU `i`'s placement as its thread reported it at start, or null (no `sched`, or not started). */
  placementOf(i: number): VcpuPlacement | null {
    return this.placements[i] ?? null;
  }

  /** Iterations of the vCPUs' programs so far. */
  ticks(): number {
    return Number(new DataView(this.host.memory.buffer).getBigUint64(this.ctl.base + C.VMC_TICKS, true));
  }

  vcpuState(): 'running' | 'parked' | 'halted' | 'exited' {
    if (this.state === 'paused') return 'parked';
    if (this.word(C.VMC_HALTED) > 0) return 'halted';
    return this.threadCount > 0 ? 'running' : 'exited';
  }

  /**
   * Lets go of every vCPU thread once its program saw the stop: a thread whose program returned
   * goes back to the agent's pool; if not every vCPU left its program within SETTLE_MS (a thread
   * died, a guest step never returned), those that did not return are terminated.
   */
  async endThreads(): Promise<void> {
    const n = this.threadCount;
    try {
      // Every vCPU bumps the exited word as it leaves its program; its reply then surely follows.
      if (n > 0) await this.until(C.VMC_EXITED, (v) => v >= n, 'leave their programs');
      await Promise.allSettled(this.programs);
    } catch {
      // Stuck or dead vCPUs: terminated below.
    }
    // A bound vCPU still in its program is dropped from its CPU (its promise then settles).
    for (const b of this.bindings) b.cpu.unbind(b.slot);
    await Promise.allSettled(this.bindings.map((b) => b.done));
    this.bindings = [];
    const threads = this.vcpuThreads;
    const returned = this.returned;
    this.vcpuThreads = [];
    this.programs = [];
    this.returned = [];
    // A thread placed for this VM's class goes, rather than carry that class to the next VM.
    const reuse = this.sched === null;
    await Promise.all(threads.map((t, i) => (reuse && returned[i] ? this.host.vcpuPool.give(t) : t.stop())));
  }

  /** Waits (without blocking the agent) until the control word `off` satisfies `ok`. */
  private async until(off: number, ok: (n: number) => boolean, what: string, timeoutMs = SETTLE_MS): Promise<void> {
    const idx = (this.ctl.base + off) >> 2;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(this.host.i32, idx);
      if (ok(v)) return;
      const left = deadline - performance.now();
      if (left <= 0)
        throw new AgentError('timeout', `VM ${this.name}: its vCPUs did not ${what} within ${timeoutMs} ms`);
      const w = Atomics.waitAsync(this.host.i32, idx, v, left);
      if (w.async) await w.value;
    }
  }
}
