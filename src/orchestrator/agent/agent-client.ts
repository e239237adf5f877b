import { EventEmitter } from 'node:events';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import type { VsockEndpoint } from '../../common/vsock/vsock-endpoint.js';
import type { Frame } from '../../hypervisor/agent/protocol/frame.js';
import {
  AGENT_MAX_BODY,
  AGENT_PORT,
  AGENT_PROTOCOL_VERSION,
  EVENTS,
  MESSAGES,
  eventName,
  type AgentStats,
  type EventBody,
  type MessageName,
  type Request,
  type Response,
  type VmInfo,
} from '../../hypervisor/agent/protocol/messages.js';
import { RpcClient } from '../../hypervisor/agent/protocol/rpc-client.js';

export interface AgentClientOptions {
  /** The host memory the agent may give to guests: granted in the hello. */
  memory: { base: number; bytes: number };
  /** The agent's vsock port. Default AGENT_PORT (1024). */
  port?: number;
  /** Per-request timeout, ms (1–600000). Default 10000. */
  timeoutMs?: number;
  /** This client's name, for the agent's logs. Default 'control-plane'. */
  client?: string;
  /** vCPU threads the agent keeps idle between VMs for reuse, 0–1024. Default 0 (the agent's). */
  keepVcpus?: number;
  /** Guest CPU threads the agent starts (vCPUs placed 'shared' or 'exclusive' are bound to them), 1–256. Default 2. */
  guestCpus?: number;
}

