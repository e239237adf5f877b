import { z } from 'zod';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { DpuCore } from '../core/dpu-core.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import type { CtTimeouts } from './conntrack.js';
import { DROP_REASONS } from './flow-actions.js';
import type { NetDevice, NetDeviceStats } from './net-device.js';
import { NetworkDatapath } from './network-datapath.js';
import * as I from './network-info.js';
import { MAX_CHANGE_BYTES, type SlowPathOnCore } from './slow-path-on-core.js';
import type { SlowPathStats } from './slow-path-types.js';
import type { RunnerStats } from './slow-path-runner.js';
import type { SwitchStats } from './switch-stats.js';
import type { TunnelSocketStats } from './tunnel-socket.js';
import type * as S from './vpc-schemas.js';
import { resourceName } from './vpc-schemas.js';
import { VpcModel } from './vpc-model.js';
import type { ModelOp, ModelOpName } from './vpc-model-ops.js';
import type { PortStats as SwitchPortStats } from './vswitch.js';

/** Options of `host.network` ({@link HostOptions}.network); every field has a default. */
export interface NetworkOptions {
  /** Switch ports (VM ports, sub-ports and tunnels share them; ids 1..maxPorts-1), 2-4096. Default 256. */
  maxPorts?: number | undefined;
  /** Flows the fast path caches, 8-16M. Default 65536. */
  flowCapacity?: number | undefined;
  /** A flow unused this long (ms) ages out of the fast path. Default 10000. */
  flowIdleMs?: number | undefined;
  /** Upcalls each port may have waiting for the slow path (a power of two). Default 256: a burst of
   * new-flow packets longer than this, sent before the slow path answers, loses the excess (counted). */
  upcallRecords?: number | undefined;
  /** Connection-tracking idle timeouts in seconds (defaults: conntrack.ts, Linux-like). */
  ctTimeouts?: Partial<CtTimeouts> | undefined;
  /** Seed of generated MAC addresses. */
  seed?: number | undefined;
  /** DPU core index that runs the switch. Default 0. */
  core?: number | undefined;
  /**
   * Host memory the slow path on the switch's core holds for its kernels and its replica of the
   * model's tables, 8-4096 MiB. Default 32: the route table takes about 5 MiB and each VPC whose
   * ports have security groups about 1.1 MiB more. A slow path that runs out of it stops
   * (`stats().slowPathError` says so) and no new flow is set up.
   */
  slowPathMiB?: number | undefined;
}

/** Checks network options (Host.boot does at boot, so that a mistake shows there). */
export function parseNetworkOptions(options: unknown): NetworkOptions | undefined {
  return parseArgs(optionsSchema, options, 'network options');
}

const optionsSchema = z
  .strictObject({
    maxPorts: intIn(2, 4096).optional(),
    flowCapacity: intIn(8, 1 << 24).optional(),
    flowIdleMs: intIn(0, 0x7fffffff).optional(),
    upcallRecords: intIn(1, 4096).optional(),
    ctTimeouts: z.record(z.string(), intIn(1, 864000)).optional(),
    seed: intIn(0, 0xffffffff).optional(),
    core: intIn(0, 63).optional(),
    slowPathMiB: intIn(8, 4096).optional(),
  })
  .optional();

/** What the network manager needs from its host (the `Host` provides it): memory and kernels, the cores. */
export interface NetworkHost {
  runtime: KernelRuntime;
  cores: readonly DpuCore[];
  /** Loads the `net` kernel family on every core (once). */
  loadNetKernel(): Promise<void>;
}

/** How a port's virtio-net device is made: {@link HostNetwork.attachPort}. */
export interface AttachOptions {
  /** Queue pairs the device offers (MQ above 1), 1-16. Default 1. */
  queuePairs?: number | undefined;
  /** MTU in the device's config space, 68-65535. Default 1500. */
  mtu?: number | undefined;
}

const attachSchema = z
  .strictObject({ queuePairs: intIn(1, 16).optional(), mtu: intIn(68, 65535).optional() })
  .optional();

/** A port attached to a guest: its virtio-net device and where the guest's driver kicks it. */
export interface AttachedPort {
  /** The virtio-net device (its backend: features, config space, queues). */
  device: NetDevice;
  /** Host addresses of the serving core's doorbell word and of its sleeping flag. */
  notify: { doorbell: number; sleeping: number };
}

