import { ErrorCode, QingtianError } from '../../common/errors.js';
import { Prng } from '../../common/prng.js';
import { parseArgs } from '../../common/validate.js';
import { formatIPv4, mask4, parseIPv4, parsePrefix4, type Prefix4 } from '../flow/ip-address.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { formatMac, parseMac, randomLocalMac } from './mac-address.js';
import { compileSgRule } from './security-group-rules.js';
import { MAX_VPC_ID, VpcRoutes } from './vpc-routes.js';
import type { Port, RemoteHost, Route, RouteTarget, SecurityGroup, Subnet, Tunnel, Vpc } from './vpc-resources.js';
import * as S from './vpc-schemas.js';

/** What changed, so that the slow path can revalidate the flows and connections it installed. */
export type ModelChange =
  | { kind: 'port-added'; port: Port }
  | { kind: 'port-removed'; port: Port }
  | { kind: 'port-groups'; port: Port }
  | { kind: 'group-rules'; group: SecurityGroup }
  | { kind: 'routes'; vpc: Vpc };

const MAX_PORT_ID = 0xffff;

/**
 * The VPC model: VPCs, subnets, ports (VM, trunk sub-ports, remote), security groups, tunnels,
 * remote hosts and routes, with the invariants a network needs (addresses inside their subnet and
 * unique in their VPC, MACs unique, subnets disjoint, nothing removed while in use) and the indexes
 * the slow path looks up per missed packet. Control plane only: it never sees a packet.
 */
export class VpcModel {
  readonly routes: VpcRoutes;
  private readonly prng: Prng;
  private readonly vpcs = new Map<string, Vpc>();
  private readonly subnets = new Map<string, Subnet>();
  private readonly ports = new Map<string, Port>();
  private readonly portsById = new Map<number, Port>();
  private readonly groups = new Map<string, SecurityGroup>();
  private readonly tunnels = new Map<string, Tunnel>();
  private readonly hosts = new Map<string, RemoteHost>();
  private readonly vpcByVni = new Map<number, Vpc>();
  /** Per VPC: IPv4 → port, MAC → port. */
  private readonly byIp = new Map<Vpc, Map<number, Port>>();
  private readonly byMac = new Map<Vpc, Map<number, Port>>();
  /** Ids of removed ports, reused (the datapath's port table is indexed by id). */
  private readonly freePortIds: number[] = [];
  private readonly listeners: ((c: ModelChange) => void)[] = [];
  private nextId = { vpc: 1, subnet: 1, port: 1, group: 1, rule: 1, host: 1 };

  /** Largest port id: ports and tunnels are numbered 1..maxPortId (the switch's port table size - 1). */
  readonly maxPortId: number;

  constructor(options: {
    runtime?: KernelRuntime | undefined;
    seed?: number | undefined;
    maxRouteGroups?: number | undefined;
    maxPortId?: number | undefined;
  }) {
    this.maxPortId = Math.min(options.maxPortId ?? MAX_PORT_ID, MAX_PORT_ID);
    this.routes = new VpcRoutes({ runtime: options.runtime, maxGroups: options.maxRouteGroups });
    this.prng = new Prng(options.seed ?? 0x9e7c_0a1e);
  }

  onChange(listener: (c: ModelChange) => void): void {
    this.listeners.push(listener);
  }

  createVpc(options: S.VpcOptions): Vpc {
    const o = parseArgs(S.vpcSchema, options, 'vpc');
    this.unused(this.vpcs, o.name, 'vpc');
    if (this.nextId.vpc > MAX_VPC_ID) throw full('VPCs', MAX_VPC_ID);
    const vni = o.vni ?? this.freeVni();
    const clash = this.vpcByVni.get(vni);
    if (clash) throw invalid('vpc.vni', `VNI ${vni} is already VPC '${clash.name}''s`);
    const vpc: Vpc = {
      id: this.nextId.vpc++,
      name: o.name,
      cidr: parsePrefix4(o.cidr),
      vni,
      routerMac: randomLocalMac(this.prng),
      subnets: new Set(),
    };
    this.vpcs.set(vpc.name, vpc);
    this.vpcByVni.set(vni, vpc);
    this.byIp.set(vpc, new Map());
    this.byMac.set(vpc, new Map());
    return vpc;
  }

