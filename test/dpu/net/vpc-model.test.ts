import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, isQingtianError } from '../../../src/common/errors.js';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { formatMac } from '../../../src/dpu/net/mac-address.js';
import { VpcModel, type ModelChange } from '../../../src/dpu/net/vpc-model.js';

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isQingtianError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

let model: VpcModel;
afterEach(() => model?.dispose());

function base(): VpcModel {
  model = new VpcModel({ seed: 1 });
  model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
  model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
  return model;
}

describe('VPC model: validation at the boundary', () => {
  it('refuses unknown keys, bad names, malformed prefixes and host bits, naming the field', () => {
    model = new VpcModel({});
    expect(code(() => model.createVpc({ name: 'a', cidr: '10.0.0.0/8', colour: 'red' } as never))).toMatch(
      /^QT_INVALID_ARGUMENT: vpc.*colour/,
    );
    expect(code(() => model.createVpc({ name: '-x', cidr: '10.0.0.0/8' }))).toMatch(/vpc\.name: expected a name/);
    expect(code(() => model.createVpc({ name: 'a', cidr: '10.0.0.1/8' }))).toMatch(
      /vpc\.cidr: expected an IPv4 prefix .*got "10\.0\.0\.1\/8"/,
    );
    expect(code(() => model.createVpc({ name: 'a', cidr: '10.0.0.0/33' }))).toMatch(/vpc\.cidr/);
    expect(code(() => model.createVpc({ name: 'a', cidr: '10.0.0.0/8', vni: 0 }))).toMatch(
      /vpc\.vni: expected an integer in \[1, 16777215\], got 0/,
    );
  });

  it('keeps subnets inside their VPC and apart, with a gateway that is a host address', () => {
    base();
    expect(code(() => model.createSubnet({ name: 'x', vpc: 'blue', cidr: '198.20.0.0/24' }))).toMatch(
      /subnet\.cidr: expected .*outside VPC 'blue'/,
    );
    expect(code(() => model.createSubnet({ name: 'x', vpc: 'blue', cidr: '198.19.0.0/20' }))).toMatch(
      /overlaps subnet 'web'/,
    );
    expect(
      code(() => model.createSubnet({ name: 'x', vpc: 'blue', cidr: '198.19.2.0/24', gateway: '198.19.2.255' })),
    ).toMatch(/subnet\.gateway: expected a host address/);
    expect(code(() => model.createSubnet({ name: 'x', vpc: 'nope', cidr: '198.19.2.0/24' }))).toMatch(
      /QT_NOT_FOUND: subnet\.vpc: no VPC "nope"/,
    );
    const s = model.createSubnet({ name: 'db', vpc: 'blue', cidr: '198.19.2.0/24' });
    expect(s.gateway).toBe(parseIPv4('198.19.2.1'));
    expect(code(() => model.createSubnet({ name: 'db', vpc: 'blue', cidr: '198.19.3.0/24' }))).toMatch(
      /subnet\.name: expected a name not in use/,
    );
  });

  it('gives ports unique addresses and MACs in their VPC, never the gateway or the router MAC', () => {
    base();
    const a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
    expect(Math.floor(a.mac / 2 ** 40) & 3).toBe(2);
    expect(code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.10' }))).toMatch(
      /port\.ip: expected .*already port 'a''s/,
    );
    expect(code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.1' }))).toMatch(
      /other than its gateway/,
    );
    expect(code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.2.5' }))).toMatch(
      /a host address of subnet 'web'/,
    );
    expect(
      code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.11', mac: formatMac(a.mac) })),
    ).toMatch(/port\.mac: .*already port 'a'/);
    const router = formatMac(model.vpc('blue').routerMac);
    expect(code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.11', mac: router }))).toMatch(
      /the router/,
    );
    expect(
      code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.11', mac: '01:00:5e:00:00:01' })),
    ).toMatch(/a unicast MAC/);
    expect(
      code(() => model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.11', securityGroups: ['none'] })),
    ).toMatch(/QT_NOT_FOUND: securityGroups\[0\]: no security group "none"/);
    expect(model.portByIp(model.vpc('blue'), parseIPv4('198.19.1.10'))).toBe(a);
    expect(model.portByMac(model.vpc('blue'), a.mac)).toBe(a);
  });

  it('hangs sub-ports off VM ports by unique VLAN id', () => {
    base();
    model.createSubnet({ name: 'ctr', vpc: 'blue', cidr: '198.19.9.0/24' });
    const vm = model.createPort({ name: 'vm', subnet: 'web', ip: '198.19.1.10' });
    const s = model.createSubPort({ name: 'c1', parent: 'vm', vlan: 10, subnet: 'ctr', ip: '198.19.9.10' });
    expect(s.parent).toBe(vm);
    expect(vm.subPorts.get(10)).toBe(s);
    expect(
      code(() => model.createSubPort({ name: 'c2', parent: 'vm', vlan: 10, subnet: 'ctr', ip: '198.19.9.11' })),
    ).toMatch(/subPort\.vlan: expected .*already sub-port 'c1'/);
    expect(
      code(() => model.createSubPort({ name: 'c2', parent: 'c1', vlan: 11, subnet: 'ctr', ip: '198.19.9.11' })),
    ).toMatch(/subPort\.parent: expected a VM port, got sub port 'c1'/);
    expect(
      code(() => model.createSubPort({ name: 'c2', parent: 'vm', vlan: 4095, subnet: 'ctr', ip: '198.19.9.11' })),
    ).toMatch(/subPort\.vlan: expected an integer in \[1, 4094\]/);
    expect(code(() => model.deletePort('vm'))).toMatch(/port 'vm' is in use by sub-port 'c1'/);
    model.deletePort('c1');
    model.deletePort('vm');
  });

  it('refuses to remove what is in use, and reuses freed port ids', () => {
    base();
    model.createSecurityGroup({ name: 'sg', rules: [{ direction: 'ingress', protocol: 'icmp' }] });
    const p = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10', securityGroups: ['sg'] });
    expect(code(() => model.deleteSubnet('web'))).toMatch(/subnet 'web' is in use by port 'a'/);
    expect(code(() => model.deleteVpc('blue'))).toMatch(/vpc 'blue' is in use by subnet 'web'/);
    expect(code(() => model.deleteSecurityGroup('sg'))).toMatch(/in use by port 'a'/);
    model.addRoute({ vpc: 'blue', prefix: '198.18.0.0/24', target: { port: 'a' } });
    expect(code(() => model.deletePort('a'))).toMatch(/in use by the route to 198\.18\.0\.0\/24/);
    model.removeRoute('blue', '198.18.0.0/24');
    const id = p.id;
    model.deletePort('a');
    expect(model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.11' }).id).toBe(id);
    model.deleteSecurityGroup('sg');
  });

  it('checks security-group rules the schema cannot', () => {
    base();
    expect(
      code(() =>
        model.createSecurityGroup({ name: 'g', rules: [{ direction: 'ingress', protocol: 'icmp', ports: [1, 2] }] }),
      ),
    ).toMatch(/securityGroup\.rules\[0\]\.ports: expected no port range for protocol 'icmp'/);
    expect(
      code(() =>
        model.createSecurityGroup({ name: 'g', rules: [{ direction: 'ingress', protocol: 'udp', ports: [9, 2] }] }),
      ),
    ).toMatch(/lo <= hi/);
    expect(
      code(() => model.createSecurityGroup({ name: 'g', rules: [{ direction: 'out' as 'egress', protocol: 'udp' }] })),
    ).toMatch(/securityGroup\.rules\.0\.direction: expected one of 'ingress', 'egress', got "out"/);
    const g = model.createSecurityGroup({ name: 'g' });
    const id = model.addRule('g', { direction: 'egress', protocol: 'tcp', ports: [80, 80], remote: '198.19.0.0/16' });
    expect(g.rules.get(id)).toMatchObject({
      proto: 6,
      ports: [80, 80],
      remote: { addr: parseIPv4('198.19.0.0'), length: 16 },
    });
    model.removeRule('g', id);
    expect(code(() => model.removeRule('g', id))).toMatch(/QT_NOT_FOUND: no rule/);
  });

  it("routes: one per prefix, subnet routes are the model's own, changes are announced", () => {
    base();
    const changes: ModelChange['kind'][] = [];
    model.onChange((c) => changes.push(c.kind));
    model.createTunnel({ name: 't', port: 0 });
    model.createRemoteHost({ name: 'h', tunnel: 't', address: '198.18.0.2' });
    expect(code(() => model.createRemoteHost({ name: 'h2', tunnel: 't', address: '198.18.0.2' }))).toMatch(
      /already remote host 'h'/,
    );
    model.addRoute({ vpc: 'blue', prefix: '198.19.128.0/17', target: { host: 'h', mac: '02:00:00:00:00:99' } });
    model.addRoute({ vpc: 'blue', prefix: '198.19.200.0/24', target: 'blackhole' });
    expect(code(() => model.addRoute({ vpc: 'blue', prefix: '198.19.1.0/24', target: 'blackhole' }))).toMatch(
      /subnet 'web''s own route/,
    );
    expect(code(() => model.addRoute({ vpc: 'blue', prefix: '198.19.200.0/24', target: 'blackhole' }))).toMatch(
      /already has a route/,
    );
    expect(code(() => model.removeRoute('blue', '198.19.1.0/24'))).toMatch(/subnet 'web''s own/);
    expect(code(() => model.addRoute({ vpc: 'blue', prefix: '0.0.0.0/0', target: { port: 'x' } }))).toMatch(
      /route\.target\.port: no port "x"/,
    );
    const blue = model.vpc('blue');
    const r = (ip: string): string | undefined => model.routes.lookup(blue, parseIPv4(ip))?.target.kind;
    expect([r('198.19.1.77'), r('198.19.130.1'), r('198.19.200.9'), r('198.19.5.5')]).toEqual([
      'subnet',
      'remote',
      'blackhole',
      undefined,
    ]);
    expect(changes).toEqual(['routes', 'routes']);
    expect(code(() => model.deleteRemoteHost('h'))).toMatch(/in use by the route/);
  });

  it('keeps VPCs with the same address space apart in the one route table', () => {
    base();
    model.createVpc({ name: 'red', cidr: '198.19.0.0/16' });
    model.createSubnet({ name: 'red-web', vpc: 'red', cidr: '198.19.1.0/25' });
    const blue = model.vpc('blue');
    const red = model.vpc('red');
    const [b, r, r2] = model.routes.lookupBurst(
      [blue, red, red],
      [parseIPv4('198.19.1.200'), parseIPv4('198.19.1.100'), parseIPv4('198.19.1.200')],
    );
    expect(b?.target).toMatchObject({ kind: 'subnet', subnet: { name: 'web' } });
    expect(r?.target).toMatchObject({ kind: 'subnet', subnet: { name: 'red-web' } });
    expect(r2).toBeUndefined();
    expect(code(() => model.createVpc({ name: 'green', cidr: '10.0.0.0/8', vni: red.vni }))).toMatch(
      /VNI \d+ is already VPC 'red''s/,
    );
    expect(ErrorCode.NotFound).toBe('QT_NOT_FOUND');
  });
});