/** A flow in the fast path, as {@link HostNetwork.flows} lists it. */
export interface FlowView {
  /** The port it enters by (a port or tunnel name). */
  inPort: string;
  /** The port the slow path sent it to ('' for a drop that went nowhere). */
  outPort: string;
  /** Packets that matched it. */
  packets: number;
  /** Bytes that matched it. */
  bytes: number;
  /** Milliseconds since the flow last matched a packet. */
  idleMs: number;
  /** The action list as the fast path runs it (hex). */
  actions: string;
}

/** Counters of every part of the network, read out of band: {@link HostNetwork.stats}. */
export interface NetworkStats {
  /** The vSwitch fast path's counters. */
  switch: SwitchStats;
  /** The slow path's decisions. */
  slowPath: SlowPathStats;
  /** The loop between the switch's rings and the slow path. */
  runner: RunnerStats;
  /**
   * Why the switch's core stopped running the slow path (its model replica refused a change, or
   * it threw), null while it runs. Without it no new flow is set up: first packets are dropped
   * as their ports' upcall rings fill.
   */
  slowPathError: string | null;
  /** Per switch port, by name. */
  ports: Record<string, SwitchPortStats>;
  /** Per tunnel socket, by name. */
  tunnels: Record<string, TunnelSocketStats>;
  /** Per mirrored port: the file, frames written, copies dropped for want of ring space. */
  mirrors: Record<string, { path: string; written: number; dropped: number }>;
  /** DROP actions in the fast path, by the slow path's reason. */
  fastPathDrops: Record<string, number>;
}

/**
 * `host.network`: VPCs, subnets, ports, routes and security groups, the vSwitch that forwards
 * between guests on a DPU core, VXLAN tunnels to other hosts and pcap mirrors. Configuration is
 * synchronous and validated (QT_INVALID_ARGUMENT names the field); whatever touches the data
 * plane is async and starts it on first use.
 *
 * ```ts
 * const net = host.network;
 * net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
 * net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
 * net.createSecurityGroup({ name: 'ping', rules: [{ direction: 'ingress', protocol: 'icmp' }] });
 * net.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10', securityGroups: ['ping'] });
 * const nic = await net.attachPort('a', guest);   // a virtio-net device in the guest
 * ```
 */
export class HostNetwork {
  private readonly model: VpcModel;
  private readonly clock = (): number => performance.now();
  private readonly o: NonNullable<z.output<typeof optionsSchema>>;
  private dp: Promise<NetworkDatapath> | null = null;
  private live: NetworkDatapath | null = null;
  /**
   * The model's changes until the datapath is up with a slow path on the switch's core holding a
   * replica of the model (slow-path-on-core.ts); each change also goes to `core` once it exists.
   */
  private history: ModelOp[] | null = [];
  private core: SlowPathOnCore | null = null;
  private readonly life = new Lifetime('network', 'close()');

  constructor(
    private readonly host: NetworkHost,
    options?: NetworkOptions,
  ) {
    this.o = parseArgs(optionsSchema, options, 'network options') ?? {};
    this.model = new VpcModel({ runtime: host.runtime, ...this.modelOptions() });
  }

  private modelOptions(): { seed: number | undefined; maxPortId: number } {
    return { seed: this.o.seed, maxPortId: (this.o.maxPorts ?? 256) - 1 };
  }

