import type { ShutdownOptions, Vm } from '../vms/vm.js';
import { Instance } from './instance.js';

/**
 * A VM or bare-metal instance: the lifecycle of its {@link Vm} (held by `host.vms`), told as
 * instance events. Bare metal differs only in what it holds: every guest CPU, one vCPU each.
 */
export class VmInstance extends Instance {
  /** @internal built by the instance manager */
  constructor(
    kind: 'vm' | 'bare-metal',
    /** The VM behind the instance (`host.vms` lists it too). */
    readonly vm: Vm,
  ) {
    super(kind, vm.name);
    vm.on('state', (e) => this.transition(e.state, e.previous, e.reason));
  }

  /** vCPUs: what the spec asked for; for bare metal, the host's guest CPU count. */
  get vcpus(): number {
    return this.vm.vcpus;
  }

  /** RAM, bytes. */
  get memoryBytes(): number {
    return this.vm.memoryBytes;
  }

  start(): Promise<void> {
    return this.vm.start();
  }

  pause(): Promise<void> {
    return this.vm.pause();
  }

  resume(): Promise<void> {
    return this.vm.resume();
  }

  stop(): Promise<void> {
    return this.vm.stop();
  }

  shutdown(options?: ShutdownOptions): Promise<void> {
    return this.vm.shutdown(options);
  }

  destroy(): Promise<void> {
    return this.vm.destroy();
  }
}