const optionsSchema = z.strictObject({
  memory: z.strictObject({ base: intIn(0, 0xffffffff), bytes: intIn(1, 2 ** 32) }),
  port: intIn(0, 0xfffffffe).optional(),
  timeoutMs: intIn(1, 600_000).optional(),
  client: nameString(64).optional(),
  keepVcpus: intIn(0, 1024).optional(),
  guestCpus: intIn(1, 256).optional(),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Events of an AgentClient. */
export interface AgentClientEvents {
  /** A VM changed state on the host (every transition, whatever caused it). */
  'vm.state': [EventBody<'vm.state'>];
  /** The connection to the agent ended (null: closed cleanly). */
  close: [Error | null];
}

/**
 * The control plane's handle on the host agent: every call is one request over the agent's
 * vsock stream (no other channel exists), answered by one response; a call resolves with the
 * checked result or rejects with a QingtianError whose code follows the agent's status
 * (bad-request → QT_INVALID_ARGUMENT, not-found → QT_NOT_FOUND, bad-state → QT_INVALID_STATE,
 * no-resources → QT_OUT_OF_MEMORY, timeout → QT_TIMEOUT, protocol faults → QT_AGENT_PROTOCOL).
 * Arguments are checked before anything is sent. Events: 'vm.state', 'close'.
 *
 * ```ts
 * const agent = await AgentClient.connect(device.host, { memory: { base, bytes } });
 * const vm = await agent.createVm({ name: 'web-1', vcpus: 2, memoryMiB: 16 });
 * await agent.startVm(vm.id);
 * ```
 */
export class AgentClient extends EventEmitter<AgentClientEvents> {
  private constructor(
    private readonly rpc: RpcClient,
    /** The protocol version both ends speak. */
    readonly version: number,
    /** The memory the agent accepted as its pool. */
    readonly memory: { base: number; bytes: number },
  ) {
    super();
    rpc.on('event', (f: Frame) => this.onEvent(f));
    rpc.on('close', (e: Error | null) => this.emit('close', e));
  }

  /** Connects to the agent through `endpoint` (the host side of its vsock device) and says hello. */
  static async connect(endpoint: VsockEndpoint, options: AgentClientOptions): Promise<AgentClient> {
    const o = parseArgs(optionsSchema, options, 'AgentClient options');
    const socket = await endpoint.connect(o.port ?? AGENT_PORT);
    const rpc = new RpcClient(socket, {
      maxBody: AGENT_MAX_BODY,
      timeoutMs: o.timeoutMs ?? 10_000,
      name: 'host agent',
    });
    try {
      const hello = await call(rpc, 'hello', {
        versions: [AGENT_PROTOCOL_VERSION],
        client: o.client ?? 'control-plane',
        memory: o.memory,
        ...(o.keepVcpus === undefined ? {} : { keepVcpus: o.keepVcpus }),
        ...(o.guestCpus === undefined ? {} : { guestCpus: o.guestCpus }),
      });
      return new AgentClient(rpc, hello.version, hello.memory);
    } catch (e) {
      rpc.close();
      throw e;
    }
  }

  /** Any request of the message set, by name (the typed methods below are shorthands). */
  request<K extends MessageName>(name: K, args: Request<K>, opts: { timeoutMs?: number } = {}): Promise<Response<K>> {
    return call(this.rpc, name, args, opts.timeoutMs);
  }

  ping(): Promise<void> {
    return this.request('ping', {}).then(() => undefined);
  }

  /** The agent's own figures: uptime, its thread's CPU time, requests, VMs, pool use. */
  stats(): Promise<AgentStats> {
    return this.request('agent.stats', {});
  }

  createVm(spec: Request<'vm.create'>): Promise<VmInfo> {
    return this.request('vm.create', spec);
  }

  startVm(vm: number): Promise<VmInfo> {
    return this.request('vm.start', { vm });
  }

  pauseVm(vm: number): Promise<VmInfo> {
    return this.request('vm.pause', { vm });
  }

  resumeVm(vm: number): Promise<VmInfo> {
    return this.request('vm.resume', { vm });
  }

  /** Power off (vCPUs stopped at once; RAM kept). */
  stopVm(vm: number): Promise<VmInfo> {
    return this.request('vm.stop', { vm });
  }

  /** Graceful shutdown: resolves once the guest acknowledged by halting (QT_TIMEOUT otherwise). */
  shutdownVm(vm: number, timeoutMs?: number): Promise<VmInfo> {
    const args = timeoutMs === undefined ? { vm } : { vm, timeoutMs };
    return this.request('vm.shutdown', args, { timeoutMs: (timeoutMs ?? 10_000) + 5_000 });
  }

  /** Stops the VM if needed, frees and scrubs its RAM, forgets it. */
  destroyVm(vm: number): Promise<void> {
    return this.request('vm.destroy', { vm }).then(() => undefined);
  }

  /** Starts vCPU threads ahead of the VMs (up to keepVcpus idle); resolves with how many wait idle. */
  warmVcpus(count: number): Promise<number> {
    return this.request('vcpu.warm', { count }, { timeoutMs: 120_000 }).then((r) => r.idle);
  }

  listVms(): Promise<VmInfo[]> {
    return this.request('vm.list', {}).then((r) => r.vms);
  }

  vmStats(vm: number): Promise<Response<'vm.stats'>> {
    return this.request('vm.stats', { vm });
  }

  hotplug(vm: number, device: Request<'device.hotplug'>['device']): Promise<VmInfo> {
    return this.request('device.hotplug', { vm, device });
  }

  unplug(vm: number, device: string): Promise<VmInfo> {
    return this.request('device.unplug', { vm, device });
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.rpc.inFlight;
  }

  close(): void {
    this.rpc.close();
  }

  private onEvent(f: Frame): void {
    const name = eventName(f.type);
    if (!name) return; // an event type from a newer agent: ignored
    const parsed = EVENTS[name].body.safeParse(JSON.parse(decoder.decode(f.body)));
    if (parsed.success) this.emit(name, parsed.data);
  }
}

async function call<K extends MessageName>(
  rpc: RpcClient,
  name: K,
  args: Request<K>,
  timeoutMs?: number,
): Promise<Response<K>> {
  const m = MESSAGES[name];
  const checked = parseArgs(m.request, args, name);
  const f = await rpc.call(m.type, encoder.encode(JSON.stringify(checked)), name, timeoutMs);
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(f.body));
  } catch {
    throw new QingtianError(ErrorCode.AgentProtocol, `host agent ${name}: the response is not JSON`);
  }
  const r = m.response.safeParse(json);
  if (!r.success)
    throw new QingtianError(
      ErrorCode.AgentProtocol,
      `host agent ${name}: malformed response (${r.error.issues[0]?.message ?? '?'})`,
    );
  return r.data as Response<K>;
}
