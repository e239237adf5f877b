import { GuestVcpu } from '../guest/vcpu.js';

/**
 * The host agent's vCPU threads between VMs. Starting a thread (a Node worker with the guest
 * kernel) costs tens of milliseconds; a thread whose program ended cleanly is kept for the next
 * VM while fewer than `keep` wait, and `warm(n)` starts threads ahead of the VMs that will take
 * them. With `keep` 0 (the default) every thread ends with its VM and nothing is held idle.
 */
export class VcpuPool {
  private idle: GuestVcpu[] = [];
  /** Idle threads kept at most. */
  keep = 0;

  constructor(private readonly memory: { readonly memory: WebAssembly.Memory; readonly sizeBytes: number }) {}

  /** An idle thread if one waits, else a new one (named `name`). */
  take(name: string): GuestVcpu {
    return this.idle.pop() ?? new GuestVcpu(this.memory, name);
  }

  /** A thread whose program returned: kept while fewer than `keep` wait, else ended. */
  async give(vcpu: GuestVcpu): Promise<void> {
    if (this.idle.length < this.keep) this.idle.push(vcpu);
    else await vcpu.stop();
  }

  /** Starts threads until `count` wait idle (at most `keep`); resolves once each has run guest code. */
  async warm(count: number): Promise<number> {
    const want = Math.min(count, this.keep) - this.idle.length;
    const fresh = Array.from({ length: Math.max(0, want) }, (_, i) => new GuestVcpu(this.memory, `idle-vcpu${i}`));
    // A pure guest call: the thread is up and its kernel instantiated.
    const up = await Promise.allSettled(fresh.map((t) => t.call('gdrv_bytes', 2)));
    for (const [i, r] of up.entries()) {
      if (r.status === 'fulfilled') this.idle.push(fresh[i]!);
      else await fresh[i]!.stop();
    }
    return this.idle.length;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Ends every idle thread. */
  async close(): Promise<void> {
    const all = this.idle;
    this.idle = [];
    await Promise.all(all.map((t) => t.stop()));
  }
}
