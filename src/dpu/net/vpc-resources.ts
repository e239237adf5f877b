import type { Prefix4 } from '../flow/ip-address.js';

/**
 * The VPC model's resources as the slow path reads them. The model (vpc-model.ts) creates and
 * links them; everything outside it treats them as read-only.
 */
export interface Vpc {
  readonly id: number;
  readonly name: string;
  readonly cidr: Prefix4;
  /** VXLAN network identifier of this VPC on tunnels. */
  readonly vni: number;
  /** The virtual router's MAC: the gateway address of every subnet answers ARP with it. */
  readonly routerMac: number;
  readonly subnets: Set<Subnet>;
}

export interface Subnet {
  readonly id: number;
  readonly name: string;
  readonly vpc: Vpc;
  readonly cidr: Prefix4;
  readonly gateway: number;
  readonly ports: Set<Port>;
}

/**
 * 'vm': a guest's virtio-net; 'sub': a VLAN sub-port of a VM port (trunk); 'remote': an address
 * behind a VXLAN tunnel.
 */
export type PortKind = 'vm' | 'sub' | 'remote';

export interface Port {
  readonly id: number;
  readonly name: string;
  readonly kind: PortKind;
  readonly subnet: Subnet;
  readonly vpc: Vpc;
  readonly mac: number;
  readonly ip: number;
  /** Allow rules of these groups apply, statefully; none: the port filters nothing. */
  securityGroups: SecurityGroup[];
  /** 'sub': the VM port that carries it. */
  readonly parent: Port | null;
  /** 'sub': its 802.1Q VLAN id on the parent's NIC. */
  readonly vlan: number;
  /** 'remote': the VTEP behind which it lives. */
  readonly host: RemoteHost | null;
  /** 'vm': VLAN id → sub-port. */
  readonly subPorts: Map<number, Port>;
}

export interface SgRule {
  readonly id: number;
  readonly direction: 'ingress' | 'egress';
  /** IP protocol number, or -1 for any. */
  readonly proto: number;
  /** Destination port range (TCP/UDP). */
  readonly ports: readonly [number, number];
  /** ICMP type, or -1 for any. */
  readonly icmpType: number;
  readonly remote: Prefix4;
}

export interface SecurityGroup {
  readonly id: number;
  readonly name: string;
  readonly rules: Map<number, SgRule>;
}

export interface Tunnel {
  readonly id: number;
  readonly name: string;
  /** Local underlay address and UDP port of the socket (port 0 until bound when asked for any). */
  readonly address: number;
  port: number;
}

export interface RemoteHost {
  readonly id: number;
  readonly name: string;
  readonly tunnel: Tunnel;
  readonly address: number;
  readonly port: number;
}

export type RouteTarget =
  | { readonly kind: 'subnet'; readonly subnet: Subnet }
  | { readonly kind: 'port'; readonly port: Port }
  | { readonly kind: 'remote'; readonly host: RemoteHost; readonly mac: number }
  | { readonly kind: 'blackhole' };

export interface Route {
  readonly vpc: Vpc;
  readonly prefix: Prefix4;
  readonly target: RouteTarget;
}