  deleteVpc(name: string): void {
    const vpc = this.vpc(name);
    if (vpc.subnets.size > 0) throw inUse(`vpc '${name}'`, `subnet '${[...vpc.subnets][0]!.name}'`);
    for (const r of this.routes.list(vpc)) this.routes.remove(vpc, r.prefix);
    this.vpcs.delete(name);
    this.vpcByVni.delete(vpc.vni);
    this.byIp.delete(vpc);
    this.byMac.delete(vpc);
  }

  createSubnet(options: S.SubnetOptions): Subnet {
    const o = parseArgs(S.subnetSchema, options, 'subnet');
    this.unused(this.subnets, o.name, 'subnet');
    const vpc = this.vpc(o.vpc, 'subnet.vpc');
    const cidr = parsePrefix4(o.cidr);
    if (cidr.length > 30)
      throw invalid('subnet.cidr', `a prefix of length 0..30 (room for a gateway and a host), got /${cidr.length}`);
    if (!inside(cidr, vpc.cidr))
      throw invalid('subnet.cidr', `${o.cidr} lies outside VPC '${vpc.name}' (${text(vpc.cidr)})`);
    for (const s of vpc.subnets) {
      if (overlaps(s.cidr, cidr))
        throw invalid('subnet.cidr', `${o.cidr} overlaps subnet '${s.name}' (${text(s.cidr)})`);
    }
    const gateway = o.gateway === undefined ? (cidr.addr + 1) >>> 0 : parseIPv4(o.gateway);
    if (!isHost(gateway, cidr))
      throw invalid('subnet.gateway', `a host address of ${o.cidr}, got ${formatIPv4(gateway)}`);
    const subnet: Subnet = { id: this.nextId.subnet++, name: o.name, vpc, cidr, gateway, ports: new Set() };
    this.routes.add(vpc, cidr, { kind: 'subnet', subnet });
    vpc.subnets.add(subnet);
    this.subnets.set(subnet.name, subnet);
    this.changed({ kind: 'routes', vpc });
    return subnet;
  }

  deleteSubnet(name: string): void {
    const s = this.subnet(name);
    if (s.ports.size > 0) throw inUse(`subnet '${name}'`, `port '${[...s.ports][0]!.name}'`);
    for (const r of this.routes.list(s.vpc)) {
      if (r.target.kind === 'port' && r.target.port.subnet === s)
        throw inUse(`subnet '${name}'`, `a route to ${text(r.prefix)}`);
    }
    this.routes.remove(s.vpc, s.cidr);
    s.vpc.subnets.delete(s);
    this.subnets.delete(name);
    this.changed({ kind: 'routes', vpc: s.vpc });
  }

  createPort(options: S.PortOptions): Port {
    const o = parseArgs(S.portSchema, options, 'port');
    return this.addPort('vm', o, null, 0, null);
  }

  createSubPort(options: S.SubPortOptions): Port {
    const o = parseArgs(S.subPortSchema, options, 'subPort');
    const parent = this.port(o.parent, 'subPort.parent');
    if (parent.kind !== 'vm') throw invalid('subPort.parent', `a VM port, got ${parent.kind} port '${parent.name}'`);
    const clash = parent.subPorts.get(o.vlan);
    if (clash) throw invalid('subPort.vlan', `VLAN ${o.vlan} of '${parent.name}' is already sub-port '${clash.name}'`);
    const port = this.addPort('sub', o, parent, o.vlan, null);
    parent.subPorts.set(o.vlan, port);
    return port;
  }

  createRemotePort(options: S.RemotePortOptions): Port {
    const o = parseArgs(S.remotePortSchema, options, 'remotePort');
    const host = this.host(o.host, 'remotePort.host');
    return this.addPort('remote', o, null, 0, host);
  }

  deletePort(name: string): void {
    const p = this.port(name);
    if (p.subPorts.size > 0) throw inUse(`port '${name}'`, `sub-port '${[...p.subPorts.values()][0]!.name}'`);
    for (const r of this.routes.list(p.vpc)) {
      if (r.target.kind === 'port' && r.target.port === p)
        throw inUse(`port '${name}'`, `the route to ${text(r.prefix)}`);
    }
    p.parent?.subPorts.delete(p.vlan);
    p.subnet.ports.delete(p);
    this.byIp.get(p.vpc)!.delete(p.ip);
    this.byMac.get(p.vpc)!.delete(p.mac);
    this.ports.delete(name);
    this.portsById.delete(p.id);
    this.freePortIds.push(p.id);
    this.changed({ kind: 'port-removed', port: p });
  }

