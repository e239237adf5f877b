import { z } from 'zod';
import { intIn, oneOf } from '../../common/validate.js';
import { mask4, parseIPv4 } from '../flow/ip-address.js';

/**
 * The network API's inputs, checked once at the boundary (strict objects: unknown keys are
 * refused). Addresses and prefixes stay text here; the model parses them after the schema.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$/;
const NAME_TEXT = 'a name of 1 to 48 letters, digits, _ . - (starting with a letter or digit)';
const V4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const MAC = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

export const resourceName = z.string({ error: NAME_TEXT }).regex(NAME, { error: NAME_TEXT });

export const ipv4Text = z
  .string({ error: "an IPv4 address 'a.b.c.d'" })
  .refine((s) => V4.test(s) && s.split('.').every((o) => Number(o) <= 255), { error: "an IPv4 address 'a.b.c.d'" });

/** 'a.b.c.d/len' with no host bits set past len (so that '10.0.0.1/8' is a mistake, not a /8). */
export const prefix4Text = z.string({ error: "an IPv4 prefix 'a.b.c.d/len'" }).refine(
  (s) => {
    const [a, l, more] = s.split('/');
    if (more !== undefined || a === undefined || l === undefined || !/^\d{1,2}$/.test(l) || Number(l) > 32)
      return false;
    if (!V4.test(a) || !a.split('.').every((o) => Number(o) <= 255)) return false;
    const addr = parseIPv4(a);
    return (addr & ~mask4(Number(l))) >>> 0 === 0;
  },
  { error: "an IPv4 prefix 'a.b.c.d/len' (len 0..32, no bits set past len)" },
);

export const macText = z.string({ error: "a MAC address 'aa:bb:cc:dd:ee:ff'" }).regex(MAC, {
  error: "a MAC address 'aa:bb:cc:dd:ee:ff'",
});

export const vpcSchema = z.strictObject({
  name: resourceName,
  /** The VPC's address space; every subnet lies inside it. */
  cidr: prefix4Text,
  /** VXLAN network identifier for this VPC's traffic to remote hosts. Default: allocated. */
  vni: intIn(1, 0xffffff).optional(),
});

export const subnetSchema = z.strictObject({
  name: resourceName,
  vpc: resourceName,
  cidr: prefix4Text,
  /** The virtual router's address in this subnet. Default: the first host address. */
  gateway: ipv4Text.optional(),
});

export const portSchema = z.strictObject({
  name: resourceName,
  subnet: resourceName,
  ip: ipv4Text,
  /** Default: a locally administered address from the network's seeded generator. */
  mac: macText.optional(),
  /** Security groups (allow rules, stateful). Empty or absent: the port filters nothing. */
  securityGroups: z.array(resourceName, { error: 'an array of security group names' }).max(16).optional(),
});

export const subPortSchema = portSchema.extend({
  /** The VM port whose virtio-net carries this sub-port's frames, tagged with `vlan`. */
  parent: resourceName,
  vlan: intIn(1, 4094),
});

export const tunnelSchema = z.strictObject({
  name: resourceName,
  /** Local address the UDP socket binds. Default '127.0.0.1'. */
  address: ipv4Text.optional(),
  /** Local UDP port; 0 picks a free one. Default 4789 (RFC 7348). */
  port: intIn(0, 65535).optional(),
});

export const remoteHostSchema = z.strictObject({
  name: resourceName,
  tunnel: resourceName,
  /** The remote VTEP's underlay IPv4 address. */
  address: ipv4Text,
  /** The remote VTEP's UDP port. Default 4789. */
  port: intIn(1, 65535).optional(),
});

export const remotePortSchema = z.strictObject({
  name: resourceName,
  subnet: resourceName,
  ip: ipv4Text,
  mac: macText,
  /** The remote host (VTEP) behind which this address lives. */
  host: resourceName,
});

export const routeTargetSchema = z.union(
  [
    z.strictObject({ port: resourceName }),
    z.strictObject({ host: resourceName, mac: macText }),
    z.literal('blackhole'),
  ],
  { error: "a route target: { port }, { host, mac } or 'blackhole'" },
);

export const routeSchema = z.strictObject({
  vpc: resourceName,
  prefix: prefix4Text,
  /**
   * `{ port }`: to a port (local, or a remote port over VXLAN); `{ host, mac }`: to a remote host
   * over VXLAN, the inner frame addressed to `mac` (its router); 'blackhole': dropped.
   */
  target: routeTargetSchema,
});

export const sgRuleSchema = z.strictObject({
  direction: oneOf(['ingress', 'egress']),
  protocol: oneOf(['any', 'icmp', 'udp', 'tcp']),
  /** TCP/UDP destination port range [lo, hi]. Default: all. */
  ports: z.tuple([intIn(0, 65535), intIn(0, 65535)], { error: 'a port range [lo, hi]' }).optional(),
  /** ICMP type. Default: all. */
  icmpType: intIn(0, 255).optional(),
  /** The peer's prefix (source for ingress, destination for egress). Default '0.0.0.0/0'. */
  remote: prefix4Text.optional(),
});

export const securityGroupSchema = z.strictObject({
  name: resourceName,
  rules: z.array(sgRuleSchema, { error: 'an array of rules' }).max(1024).optional(),
});