  /**
   * Makes a change of the model here (validated: what it refuses throws and goes nowhere), then
   * sends it to the replica on the switch's core, or keeps it for the replica to start from.
   */
  private change<K extends ModelOpName>(op: K, ...args: Parameters<VpcModel[K]>): ReturnType<VpcModel[K]> {
    const text = JSON.stringify(args);
    const bytes = Buffer.byteLength(text);
    // Refused before the model takes it: a change the replica never got would part the two.
    if (bytes > MAX_CHANGE_BYTES)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${op}: ${bytes} bytes as JSON, at most ${MAX_CHANGE_BYTES} in one change`,
      );
    const apply = (): ReturnType<VpcModel[K]> =>
      (this.m[op] as (...a: Parameters<VpcModel[K]>) => ReturnType<VpcModel[K]>)(...args);
    const rec = { op, args: JSON.parse(text) as unknown } as ModelOp;
    // With the replica running, the model takes the change only once the log has room for it.
    const r = this.core ? (this.core.change({ model: rec }, apply) as ReturnType<VpcModel[K]>) : apply();
    this.history?.push(rec);
    return r;
  }

  /** Creates a VPC: an address space with its own router, VNI and route table. */
  createVpc(options: S.VpcOptions): I.VpcInfo {
    return I.vpcInfo(this.change('createVpc', options));
  }
  /** Deletes a VPC that has no subnets left (its routes go with it). */
  deleteVpc(name: string): void {
    this.change('deleteVpc', name);
  }

  /** Creates a subnet of a VPC; its gateway (default: the first host address) answers ARP with the router's MAC. */
  createSubnet(options: S.SubnetOptions): I.SubnetInfo {
    return I.subnetInfo(this.change('createSubnet', options));
  }
  /** Deletes a subnet that has no ports and no route to one of its ports. */
  deleteSubnet(name: string): void {
    this.change('deleteSubnet', name);
  }

  /** Creates a security group: allow rules, stateful (replies of an allowed connection pass). */
  createSecurityGroup(options: S.SecurityGroupOptions): I.SecurityGroupInfo {
    return I.groupInfo(this.change('createSecurityGroup', options));
  }
  /** Adds a rule; returns its id. Takes effect on the flows already in the fast path. */
  addSecurityGroupRule(group: string, rule: S.SecurityGroupRule): number {
    return this.change('addRule', group, rule);
  }
  /** Removes a rule; the flows and connections it allowed are cut. */
  removeSecurityGroupRule(group: string, ruleId: number): void {
    this.change('removeRule', group, ruleId);
  }
  /** Deletes a security group no port uses. */
  deleteSecurityGroup(name: string): void {
    this.change('deleteSecurityGroup', name);
  }

  /** Creates a VM port (attach it to a guest with attachPort). It sends only from its own MAC and address. */
  createPort(options: S.PortOptions): I.PortInfo {
    return I.portInfo(this.change('createPort', options));
  }

  /**
   * Creates a trunk sub-port: frames tagged `vlan` on the parent VM port's NIC are this port's,
   * with its own address, MAC and security groups. The guest adds the sub-port's MAC to its NIC's
   * receive filter (VIRTIO_NET_CTRL_MAC) or runs it promiscuous, as for any extra MAC.
   */
  createSubPort(options: S.SubPortOptions): I.PortInfo {
    const p = this.change('createSubPort', options);
    if (this.live?.devices.has(p.parent!.id)) this.live.addSub(p);
    return I.portInfo(p);
  }

  /** Creates a remote port: an address that lives behind a remote host's VXLAN tunnel endpoint. */
  createRemotePort(options: S.RemotePortOptions): I.PortInfo {
    return I.portInfo(this.change('createRemotePort', options));
  }

  /** Replaces a port's security groups. */
  setPortSecurityGroups(port: string, groups: readonly string[]): void {
    this.change('setPortGroups', port, groups);
  }

  /**
   * Deletes a port, detaching it first when attached. From the call on the slow path no longer
   * knows it and its flows are flushed; the promise resolves once the switch has let it go.
   */
  async deletePort(name: string): Promise<void> {
    const p = this.m.port(name);
    this.change('deletePort', name);
    await this.live?.removePort(p.id);
  }

  /**
   * Attaches VM port `port` to `guest`: a virtio-net device (MAC = the port's) whose queues the
   * vSwitch serves on a DPU core. The guest's setup code drives the device as a VMM would on
   * virtio-pci register writes (features, queues); its driver kicks `notify.doorbell` (waking the
   * core when `notify.sleeping` is set).
   */
  async attachPort(port: string, guest: GuestMemoryView, options?: AttachOptions): Promise<AttachedPort> {
    const p = this.m.port(port);
    if (p.kind !== 'vm')
      throw new QingtianError(ErrorCode.InvalidArgument, `port: expected a VM port, got ${p.kind} port '${port}'`);
    const o = parseArgs(attachSchema, options, 'attach options') ?? {};
    const dp = await this.datapath();
    return { device: dp.attach(p, guest, o), notify: dp.sw.notifyWords() };
  }

  /**
   * Detaches a VM port (and its sub-ports) from its guest; the device is freed. Resolves once no
   * burst of the switch uses it, with the device's last counters (null: it was not attached).
   */
  async detachPort(port: string): Promise<NetDeviceStats | null> {
    const p = this.m.port(port);
    if (!this.live) return null;
    for (const s of p.subPorts.values()) await this.live.removePort(s.id);
    return this.live.removePort(p.id);
  }

  /**
   * Creates a VXLAN tunnel: a UDP socket (RFC 7348; port 4789 unless given, 0 for any free port)
   * on an I/O worker, and the tunnel port on the switch. Resolves with the bound port.
   */
  async createTunnel(options: S.TunnelOptions): Promise<I.TunnelInfo> {
    const t = this.change('createTunnel', options);
    try {
      const dp = await this.datapath();
      t.port = await dp.addTunnel(t, I.tunnelInfo(t).address, t.port);
    } catch (e) {
      this.change('deleteTunnel', t.name);
      throw e;
    }
    return I.tunnelInfo(t);
  }
  /** Deletes a tunnel no remote host uses; its socket is closed when the promise resolves. */
  async deleteTunnel(name: string): Promise<void> {
    const t = this.m.tunnel(name);
    this.change('deleteTunnel', name);
    await this.live?.removeTunnel(t.id);
  }

  /** Creates a remote host: a VXLAN tunnel endpoint reached through one of this host's tunnels. */
  createRemoteHost(options: S.RemoteHostOptions): I.RemoteHostInfo {
    return I.hostInfo(this.change('createRemoteHost', options));
  }
  /** Deletes a remote host no remote port or route uses. */
  deleteRemoteHost(name: string): void {
    this.change('deleteRemoteHost', name);
  }

  /** Adds a route: longest prefix match within the VPC, to a port, a remote host's router, or a blackhole. */
  addRoute(options: S.RouteOptions): I.RouteInfo {
    return I.routeInfo(this.change('addRoute', options));
  }
  /** Removes the route for exactly `prefix` (a subnet's own route cannot be removed). */
  removeRoute(vpc: string, prefix: string): void {
    this.change('removeRoute', vpc, prefix);
  }

  /** Mirrors every frame entering or leaving a port (VM port, sub-port or tunnel) into a classic pcap file. */
  async mirrorPort(port: string, path: string, options?: { snaplen?: number }): Promise<void> {
    const id = this.switchPortId(port);
    const snaplen = parseArgs(intIn(64, 65535).optional(), options?.snaplen, 'mirror.snaplen');
    const dp = await this.datapath();
    await dp.mirror(id, port, path, snaplen);
  }
  /** Stops a mirror; the file is complete when this resolves. */
  async unmirrorPort(port: string): Promise<void> {
    await this.live?.unmirror(this.switchPortId(port));
  }

  /** Every resource, as data. */
  list(): {
    vpcs: I.VpcInfo[];
    subnets: I.SubnetInfo[];
    ports: I.PortInfo[];
    securityGroups: I.SecurityGroupInfo[];
    routes: I.RouteInfo[];
    tunnels: I.TunnelInfo[];
    remoteHosts: I.RemoteHostInfo[];
  } {
    const m = this.m;
    return {
      vpcs: m.allVpcs().map(I.vpcInfo),
      subnets: m.allSubnets().map(I.subnetInfo),
      ports: m.allPorts().map((p) => I.portInfo(p, this.live?.devices.get(p.id)?.guest)),
      securityGroups: m.allGroups().map(I.groupInfo),
      routes: m.routes.list().map(I.routeInfo),
      tunnels: m.allTunnels().map(I.tunnelInfo),
      remoteHosts: m.allHosts().map(I.hostInfo),
    };
  }

  /** The flows the fast path holds now (read out of band), with the ports they join. */
  flows(limit = 1000): FlowView[] {
    if (!this.live) return [];
    const now = Math.floor(this.clock()) >>> 0;
    const name = (id: number): string =>
      id === 0 ? '' : (this.m.portById(id)?.name ?? this.m.tunnelById(id)?.name ?? `#${id}`);
    return this.live.sw.flows(limit).map((f) => ({
      inPort: name(f.inPort),
      outPort: name(f.cookie & 0xffff),
      packets: f.packets,
      bytes: f.bytes,
      idleMs: (now - f.lastHit) >>> 0,
      actions: Buffer.from(f.actions).toString('hex'),
    }));
  }

