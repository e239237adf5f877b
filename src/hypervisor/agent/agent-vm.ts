import type { Region } from '../../common/host-memory-api.js';
import * as C from '../../generated/guest.js';
import type { GuestVcpu } from '../guest/vcpu.js';
import type { VcpuPlacement, VcpuSchedSpec } from '../sched/vcpu-class.js';
import type { VmInfo, VmState } from './protocol/messages.js';
import { AgentError } from './protocol/status.js';
import type { VcpuPool } from './vcpu-pool.js';

/** How long a vCPU takes to see a change of its control block, at most (its idle sleep). */
const IDLE_WAIT_NS = 1_000_000_000n;
/** The guest agent's longest sleep between polls: a pause or power button is seen within it. */
const AGENT_WAIT_NS = 50_000_000n;
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
  /** A vCPU's program ended (it halted, or was stopped). */
  onProgramExit(vm: AgentVm, exit: 'halted' | 'stopped' | 'failed'): void;
}

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

  constructor(
    private readonly host: VmHost,
    readonly id: number,
    readonly name: string,
    readonly vcpus: number,
    readonly ram: Region,
    readonly ctl: Region,
    /** GPAs of the guest agent's vsock driver and state, when the guest runs one on vCPU 0. */
    readonly guestAgent: { vsGpa: number; gaGpa: number } | null = null,
    /** The vCPUs' class and CPUs, or null: the threads' defaults. */
    readonly sched: VcpuSchedSpec | null = null,
  ) {
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
    };
  }

  get threadCount(): number {
    return this.vcpuThreads.length;
  }

  private word(off: number): number {
    return Atomics.load(this.host.i32, (this.ctl.base + off) >> 2);
  }

  private set(off: number, v: number): void {
    Atomics.store(this.host.i32, (this.ctl.base + off) >> 2, v);
  }

  /** Bumps the wake word so that sleeping vCPUs look at the control block now. */
  private wake(): void {
    const i = (this.ctl.base + C.VMC_WAKE) >> 2;
    Atomics.add(this.host.i32, i, 1);
    Atomics.notify(this.host.i32, i);
  }

  private need(...states: VmState[]): void {
    if (!states.includes(this.state))
      throw new AgentError('bad-state', `VM ${this.name} is ${this.state}; this needs ${states.join(' or ')}`);
  }

  /** defined | shutoff -> running: one thread per vCPU, running once each has entered the VM's program. */
  async start(): Promise<void> {
    this.need('defined', 'shutoff');
    for (const off of [C.VMC_RUN, C.VMC_PARKED, C.VMC_POWER, C.VMC_HALTED, C.VMC_EXITED, C.VMC_ENTERED])
      this.set(off, 0);
    const placing: Promise<unknown>[] = [];
    this.placements = [];
    for (let i = 0; i < this.vcpus; i++) {
      const t = this.host.vcpuPool.take(`${this.name}:vcpu${i}`);
      this.vcpuThreads.push(t);
      const returned = this.returned;
      returned.push(false);
      // Queued ahead of the program: the thread takes its class and CPUs before guest code runs.
      if (this.sched) placing.push(t.place(this.sched).then((p) => (this.placements[i] = p)));
      const ga = i === 0 ? this.guestAgent : null;
      const [fn, args]: [string, (number | bigint)[]] = ga
        ? ['gvm_agent', [this.ctl.base, this.ram.base + ga.vsGpa, this.ram.base + ga.gaGpa, AGENT_WAIT_NS]]
        : ['gvm_idle', [this.ctl.base, IDLE_WAIT_NS]];
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
    try {
      await Promise.all(placing);
      await this.until(C.VMC_ENTERED, (n) => n >= this.vcpus, 'start', START_MS);
    } catch (e) {
      this.set(C.VMC_RUN, C.VMC_STOPPED);
      this.wake();
      await this.endThreads();
      throw e;
    }
    this.state = 'running';
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
    return this.vcpuThreads.length > 0 ? 'running' : 'exited';
  }

  /**
   * Lets go of every vCPU thread once its program saw the stop: a thread whose program returned
   * goes back to the agent's pool; if not every vCPU left its program within SETTLE_MS (a thread
   * died, a guest step never returned), those that did not return are terminated.
   */
  async endThreads(): Promise<void> {
    const n = this.vcpuThreads.length;
    try {
      // Every vCPU bumps the exited word as it leaves its program; its reply then surely follows.
      if (n > 0) await this.until(C.VMC_EXITED, (v) => v >= n, 'leave their programs');
      await Promise.allSettled(this.programs);
    } catch {
      // Stuck or dead vCPUs: terminated below.
    }
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