/** A VPC to create: {@link HostNetwork.createVpc}. */
export interface VpcOptions {
  /** Its name (1-48 letters, digits, `_ . -`), unique among VPCs. */
  name: string;
  /** Its address space, 'a.b.c.d/len'; every subnet lies inside it. */
  cidr: string;
  /** VXLAN network identifier of its traffic on tunnels, 1-16777215, unique. Default: allocated. */
  vni?: number | undefined;
}

/** A subnet to create: {@link HostNetwork.createSubnet}. */
export interface SubnetOptions {
  /** Its name, unique among subnets. */
  name: string;
  /** The VPC it belongs to. */
  vpc: string;
  /** Its prefix (length 0-30), inside the VPC's and apart from its other subnets. */
  cidr: string;
  /** The VPC router's address in it. Default: the first host address. */
  gateway?: string | undefined;
}

/** A VM port to create: {@link HostNetwork.createPort}. */
export interface PortOptions {
  /** Its name, unique among ports. */
  name: string;
  /** The subnet it is in. */
  subnet: string;
  /** Its IPv4 address: a host address of the subnet, not the gateway, unique in the VPC. */
  ip: string;
  /** Its MAC, unicast and unique in the VPC. Default: locally administered, from the network's seed. */
  mac?: string | undefined;
  /** Security groups whose allow rules apply (at most 16). None or empty: the port filters nothing. */
  securityGroups?: string[] | undefined;
}

/** A trunk sub-port to create: {@link HostNetwork.createSubPort}. */
export interface SubPortOptions extends PortOptions {
  /** The VM port whose NIC carries it. */
  parent: string;
  /** Its 802.1Q VLAN id on the parent's NIC, 1-4094, unique per parent. */
  vlan: number;
}

/** A VXLAN tunnel to create: {@link HostNetwork.createTunnel}. */
export interface TunnelOptions {
  /** Its name, unique among tunnels. */
  name: string;
  /** The local IPv4 address its UDP socket binds. Default '127.0.0.1'. */
  address?: string | undefined;
  /** The local UDP port, 0 for any free one. Default 4789 (RFC 7348). */
  port?: number | undefined;
}

/** A remote VXLAN tunnel endpoint to create: {@link HostNetwork.createRemoteHost}. */
export interface RemoteHostOptions {
  /** Its name, unique among remote hosts. */
  name: string;
  /** The local tunnel that reaches it. */
  tunnel: string;
  /** Its underlay IPv4 address (unique per tunnel: datagrams from it are its). */
  address: string;
  /** Its VXLAN UDP port. Default 4789. */
  port?: number | undefined;
}

/** An address behind a remote host to create: {@link HostNetwork.createRemotePort}. */
export interface RemotePortOptions {
  /** Its name, unique among ports. */
  name: string;
  /** The subnet it is in. */
  subnet: string;
  /** Its IPv4 address in the subnet. */
  ip: string;
  /** Its MAC (the remote interface's). */
  mac: string;
  /** The remote host it lives behind. */
  host: string;
}

/** Where a route sends: a port, a remote host's router, or nowhere. */
export type RouteTarget = { port: string } | { host: string; mac: string } | 'blackhole';

/** A route to add: {@link HostNetwork.addRoute}. */
export interface RouteOptions {
  /** The VPC whose table it joins. */
  vpc: string;
  /** The destination prefix, 'a.b.c.d/len' (one route per prefix). */
  prefix: string;
  /**
   * `{ port }`: to a port (local, or a remote port over VXLAN); `{ host, mac }`: to a remote host
   * over VXLAN, the inner frame addressed to `mac` (its router); 'blackhole': dropped.
   */
  target: RouteTarget;
}

/** One allow rule of a security group. */
export interface SecurityGroupRule {
  /** 'ingress' admits traffic to the port, 'egress' from it. */
  direction: 'ingress' | 'egress';
  /** The IP protocol it admits. */
  protocol: 'any' | 'icmp' | 'udp' | 'tcp';
  /** TCP/UDP destination port range [lo, hi]. Default: all. */
  ports?: [number, number] | undefined;
  /** ICMP type. Default: all. */
  icmpType?: number | undefined;
  /** The peer's prefix (source for ingress, destination for egress). Default '0.0.0.0/0'. */
  remote?: string | undefined;
}

/** A security group to create: {@link HostNetwork.createSecurityGroup}. */
export interface SecurityGroupOptions {
  /** Its name, unique among security groups. */
  name: string;
  /** Its allow rules (at most 1024). */
  rules?: SecurityGroupRule[] | undefined;
}

// The interfaces above are what the schemas accept, exactly (checked here at compile time).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _schemasMatch: [
  Same<VpcOptions, z.input<typeof vpcSchema>>,
  Same<SubnetOptions, z.input<typeof subnetSchema>>,
  Same<PortOptions, z.input<typeof portSchema>>,
  Same<SubPortOptions, z.input<typeof subPortSchema>>,
  Same<TunnelOptions, z.input<typeof tunnelSchema>>,
  Same<RemoteHostOptions, z.input<typeof remoteHostSchema>>,
  Same<RemotePortOptions, z.input<typeof remotePortSchema>>,
  Same<RouteOptions, z.input<typeof routeSchema>>,
  Same<SecurityGroupRule, z.input<typeof sgRuleSchema>>,
  Same<SecurityGroupOptions, z.input<typeof securityGroupSchema>>,
] = [true, true, true, true, true, true, true, true, true, true];