  /** One switch port's counters (a VM port, sub-port or tunnel on the switch), or null when it is not on it. */
  portStats(port: string): SwitchPortStats | null {
    const id = this.switchPortId(port);
    const dp = this.live;
    return dp && dp.sw.ports.kind(id) !== null ? dp.sw.portStats(id) : null;
  }

  /** The vSwitch's burst durations (VSwitch.burstLatency), or null before the switch exists. */
  switchBurstLatency(): LatencyHistogramData | null {
    return this.live?.sw.burstLatency() ?? null;
  }

  /**
   * Per switch port (by name, as in stats().ports): per frame the port sent into the switch, the
   * duration of the burst that took it in (VSwitch.portBurstLatency). Empty before the switch exists.
   */
  portBurstLatency(): Record<string, LatencyHistogramData> {
    const dp = this.live;
    const out: Record<string, LatencyHistogramData> = {};
    if (!dp) return out;
    for (const p of this.m.allPorts())
      if (p.kind !== 'remote' && dp.sw.ports.kind(p.id) !== null) out[p.name] = dp.sw.portBurstLatency(p.id);
    for (const t of this.m.allTunnels()) if (dp.tunnels.get(t.id)) out[t.name] = dp.sw.portBurstLatency(t.id);
    return out;
  }

  /**
   * Per switch port (by name): per frame re-injected on it after an upcall, the time from the
   * burst that sent it up to the burst that re-injected it (VSwitch.portSlowPathLatency).
   */
  portSlowPathLatency(): Record<string, LatencyHistogramData> {
    const dp = this.live;
    const out: Record<string, LatencyHistogramData> = {};
    if (!dp) return out;
    for (const p of this.m.allPorts())
      if (p.kind !== 'remote' && dp.sw.ports.kind(p.id) !== null) out[p.name] = dp.sw.portSlowPathLatency(p.id);
    for (const t of this.m.allTunnels()) if (dp.tunnels.get(t.id)) out[t.name] = dp.sw.portSlowPathLatency(t.id);
    return out;
  }