  /** Replaces the port's security groups. */
  setPortGroups(name: string, groups: readonly string[]): void {
    const p = this.port(name);
    if (p.kind === 'remote') throw invalid('securityGroups', `groups on a local port; '${name}' is remote`);
    p.securityGroups = this.groupList(parseArgs(S.portSchema.shape.securityGroups, groups, 'securityGroups') ?? []);
    this.changed({ kind: 'port-groups', port: p });
  }

  createSecurityGroup(options: S.SecurityGroupOptions): SecurityGroup {
    const o = parseArgs(S.securityGroupSchema, options, 'securityGroup');
    this.unused(this.groups, o.name, 'securityGroup');
    const group: SecurityGroup = { id: this.nextId.group++, name: o.name, rules: new Map() };
    (o.rules ?? []).forEach((r, i) => {
      const rule = compileSgRule(r, this.nextId.rule, `securityGroup.rules[${i}]`);
      this.nextId.rule++;
      group.rules.set(rule.id, rule);
    });
    this.groups.set(group.name, group);
    return group;
  }

  /** Adds a rule; returns its id. */
  addRule(groupName: string, rule: S.SecurityGroupRule): number {
    const g = this.group(groupName);
    const r = compileSgRule(parseArgs(S.sgRuleSchema, rule, 'rule'), this.nextId.rule, 'rule');
    this.nextId.rule++;
    g.rules.set(r.id, r);
    this.changed({ kind: 'group-rules', group: g });
    return r.id;
  }

  removeRule(groupName: string, ruleId: number): void {
    const g = this.group(groupName);
    if (!g.rules.delete(ruleId)) throw notFound(`rule ${ruleId} of security group '${groupName}'`);
    this.changed({ kind: 'group-rules', group: g });
  }

  deleteSecurityGroup(name: string): void {
    const g = this.group(name);
    for (const p of this.ports.values())
      if (p.securityGroups.includes(g)) throw inUse(`security group '${name}'`, `port '${p.name}'`);
    this.groups.delete(name);
  }

  createTunnel(options: S.TunnelOptions): Tunnel {
    const o = parseArgs(S.tunnelSchema, options, 'tunnel');
    this.unused(this.tunnels, o.name, 'tunnel');
    const t: Tunnel = {
      id: this.peekPortId(),
      name: o.name,
      address: parseIPv4(o.address ?? '127.0.0.1'),
      port: o.port ?? 4789,
    };
    this.takePortId(t.id);
    this.tunnels.set(t.name, t);
    return t;
  }

  deleteTunnel(name: string): void {
    const t = this.tunnel(name);
    for (const h of this.hosts.values()) if (h.tunnel === t) throw inUse(`tunnel '${name}'`, `remote host '${h.name}'`);
    this.tunnels.delete(name);
    this.freePortIds.push(t.id);
  }

  createRemoteHost(options: S.RemoteHostOptions): RemoteHost {
    const o = parseArgs(S.remoteHostSchema, options, 'remoteHost');
    this.unused(this.hosts, o.name, 'remoteHost');
    const tunnel = this.tunnel(o.tunnel, 'remoteHost.tunnel');
    const address = parseIPv4(o.address);
    const clash = this.hostAt(tunnel, address);
    if (clash)
      throw invalid(
        'remoteHost.address',
        `${o.address} is already remote host '${clash.name}' on tunnel '${tunnel.name}'`,
      );
    const h: RemoteHost = { id: this.nextId.host++, name: o.name, tunnel, address, port: o.port ?? 4789 };
    this.hosts.set(h.name, h);
    return h;
  }

  deleteRemoteHost(name: string): void {
    const h = this.host(name);
    for (const p of this.ports.values()) if (p.host === h) throw inUse(`remote host '${name}'`, `port '${p.name}'`);
    for (const r of this.routes.list()) {
      if (r.target.kind === 'remote' && r.target.host === h)
        throw inUse(`remote host '${name}'`, `the route to ${text(r.prefix)}`);
    }
    this.hosts.delete(name);
  }

