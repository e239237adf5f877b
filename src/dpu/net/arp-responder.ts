import { ARP_REPLY, ARP_REQUEST, arpFrame, type ArpPacket } from './arp.js';
import type { Port } from './vpc-resources.js';
import type { VpcModel } from './vpc-model.js';

export type ArpOutcome = { kind: 'reply'; frame: Uint8Array; mac: number } | { kind: 'drop'; reason: ArpDropReason };

export type ArpDropReason = 'arp-not-request' | 'arp-spoofed' | 'arp-unknown-target' | 'arp-announcement';

/**
 * Answers ARP requests for the addresses the VPC model knows, so that no ARP is ever flooded: a
 * subnet's gateway (the VPC router's MAC) and every port of the requester's subnet, local or
 * remote. The requester must ask from its own MAC and address (anti-spoofing); an RFC 5227 probe
 * (sender address 0) and announcements are taken silently.
 */
export function answerArp(model: VpcModel, from: Port, arp: ArpPacket): ArpOutcome {
  if (arp.op !== ARP_REQUEST) return { kind: 'drop', reason: 'arp-not-request' };
  if (arp.senderMac !== from.mac || (arp.senderIp !== from.ip && arp.senderIp !== 0)) {
    return { kind: 'drop', reason: 'arp-spoofed' };
  }
  if (arp.senderIp === 0 || arp.targetIp === arp.senderIp) return { kind: 'drop', reason: 'arp-announcement' };
  const subnet = from.subnet;
  let mac: number | undefined;
  if (arp.targetIp === subnet.gateway) mac = subnet.vpc.routerMac;
  else {
    const p = model.portByIp(subnet.vpc, arp.targetIp);
    if (p && p.subnet === subnet) mac = p.mac;
  }
  if (mac === undefined) return { kind: 'drop', reason: 'arp-unknown-target' };
  const reply: ArpPacket = {
    op: ARP_REPLY,
    senderMac: mac,
    senderIp: arp.targetIp,
    targetMac: arp.senderMac,
    targetIp: arp.senderIp,
  };
  return { kind: 'reply', frame: arpFrame(reply, { dst: arp.senderMac, src: mac }), mac };
}
