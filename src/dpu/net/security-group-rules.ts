import { ErrorCode, QingtianError } from '../../common/errors.js';
import { parsePrefix4 } from '../flow/ip-address.js';
import type { ClassifierRule } from '../flow/classifier-rule.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './ipv4.js';
import type { Port, SgRule } from './vpc-resources.js';
import type { SecurityGroupRule } from './vpc-schemas.js';

const PROTOCOLS = { any: -1, icmp: IPPROTO_ICMP, udp: IPPROTO_UDP, tcp: IPPROTO_TCP } as const;

/** A schema-checked rule → the model's form; refuses combinations the schema cannot see. */
export function compileSgRule(r: SecurityGroupRule, id: number, where: string): SgRule {
  const proto = PROTOCOLS[r.protocol];
  if (r.ports !== undefined) {
    if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP)
      throw invalid(`${where}.ports`, `no port range for protocol '${r.protocol}' (tcp and udp only)`);
    if (r.ports[0] > r.ports[1])
      throw invalid(`${where}.ports`, `a range with lo <= hi, got [${r.ports[0]}, ${r.ports[1]}]`);
  }
  if (r.icmpType !== undefined && proto !== IPPROTO_ICMP)
    throw invalid(`${where}.icmpType`, `no ICMP type for protocol '${r.protocol}'`);
  return {
    id,
    direction: r.direction,
    proto,
    ports: r.ports ?? [0, 65535],
    icmpType: r.icmpType ?? -1,
    remote: parsePrefix4(r.remote ?? '0.0.0.0/0'),
  };
}

/**
 * The classifier rule that lets `rule` admit traffic of `port`: ingress matches packets to the
 * port's address from the remote prefix, egress packets from it to the prefix. The packet parser
 * puts an ICMP message's type << 8 | code where TCP/UDP have the source port.
 */
export function classifierRuleFor(port: Port, rule: SgRule): ClassifierRule {
  const self = { addr: port.ip, length: 32 };
  const c: ClassifierRule =
    rule.direction === 'ingress' ? { src: rule.remote, dst: self } : { src: self, dst: rule.remote };
  if (rule.proto >= 0) c.proto = rule.proto;
  if (rule.proto === IPPROTO_TCP || rule.proto === IPPROTO_UDP) c.dstPorts = rule.ports;
  if (rule.proto === IPPROTO_ICMP && rule.icmpType >= 0) c.srcPorts = [rule.icmpType << 8, (rule.icmpType << 8) | 0xff];
  c.priority = 0;
  return c;
}

function invalid(field: string, what: string): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${what}`, { field });
}
