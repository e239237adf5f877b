import { EventEmitter } from 'node:events';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { ShutdownOptions, VmState } from '../vms/vm.js';
import type { InstanceKind } from './instance-spec.js';

/** An instance's lifecycle state: the same for every kind (after libvirt's, as a VM's). */
export type InstanceState = VmState;

/** One state transition of an instance (every transition emits one, whatever caused it). */
export interface InstanceStateEvent {
  /** The instance's name. */
  instance: string;
  /** Its kind. */
  kind: InstanceKind;
  /** The state now. */
  state: InstanceState;
  /** The state before; 'none' for the creation. */
  previous: InstanceState | 'none';
  /**
   * What caused it: the operation ('start', 'stop', …; for VMs the agent's 'vm.start' …),
   * 'guest-halt', 'vcpu-exit', 'host-shutoff' or 'host-destroyed' (a container whose host
   * powered off or was destroyed).
   */
  reason: string;
}

/** Events of an {@link Instance}. */
export interface InstanceEvents {
  /** The instance changed state. */
  state: [InstanceStateEvent];
}

/**
 * An instance of any kind, created by `host.instances.create`: one lifecycle for all —
 * `defined` → `running` ⇄ `paused` → `shutoff`, then `destroyed` — with the same operations and
 * events. An operation the state does not allow is refused with QT_INVALID_STATE and changes
 * nothing; operations on one instance run one after the other.
 *
 * ```ts
 * const web = await host.instances.create({ kind: 'container', name: 'web-1', cpuShare: 64, memoryMiB: 4 });
 * web.on('state', (e) => console.log(e.instance, e.previous, '->', e.state));
 * await web.start();
 * await web.destroy();
 * ```
 */
export abstract class Instance extends EventEmitter<InstanceEvents> {
  protected current: InstanceState = 'defined';
  private queue: Promise<unknown> = Promise.resolve();

  protected constructor(
    /** The instance's kind. */
    readonly kind: InstanceKind,
    /** Its name (unique among instances and VMs). */
    readonly name: string,
  ) {
    super();
  }

  /** The current state. */
  get state(): InstanceState {
    return this.current;
  }

  /** defined | shutoff → running. */
  abstract start(): Promise<void>;
  /** running → paused. */
  abstract pause(): Promise<void>;
  /** paused → running. */
  abstract resume(): Promise<void>;
  /** running | paused → shutoff at once (power off). */
  abstract stop(): Promise<void>;
  /**
   * running → shutoff the graceful way. A VM or bare-metal instance asks its guest (see
   * ShutdownOptions); a container's task ends after its current unit of work (the options are
   * refused for it: nothing to ask).
   */
  abstract shutdown(options?: ShutdownOptions): Promise<void>;
  /** Any state → destroyed: everything the instance held is freed (memory scrubbed). */
  abstract destroy(): Promise<void>;

  /** running → shutoff → running: a graceful shutdown, then a start. */
  async reboot(options?: ShutdownOptions): Promise<void> {
    await this.shutdown(options);
    await this.start();
  }

  /** @internal records and tells a transition */
  transition(state: InstanceState, previous: InstanceState | 'none', reason: string): InstanceStateEvent {
    this.current = state;
    const e: InstanceStateEvent = { instance: this.name, kind: this.kind, state, previous, reason };
    this.emit('state', e);
    return e;
  }

  protected need(what: string, ...states: InstanceState[]): void {
    if (!states.includes(this.current))
      throw new QingtianError(
        ErrorCode.InvalidState,
        `${this.kind} ${this.name}.${what}: the instance is ${this.current}; ${what} needs ${states.join(' or ')}`,
        { state: this.current },
      );
  }

  /** Runs `fn` after every earlier operation on this instance settled. */
  protected serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn, fn);
    this.queue = p.catch(() => undefined);
    return p;
  }
}