  addRoute(options: S.RouteOptions): Route {
    const o = parseArgs(S.routeSchema, options, 'route');
    const vpc = this.vpc(o.vpc, 'route.vpc');
    const prefix = parsePrefix4(o.prefix);
    let target: RouteTarget;
    if (o.target === 'blackhole') target = { kind: 'blackhole' };
    else if ('port' in o.target) target = { kind: 'port', port: this.port(o.target.port, 'route.target.port') };
    else
      target = {
        kind: 'remote',
        host: this.host(o.target.host, 'route.target.host'),
        mac: parseMac(o.target.mac, 'route.target.mac'),
      };
    const existing = this.routes.get(vpc, prefix);
    if (existing?.target.kind === 'subnet') {
      throw invalid('route.prefix', `${o.prefix} is subnet '${existing.target.subnet.name}''s own route`);
    }
    const route = this.routes.add(vpc, prefix, target);
    this.changed({ kind: 'routes', vpc });
    return route;
  }

  removeRoute(vpcName: string, prefixText: string): void {
    const vpc = this.vpc(vpcName, 'vpc');
    const prefix = parsePrefix4(parseArgs(S.prefix4Text, prefixText, 'prefix'));
    const r = this.routes.get(vpc, prefix);
    if (!r) throw notFound(`route ${prefixText} in VPC '${vpcName}'`);
    if (r.target.kind === 'subnet')
      throw invalid('prefix', `a route added with addRoute; ${prefixText} is subnet '${r.target.subnet.name}''s own`);
    this.routes.remove(vpc, prefix);
    this.changed({ kind: 'routes', vpc });
  }

  // --- lookups (the slow path's indexes) ---

  vpc(name: string, field = 'vpc'): Vpc {
    return this.found(this.vpcs, name, field, 'VPC');
  }
  subnet(name: string, field = 'subnet'): Subnet {
    return this.found(this.subnets, name, field, 'subnet');
  }
  port(name: string, field = 'port'): Port {
    return this.found(this.ports, name, field, 'port');
  }
  group(name: string, field = 'securityGroup'): SecurityGroup {
    return this.found(this.groups, name, field, 'security group');
  }
  tunnel(name: string, field = 'tunnel'): Tunnel {
    return this.found(this.tunnels, name, field, 'tunnel');
  }
  host(name: string, field = 'remoteHost'): RemoteHost {
    return this.found(this.hosts, name, field, 'remote host');
  }
  portById(id: number): Port | undefined {
    return this.portsById.get(id);
  }
  portByIp(vpc: Vpc, ip: number): Port | undefined {
    return this.byIp.get(vpc)?.get(ip >>> 0);
  }
  portByMac(vpc: Vpc, mac: number): Port | undefined {
    return this.byMac.get(vpc)?.get(mac);
  }
  tunnelById(id: number): Tunnel | undefined {
    for (const t of this.tunnels.values()) if (t.id === id) return t;
    return undefined;
  }
  /**
   * The remote host of a tunnel at this underlay address. Not by source port: VTEPs send from a
   * port hashed from the inner flow (RFC 7348 §5), so only the address names the sender.
   */
  hostAt(tunnel: Tunnel, address: number): RemoteHost | undefined {
    for (const h of this.hosts.values()) if (h.tunnel === tunnel && h.address === address >>> 0) return h;
    return undefined;
  }
  vpcByVniOf(vni: number): Vpc | undefined {
    return this.vpcByVni.get(vni);
  }
  allVpcs(): Vpc[] {
    return [...this.vpcs.values()];
  }
  allSubnets(): Subnet[] {
    return [...this.subnets.values()];
  }
  allPorts(): Port[] {
    return [...this.ports.values()];
  }
  allGroups(): SecurityGroup[] {
    return [...this.groups.values()];
  }
  allTunnels(): Tunnel[] {
    return [...this.tunnels.values()];
  }
  allHosts(): RemoteHost[] {
    return [...this.hosts.values()];
  }

  dispose(): void {
    this.routes.dispose();
  }

