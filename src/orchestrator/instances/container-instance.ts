import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { ipv4Text } from '../../dpu/net/vpc-schemas.js';
import type { ContainerOp } from '../../hypervisor/agent/protocol/containers.js';
import type { ShutdownOptions } from '../vms/vm.js';
import type { ContainerHost } from './container-host.js';
import type { ContainerNetCounters, ContainerTrunk } from './container-trunk.js';
import { Instance, type InstanceState } from './instance.js';

/** A container's figures, asked of the host agent. */
export interface ContainerStats {
  /** Work units its task ran (a busy task runs `cpuShare` per round). */
  units: number;
  /** Rounds of its vCPU it ran in. */
  rounds: number;
  /** Its memory quota, bytes. */
  memoryBytes: number;
}

/** What a container needs from its manager. */
export interface ContainerOwner {
  readonly host: ContainerHost;
  /** The container is gone: free its network and forget it. */
  forget(c: ContainerInstance): Promise<void>;
  /** The container host's network, if it has one. */
  trunk(): ContainerTrunk | null;
  /** Puts the container's stack in the split or takes it out (it runs, or not). */
  setNetUp(c: ContainerInstance, up: boolean): void;
}

const pingSchema = z.strictObject({
  count: intIn(1, 1000).optional(),
  timeoutMs: intIn(1, 60_000).optional(),
});

/** How `ContainerInstance.ping` pings. */
export interface ContainerPingOptions {
  /** Echo requests, one at a time, 1–1000. Default 1. */
  count?: number | undefined;
  /** How long each waits for its reply, ms (1–60000). Default 1000. */
  timeoutMs?: number | undefined;
}

/**
 * A container: a task on the container host's vCPUs with its own CPU share and memory quota
 * (and, with a network, a trunk sub-port of the host's NIC and a stack in the host that answers
 * only while the container runs). Each operation is batched with the others of the same turn on
 * the way to the host agent. When the container host powers off (whoever asked), the container
 * goes `shutoff` with reason 'host-shutoff', keeping its quota and sub-port; `start` it again
 * once the host runs.
 */
export class ContainerInstance extends Instance {
  /** @internal built by the instance manager */
  constructor(
    private readonly owner: ContainerOwner,
    name: string,
    /** Its id in the container host. */
    readonly id: number,
    /** CPU share (work units per round). */
    readonly cpuShare: number,
    /** Memory quota, bytes, and where it lies in the container host's RAM (guest-physical). */
    readonly memory: { gpa: number; bytes: number },
    /** The trunk sub-port (name and VLAN) when it has a network. */
    readonly subPort: { name: string; vlan: number } | null,
  ) {
    super('container', name);
  }

  start(): Promise<void> {
    return this.op('start', ['defined', 'shutoff']);
  }

  pause(): Promise<void> {
    return this.op('pause', ['running']);
  }

  resume(): Promise<void> {
    return this.op('resume', ['paused']);
  }

  stop(): Promise<void> {
    return this.op('stop', ['running', 'paused']);
  }

  /** running → shutoff: the task ends after its current unit of work (takes no options). */
  shutdown(options?: ShutdownOptions): Promise<void> {
    if (options !== undefined)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `container ${this.name}.shutdown options: expected none (a container's task is not asked), got ${JSON.stringify(options)}`,
        { field: 'options', got: options },
      );
    return this.op('stop', ['running'], 'shutdown');
  }

  destroy(): Promise<void> {
    return this.serial(async () => {
      this.need('destroy', 'defined', 'running', 'paused', 'shutoff');
      const r = await this.owner.host.op('destroy', this.id);
      await this.owner.forget(this);
      this.transition('destroyed', r.previous ?? this.current, 'destroy');
    });
  }

  /** Work units, rounds and memory (needs a container not destroyed). */
  async stats(): Promise<ContainerStats> {
    this.need('stats', 'defined', 'running', 'paused', 'shutoff');
    const s = await this.owner.host.stats([this.id]);
    const c = s.containers[0];
    if (!c)
      throw new QingtianError(ErrorCode.NotFound, `container ${this.name}: the container host has no such container`);
    return { units: c.units, rounds: c.rounds, memoryBytes: this.memory.bytes };
  }

  /**
   * The counters of the container's network stack in the container host (frames the VLAN split
   * handed it, frames it sent, pings and UDP datagrams it answered), read out of band; null for
   * a container without a network.
   */
  netCounters(): ContainerNetCounters | null {
    this.need('netCounters', 'defined', 'running', 'paused', 'shutoff');
    return this.subPort ? (this.owner.trunk()?.counters(this.subPort.vlan) ?? null) : null;
  }

  /**
   * Pings `dst` from the container's own stack (its sub-port's address; outside its subnet
   * through the VPC router, the subnet's gateway): `count` ICMP echo requests, one at a time,
   * sent by the container host's vCPU 0 like all its traffic. Resolves with the round trips in
   * microseconds, NaN for a request that got no reply within `timeoutMs`. Needs a running
   * container with a network (QT_INVALID_STATE otherwise).
   *
   * ```ts
   * const rtts = await web.ping('198.19.2.50', { count: 3 });
   * console.log(rtts.filter(Number.isFinite).length, 'of 3 answered');
   * ```
   */
  async ping(dst: string, options: ContainerPingOptions = {}): Promise<number[]> {
    parseArgs(ipv4Text, dst, `container ${this.name}.ping dst`);
    const o = parseArgs(pingSchema, options, `container ${this.name}.ping options`);
    this.need('ping', 'running');
    const trunk = this.owner.trunk();
    if (!this.subPort || !trunk)
      throw new QingtianError(ErrorCode.InvalidState, `container ${this.name}.ping: the container has no network`);
    return trunk.ping(this.subPort.vlan, dst, o.count ?? 1, o.timeoutMs ?? 1000);
  }

  /**
   * One operation through the host agent. A container that stops or pauses leaves the split
   * first (nothing is answered for it from then on); one that runs after it joins it again.
   */
  private op(op: ContainerOp, from: InstanceState[], reason: string = op): Promise<void> {
    return this.serial(async () => {
      this.need(reason, ...from);
      if (op !== 'start' && op !== 'resume') this.owner.setNetUp(this, false);
      try {
        const r = await this.owner.host.op(op, this.id);
        this.transition(r.state, r.previous ?? this.current, reason);
      } finally {
        this.owner.setNetUp(this, this.current === 'running');
      }
    });
  }
}
