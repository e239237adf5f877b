import { formatIPv4, type Prefix4 } from '../flow/ip-address.js';
import { formatMac } from './mac-address.js';
import type { Port, RemoteHost, Route, SecurityGroup, SgRule, Subnet, Tunnel, Vpc } from './vpc-resources.js';

/**
 * The network's resources as plain data (names and text addresses): what `host.network` returns
 * and lists, and what a daemon serves as JSON. Every resource is named; names are stable ids.
 */
/** A VPC. */
export interface VpcInfo {
  /** Its name. */
  name: string;
  /** Its address space, 'a.b.c.d/len'. */
  cidr: string;
  /** Its VXLAN network identifier. */
  vni: number;
  /** Its router's MAC: what ARP for a gateway answers, the source of routed frames. */
  routerMac: string;
  /** Its subnets' names. */
  subnets: string[];
}

/** A subnet. */
export interface SubnetInfo {
  /** Its name. */
  name: string;
  /** Its VPC's name. */
  vpc: string;
  /** Its prefix. */
  cidr: string;
  /** The router's address in it. */
  gateway: string;
}

/** A port. */
export interface PortInfo {
  /** Its name. */
  name: string;
  /** 'vm': a guest's NIC; 'sub': a VLAN sub-port of one; 'remote': an address behind a tunnel. */
  kind: 'vm' | 'sub' | 'remote';
  /** The switch port id (VM ports and sub-ports; remote ports have none of their own). */
  id: number;
  /** Its VPC's name. */
  vpc: string;
  /** Its subnet's name. */
  subnet: string;
  /** Its IPv4 address. */
  ip: string;
  /** Its MAC. */
  mac: string;
  /** Its security groups' names. */
  securityGroups: string[];
  /** Sub-port: its VM port. */
  parent?: string;
  /** Sub-port: its VLAN id. */
  vlan?: number;
  /** Remote port: the remote host it lives behind. */
  host?: string;
  /** VM port: the guest whose virtio-net device it is attached to. */
  attached?: string;
}

/** One rule of a security group. */
export interface SecurityGroupRuleInfo {
  /** Its id (for {@link HostNetwork.removeSecurityGroupRule}). */
  id: number;
  /** 'ingress' admits traffic to a port, 'egress' from it. */
  direction: 'ingress' | 'egress';
  /** The protocol it admits (a number for any other IP protocol). */
  protocol: 'any' | 'icmp' | 'udp' | 'tcp' | number;
  /** TCP/UDP destination ports. */
  ports?: [number, number];
  /** ICMP type. */
  icmpType?: number;
  /** The peer's prefix. */
  remote: string;
}

/** A security group. */
export interface SecurityGroupInfo {
  /** Its name. */
  name: string;
  /** Its allow rules. */
  rules: SecurityGroupRuleInfo[];
}

/** A VXLAN tunnel (a UDP socket and a switch port). */
export interface TunnelInfo {
  /** Its name. */
  name: string;
  /** Its switch port id. */
  id: number;
  /** The local address its socket is bound to. */
  address: string;
  /** The local UDP port its socket is bound to. */
  port: number;
}

/** A remote VXLAN tunnel endpoint. */
export interface RemoteHostInfo {
  /** Its name. */
  name: string;
  /** The local tunnel that reaches it. */
  tunnel: string;
  /** Its underlay address. */
  address: string;
  /** Its UDP port. */
  port: number;
}

/** A route. */
export interface RouteInfo {
  /** Its VPC's name. */
  vpc: string;
  /** Its destination prefix. */
  prefix: string;
  /** 'subnet:<name>' (a subnet's own), 'port:<name>', 'host:<name>' (via its router MAC), 'blackhole'. */
  target: string;
}

export const prefixText = (p: Prefix4): string => `${formatIPv4(p.addr)}/${p.length}`;

export function vpcInfo(v: Vpc): VpcInfo {
  return {
    name: v.name,
    cidr: prefixText(v.cidr),
    vni: v.vni,
    routerMac: formatMac(v.routerMac),
    subnets: [...v.subnets].map((s) => s.name),
  };
}

export function subnetInfo(s: Subnet): SubnetInfo {
  return { name: s.name, vpc: s.vpc.name, cidr: prefixText(s.cidr), gateway: formatIPv4(s.gateway) };
}

export function portInfo(p: Port, attached?: string): PortInfo {
  const info: PortInfo = {
    name: p.name,
    kind: p.kind,
    id: p.kind === 'remote' ? 0 : p.id,
    vpc: p.vpc.name,
    subnet: p.subnet.name,
    ip: formatIPv4(p.ip),
    mac: formatMac(p.mac),
    securityGroups: p.securityGroups.map((g) => g.name),
  };
  if (p.parent) {
    info.parent = p.parent.name;
    info.vlan = p.vlan;
  }
  if (p.host) info.host = p.host.name;
  if (attached !== undefined) info.attached = attached;
  return info;
}

const PROTO_NAMES: Record<number, 'any' | 'icmp' | 'udp' | 'tcp'> = { [-1]: 'any', 1: 'icmp', 17: 'udp', 6: 'tcp' };

export function ruleInfo(r: SgRule): SecurityGroupRuleInfo {
  const info: SecurityGroupRuleInfo = {
    id: r.id,
    direction: r.direction,
    protocol: PROTO_NAMES[r.proto] ?? r.proto,
    remote: prefixText(r.remote),
  };
  if (r.proto === 6 || r.proto === 17) info.ports = [r.ports[0], r.ports[1]];
  if (r.icmpType >= 0) info.icmpType = r.icmpType;
  return info;
}

export function groupInfo(g: SecurityGroup): SecurityGroupInfo {
  return { name: g.name, rules: [...g.rules.values()].map(ruleInfo) };
}

export function tunnelInfo(t: Tunnel): TunnelInfo {
  return { name: t.name, id: t.id, address: formatIPv4(t.address), port: t.port };
}

export function hostInfo(h: RemoteHost): RemoteHostInfo {
  return { name: h.name, tunnel: h.tunnel.name, address: formatIPv4(h.address), port: h.port };
}

export function routeInfo(r: Route): RouteInfo {
  const t = r.target;
  const target =
    t.kind === 'subnet'
      ? `subnet:${t.subnet.name}`
      : t.kind === 'port'
        ? `port:${t.port.name}`
        : t.kind === 'remote'
          ? `host:${t.host.name}`
          : 'blackhole';
  return { vpc: r.vpc.name, prefix: prefixText(r.prefix), target };
}