  private addPort(
    kind: Port['kind'],
    o: S.PortOptions & { mac?: string | undefined },
    parent: Port | null,
    vlan: number,
    host: RemoteHost | null,
  ): Port {
    const where = kind === 'vm' ? 'port' : kind === 'sub' ? 'subPort' : 'remotePort';
    this.unused(this.ports, o.name, where);
    const id = this.peekPortId();
    const subnet = this.subnet(o.subnet, `${where}.subnet`);
    const vpc = subnet.vpc;
    const ip = parseIPv4(o.ip);
    if (!isHost(ip, subnet.cidr) || ip === subnet.gateway) {
      throw invalid(
        `${where}.ip`,
        `a host address of subnet '${subnet.name}' (${text(subnet.cidr)}) other than its gateway, got ${o.ip}`,
      );
    }
    const ipClash = this.byIp.get(vpc)!.get(ip);
    if (ipClash) throw invalid(`${where}.ip`, `${o.ip} is already port '${ipClash.name}''s in VPC '${vpc.name}'`);
    const mac = o.mac === undefined ? this.freeMac(vpc) : parseMac(o.mac, `${where}.mac`);
    const macClash = this.byMac.get(vpc)!.get(mac);
    if (macClash || mac === vpc.routerMac) {
      throw invalid(
        `${where}.mac`,
        `${formatMac(mac)} is already ${macClash ? `port '${macClash.name}'` : 'the router'}'s in VPC '${vpc.name}'`,
      );
    }
    if ((Math.floor(mac / 2 ** 40) & 1) === 1 || mac === 0)
      throw invalid(`${where}.mac`, `a unicast MAC, got ${formatMac(mac)}`);
    const securityGroups = kind === 'remote' ? [] : this.groupList(o.securityGroups ?? []);
    const port: Port = {
      id,
      name: o.name,
      kind,
      subnet,
      vpc,
      mac,
      ip,
      securityGroups,
      parent,
      vlan,
      host,
      subPorts: new Map(),
    };
    this.takePortId(id);
    this.ports.set(port.name, port);
    this.portsById.set(port.id, port);
    subnet.ports.add(port);
    this.byIp.get(vpc)!.set(ip, port);
    this.byMac.get(vpc)!.set(mac, port);
    this.changed({ kind: 'port-added', port });
    return port;
  }

  /** The datapath port id the next port or tunnel gets (ports and tunnels share one id space). */
  private peekPortId(): number {
    const id = this.freePortIds.at(-1) ?? this.nextId.port;
    if (id > this.maxPortId) throw full('ports and tunnels', this.maxPortId);
    return id;
  }

  private takePortId(id: number): void {
    if (this.freePortIds.at(-1) === id) this.freePortIds.pop();
    else this.nextId.port++;
  }

  private groupList(names: readonly string[]): SecurityGroup[] {
    return [...new Set(names)].map((n, i) => this.group(n, `securityGroups[${i}]`));
  }

  private freeVni(): number {
    let vni = this.nextId.vpc;
    while (this.vpcByVni.has(vni)) vni++;
    return vni;
  }

  private freeMac(vpc: Vpc): number {
    for (;;) {
      const mac = randomLocalMac(this.prng);
      if (!this.byMac.get(vpc)!.has(mac) && mac !== vpc.routerMac) return mac;
    }
  }

  private changed(c: ModelChange): void {
    for (const l of this.listeners) l(c);
  }

  private unused(map: Map<string, unknown>, name: string, where: string): void {
    if (map.has(name)) throw invalid(`${where}.name`, `a name not in use, got '${name}'`);
  }

  private found<T>(map: Map<string, T>, name: string, field: string, what: string): T {
    const v = typeof name === 'string' ? map.get(name) : undefined;
    if (v === undefined) throw notFound(`${what} ${JSON.stringify(name)}`, field);
    return v;
  }
}

function inside(inner: Prefix4, outer: Prefix4): boolean {
  return inner.length >= outer.length && (inner.addr & mask4(outer.length)) >>> 0 === outer.addr >>> 0;
}

function overlaps(a: Prefix4, b: Prefix4): boolean {
  return inside(a, b) || inside(b, a);
}

/** A host address of the prefix: inside it, neither its network nor its broadcast address. */
function isHost(ip: number, p: Prefix4): boolean {
  const hostMask = ~mask4(p.length) >>> 0;
  return (ip & mask4(p.length)) >>> 0 === p.addr >>> 0 && (ip & hostMask) !== 0 && (ip & hostMask) >>> 0 !== hostMask;
}

function text(p: Prefix4): string {
  return `${formatIPv4(p.addr)}/${p.length}`;
}

function invalid(field: string, what: string): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${what}`, { field });
}

function notFound(what: string, field?: string): QingtianError {
  return new QingtianError(ErrorCode.NotFound, `${field ? `${field}: ` : ''}no ${what}`, field ? { field } : {});
}

function inUse(what: string, user: string): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `${what} is in use by ${user}; remove that first`);
}

function full(what: string, max: number): QingtianError {
  return new QingtianError(ErrorCode.CapacityExceeded, `the network holds at most ${max} ${what}`, { max });
}
