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
export type VpcOptions = z.input<typeof vpcSchema>;

export const subnetSchema = z.strictObject({
  name: resourceName,
  vpc: resourceName,
  cidr: prefix4Text,
  /** The virtual router's address in this subnet. Default: the first host address. */
  gateway: ipv4Text.optional(),
});
export type SubnetOptions = z.input<typeof subnetSchema>;

export const portSchema = z.strictObject({
  name: resourceName,
  subnet: resourceName,
  ip: ipv4Text,
  /** Default: a locally administered address from the network's seeded generator. */
  mac: macText.optional(),
  /** Security groups (allow rules, stateful). Empty or absent: the port filters nothing. */
  securityGroups: z.array(resourceName, { error: 'an array of security group names' }).max(16).optional(),
});
export type PortOptions = z.input<typeof portSchema>;

export const subPortSchema = portSchema.extend({
  /** The VM port whose virtio-net carries this sub-port's frames, tagged with `vlan`. */
  parent: resourceName,
  vlan: intIn(1, 4094),
});
export type SubPortOptions = z.input<typeof subPortSchema>;

export const tunnelSchema = z.strictObject({
  name: resourceName,
  /** Local address the UDP socket binds. Default '127.0.0.1'. */
  address: ipv4Text.optional(),
  /** Local UDP port; 0 picks a free one. Default 4789 (RFC 7348). */
  port: intIn(0, 65535).optional(),
});
export type TunnelOptions = z.input<typeof tunnelSchema>;

export const remoteHostSchema = z.strictObject({
  name: resourceName,
  tunnel: resourceName,
  /** The remote VTEP's underlay IPv4 address. */
  address: ipv4Text,
  /** The remote VTEP's UDP port. Default 4789. */
  port: intIn(1, 65535).optional(),
});
export type RemoteHostOptions = z.input<typeof remoteHostSchema>;

export const remotePortSchema = z.strictObject({
  name: resourceName,
  subnet: resourceName,
  ip: ipv4Text,
  mac: macText,
  /** The remote host (VTEP) behind which this address lives. */
  host: resourceName,
});
export type RemotePortOptions = z.input<typeof remotePortSchema>;

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
export type RouteOptions = z.input<typeof routeSchema>;

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
export type SecurityGroupRule = z.input<typeof sgRuleSchema>;

export const securityGroupSchema = z.strictObject({
  name: resourceName,
  rules: z.array(sgRuleSchema, { error: 'an array of rules' }).max(1024).optional(),
});
export type SecurityGroupOptions = z.input<typeof securityGroupSchema>;