  /** Counters of the switch, the slow path, every switch port, tunnel and mirror. */
  stats(): NetworkStats | null {
    const dp = this.live;
    if (!dp) return null;
    const ports: Record<string, SwitchPortStats> = {};
    for (const p of this.m.allPorts())
      if (p.kind !== 'remote' && dp.sw.ports.kind(p.id) !== null) ports[p.name] = dp.sw.portStats(p.id);
    const tunnels: Record<string, TunnelSocketStats> = {};
    for (const t of this.m.allTunnels()) {
      const s = dp.tunnels.get(t.id);
      if (s) {
        ports[t.name] = dp.sw.portStats(t.id);
        tunnels[t.name] = s.socket.stats();
      }
    }
    const mirrors: NetworkStats['mirrors'] = {};
    for (const [id, m] of dp.mirrors)
      mirrors[this.m.portById(id)?.name ?? this.m.tunnelById(id)?.name ?? `#${id}`] = { path: m.path, ...m.stats() };
    const sw = dp.sw.stats();
    const fastPathDrops: Record<string, number> = {};
    DROP_REASONS.forEach((r, i) => {
      if (r !== 'none') fastPathDrops[r] = sw.drops[i] ?? 0;
    });
    return {
      switch: sw,
      ...dp.slow.stats(),
      slowPathError: dp.slow.running ? null : (dp.slow.failure ?? 'not running'),
      ports,
      tunnels,
      mirrors,
      fastPathDrops,
    };
  }

  /** Stops the switch, the workers and the mirrors, and frees everything. */
  async close(): Promise<void> {
    if (!this.life.end()) return;
    const dp = await this.dp?.catch(() => null);
    await dp?.close();
    this.model.dispose();
  }

  private get m(): VpcModel {
    this.life.check('model');
    return this.model;
  }

  private switchPortId(name: string): number {
    parseArgs(resourceName, name, 'port');
    const t = this.m.allTunnels().find((x) => x.name === name);
    if (t) return t.id;
    const p = this.m.port(name);
    if (p.kind === 'remote')
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `port: expected a VM port, sub-port or tunnel, got remote port '${name}'`,
      );
    return p.id;
  }

  private datapath(): Promise<NetworkDatapath> {
    this.dp ??= (async () => {
      const core = this.host.cores[this.o.core ?? 0];
      if (!core)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `network options.core: expected a core index below ${this.host.cores.length}, got ${this.o.core ?? 0}`,
        );
      await this.host.loadNetKernel();
      const dp = await NetworkDatapath.start(
        {
          runtime: this.host.runtime,
          core,
          maxPorts: this.o.maxPorts ?? 256,
          flowCapacity: this.o.flowCapacity ?? 65536,
          maxIdleMs: this.o.flowIdleMs ?? 10_000,
          upcallRecords: this.o.upcallRecords ?? 256,
          epochNs: BigInt(Math.round((Date.now() - this.clock()) * 1e6)),
          slowPath: {
            model: this.modelOptions(),
            ops: this.history ?? [],
            ctTimeouts: this.o.ctTimeouts,
            arenaBytes: (this.o.slowPathMiB ?? 32) << 20,
          },
        },
        // Taken in the same synchronous step as the history: no change falls between the two.
        (slow) => {
          this.core = slow;
        },
      );
      this.live = dp;
      this.history = null;
      return dp;
    })();
    const p = this.dp;
    p.catch(() => {
      if (this.dp !== p) return;
      // It failed to start: the next start builds a replica from the whole history again.
      this.dp = null;
      this.core = null;
    });
    return p;
  }
}
