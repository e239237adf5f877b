import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import { distFile } from '../../common/package-paths.js';
import { DEFAULT_VCPU_NICE } from '../guest/vcpu.js';
import type { GuestCpuBoot, GuestCpuReply, GuestCpuRequest } from './guest-cpu-worker.js';

/** Bytes of host memory each guest CPU's doorbell takes (its own cache line). */
export const GUEST_CPU_DOORBELL_BYTES = 64;

/** How a bound vCPU's program ended. */
export type BoundExit = 'halted' | 'stopped' | 'unbound' | 'failed';

/** One guest CPU thread as the agent holds it. */
export class GuestCpu {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly db: Int32Array;
  private readonly waiting = new Map<number, (exit: BoundExit) => void>();
  /** vCPUs bound to this CPU now. */
  load = 0;
  /** VMs whose vCPU 0 is kept on this CPU (its devices ring its doorbell), started or not. */
  pinned = 0;
  /** Held by one instance alone (a bare-metal instance): nothing else is bound to it. */
  exclusive = false;
  private ended = false;

  constructor(
    readonly index: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    /** Host address of its doorbell word (and of the stop flag after it). */
    readonly doorbell: number,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.db = new Int32Array(memory.buffer, doorbell, 2);
    Atomics.store(this.db, 1, 0);
    const boot: GuestCpuBoot = { module, memory, doorbell, port: port2, nice: DEFAULT_VCPU_NICE };
    this.worker = new Worker(distFile('src/hypervisor/agent/guest-cpu-worker.js'), {
      workerData: boot,
      transferList: [port2],
      name: `guest-cpu${index}`,
    });
    this.port.on('message', (m: GuestCpuReply) => {
      const done = this.waiting.get(m.slot);
      if (!done) return;
      this.waiting.delete(m.slot);
      this.load--;
      done(m.exit);
    });
    this.worker.on('exit', () => {
      this.ended = true;
      for (const done of this.waiting.values()) done('failed');
      this.waiting.clear();
      this.load = 0;
    });
  }

  /** Resolves once the thread runs (its guest kernel instantiated). */
  online(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.worker.once('online', resolve);
      this.worker.once('error', reject);
    });
  }

  /** Binds vCPU `slot` running `fn(...args)` under control block `ctl`; resolves when its program ends. */
  bind(slot: number, fn: string, args: (number | bigint)[], ctl: number, pollMs: number): Promise<BoundExit> {
    if (this.ended) return Promise.resolve('failed');
    this.load++;
    const p = new Promise<BoundExit>((resolve) => this.waiting.set(slot, resolve));
    this.send({ op: 'bind', slot, fn, args, ctl, pollMs });
    return p;
  }

  /** Drops vCPU `slot` whatever its program is doing (it did not leave when told to). */
  unbind(slot: number): void {
    if (this.waiting.has(slot)) this.send({ op: 'unbind', slot });
  }

  /** Makes the thread look at its vCPUs' control blocks now. */
  ring(): void {
    Atomics.add(this.db, 0, 1);
    Atomics.notify(this.db, 0);
  }

  private send(m: GuestCpuRequest): void {
    this.port.postMessage(m);
    this.ring();
  }

  async close(): Promise<void> {
    if (this.ended) return;
    Atomics.store(this.db, 1, 1);
    this.ring();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    const late = setTimeout(() => void this.worker.terminate(), 2_000);
    await exited;
    clearTimeout(late);
    this.port.close();
  }
}

/**
 * The host agent's guest CPUs: threads started once with the agent (the guest kernel compiled
 * once and shared), on which VMs' vCPUs are bound instead of each vCPU starting a thread of its
 * own. A vCPU goes to the least loaded CPU not held exclusively; a bare-metal instance takes
 * every CPU exclusively.
 */
export class GuestCpuPool {
  readonly cpus: GuestCpu[];
  private nextSlot = 1;

  /** `doorbells`: host address of `count` x GUEST_CPU_DOORBELL_BYTES of the agent's own memory. */
  constructor(count: number, module: WebAssembly.Module, memory: WebAssembly.Memory, doorbells: number) {
    this.cpus = Array.from(
      { length: count },
      (_, i) => new GuestCpu(i, module, memory, doorbells + i * GUEST_CPU_DOORBELL_BYTES),
    );
  }

  /** Resolves once every CPU thread runs. */
  async online(): Promise<void> {
    await Promise.all(this.cpus.map((c) => c.online()));
  }

  /** A fresh slot id for a binding. */
  slot(): number {
    return this.nextSlot++;
  }

  /** The least loaded CPU that is not held exclusively, or null when all are (a pinned VM counts too). */
  pick(): GuestCpu | null {
    let best: GuestCpu | null = null;
    for (const c of this.cpus) if (!c.exclusive && (!best || c.load + c.pinned < best.load + best.pinned)) best = c;
    return best;
  }

  /** vCPUs bound, all CPUs together. */
  get bound(): number {
    return this.cpus.reduce((n, c) => n + c.load, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.cpus.map((c) => c.close()));
  }
}
