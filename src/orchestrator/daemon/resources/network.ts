import { z } from 'zod';
import type { HostNetwork } from '../../../dpu/net/host-network.js';
import { portSchema, routeSchema, securityGroupSchema, subnetSchema, vpcSchema } from '../../../dpu/net/vpc-schemas.js';
import type { Host } from '../../host.js';
import type { DaemonContext, DaemonResource } from '../resource.js';
import { namedCollection } from './named-collection.js';
import type { ByteSink } from '../prom-text.js';
import { portMetrics } from './port-metrics.js';
import { RateTracker } from '../rate-tracker.js';

const meta = <T extends z.ZodType>(s: T, id: string, description: string): T => s.meta({ id, description });

export const VpcPut = meta(vpcSchema.omit({ name: true }), 'VpcPut', 'cidr; vni (default: allocated)');
export const SubnetPut = meta(
  subnetSchema.omit({ name: true }),
  'SubnetPut',
  'vpc, cidr; gateway (default: first host)',
);
export const SecurityGroupPut = meta(
  securityGroupSchema.omit({ name: true }),
  'SecurityGroupPut',
  'rules: allow rules, stateful',
);
export const PortPut = meta(portSchema.omit({ name: true }), 'PortPut', 'subnet, ip; mac, securityGroups');
export const RoutePut = meta(routeSchema, 'RoutePut', 'vpc, prefix, target ({ port }, { host, mac } or blackhole)');

const VpcView = z.object({
  cidr: z.string(),
  vni: z.number().int(),
  routerMac: z.string(),
  subnets: z.array(z.string()),
});
const SubnetView = z.object({ vpc: z.string(), cidr: z.string(), gateway: z.string() });
const GroupView = z.object({ rules: z.array(z.record(z.string(), z.unknown())) });
const PortView = z.object({
  vpc: z.string(),
  subnet: z.string(),
  ip: z.string(),
  mac: z.string(),
  securityGroups: z.array(z.string()),
  attached: z.string().nullable().meta({ description: 'the guest whose virtio-net device it is, if attached' }),
  traffic: z
    .object({
      inPackets: z.number(),
      inBytes: z.number(),
      outPackets: z.number(),
      outBytes: z.number(),
      outDrops: z.number(),
    })
    .nullable()
    .meta({ description: 'switch counters (in: from the guest), null while not on the switch' }),
});
const RouteView = z.object({ vpc: z.string(), prefix: z.string(), target: z.string() });

/**
 * The network of the host (`host.network`) as five named collections: `/vpcs`, `/subnets`,
 * `/security-groups`, `/ports` and `/routes` (a route is named by the daemon; its key in the
 * network is its VPC and prefix). Each is PUT/GET/DELETE with idempotent PUT. A VM's port gets
 * its virtio-net device when a VM device refers to it; its switch counters are in `/metrics`.
 */
export class NetworkResource implements DaemonResource {
  readonly name = 'network';
  private host: Host | null = null;
  private routes = new Map<string, unknown>();
  private used = false;
  private readonly rates = new RateTracker();

  register({ host, api }: DaemonContext): void {
    this.host = host;
    // host.network is made on first use (it takes memory): reads before any change see nothing.
    const net = (): HostNetwork => {
      this.used = true;
      return host.network;
    };
    const empty = { vpcs: [], subnets: [], securityGroups: [], ports: [], routes: [] };
    const list = (): Pick<ReturnType<HostNetwork['list']>, keyof typeof empty> =>
      this.used ? host.network.list() : empty;
    namedCollection(api, {
      path: '/vpcs',
      tag: this.name,
      noun: 'VPC',
      body: VpcPut,
      view: VpcView,
      list: () => list().vpcs.map(({ name, ...v }) => ({ name, view: v })),
      create: (name, spec) => void net().createVpc({ name, ...spec }),
      remove: (name) => net().deleteVpc(name),
    });
    namedCollection(api, {
      path: '/subnets',
      tag: this.name,
      noun: 'subnet',
      body: SubnetPut,
      view: SubnetView,
      list: () => list().subnets.map(({ name, ...v }) => ({ name, view: v })),
      create: (name, spec) => void net().createSubnet({ name, ...spec }),
      remove: (name) => net().deleteSubnet(name),
    });
    namedCollection(api, {
      path: '/security-groups',
      tag: this.name,
      noun: 'security group',
      body: SecurityGroupPut,
      view: GroupView,
      list: () =>
        list().securityGroups.map(({ name, rules }) => ({ name, view: { rules: rules.map((r) => ({ ...r })) } })),
      create: (name, spec) => void net().createSecurityGroup({ name, ...spec }),
      remove: (name) => net().deleteSecurityGroup(name),
    });
    namedCollection(api, {
      path: '/ports',
      tag: this.name,
      noun: 'port',
      body: PortPut,
      view: PortView,
      list: () =>
        list()
          .ports.filter((p) => p.kind === 'vm')
          .map((p) => {
            const s = net().portStats(p.name);
            return {
              name: p.name,
              view: {
                vpc: p.vpc,
                subnet: p.subnet,
                ip: p.ip,
                mac: p.mac,
                securityGroups: p.securityGroups,
                attached: p.attached ?? null,
                traffic: s
                  ? {
                      inPackets: s.inPackets,
                      inBytes: s.inBytes,
                      outPackets: s.outPackets,
                      outBytes: s.outBytes,
                      outDrops: s.outDrops,
                    }
                  : null,
              },
            };
          }),
      create: (name, spec) => void net().createPort({ name, ...spec }),
      remove: (name) => net().deletePort(name),
    });
    this.routes = namedCollection(api, {
      path: '/routes',
      tag: this.name,
      noun: 'route',
      body: RoutePut,
      view: RouteView,
      list: () => {
        const all = list().routes;
        const out: { name: string; view: z.infer<typeof RouteView> }[] = [];
        for (const [name, spec] of this.routes) {
          const s = spec as z.output<typeof RoutePut>;
          const r = all.find((x) => x.vpc === s.vpc && x.prefix === s.prefix);
          if (r) out.push({ name, view: { vpc: r.vpc, prefix: r.prefix, target: r.target } });
        }
        return out;
      },
      create: (_name, spec) => void net().addRoute(spec),
      remove: (name) => {
        const s = this.routes.get(name) as z.output<typeof RoutePut>;
        net().removeRoute(s.vpc, s.prefix);
      },
    });
  }

  writeMetrics(page: ByteSink): void {
    portMetrics(this.used ? this.host!.network : null, page);
  }

  live(): unknown {
    const s = this.used ? this.host!.network.stats() : null;
    const ports: Record<string, Record<string, number>> = {};
    for (const [name, p] of Object.entries(s?.ports ?? {})) {
      const [inBps = 0, outBps = 0] = this.rates.rates(name, [p.inBytes, p.outBytes]);
      ports[name] = {
        inBytes: p.inBytes,
        outBytes: p.outBytes,
        inPackets: p.inPackets,
        outPackets: p.outPackets,
        inBytesPerSecond: inBps,
        outBytesPerSecond: outBps,
      };
    }
    this.rates.sweep();
    return { ports, flows: s?.switch.flows ?? 0 };
  }
}
