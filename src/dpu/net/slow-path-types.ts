import type { DropReason } from './flow-actions.js';
import type { Port, RemoteHost, Vpc } from './vpc-resources.js';

/** One upcall as the slow path reads it (decoded from the fast path's upcall record). */
export interface MissedPacket {
  /** The upcall's sequence number (echoed in the answer). */
  seq: number;
  /** Logical ingress port: a VM port, a trunk sub-port, or a tunnel. */
  port: number;
  /** 'miss': no flow; 'l2-mismatch': a flow's CHECK_L2 failed; 'action': an UPCALL action. */
  reason: 'miss' | 'l2-mismatch' | 'action';
  /** The 48-byte flow key the fast path computed (with the in-port); installs use it as is. */
  key: Uint8Array;
  /** TCP flags of the packet (0 otherwise). */
  tcpFlags: number;
  /** The frame (a tunnel's: the inner frame). */
  frame: Uint8Array;
  /** Only a prefix of the frame was copied up: it can be decided and installed, not re-injected. */
  truncated: boolean;
  /** From a tunnel: the VNI and the sender's underlay address and UDP port. */
  tunnel?: { vni: number; address: number; port: number } | undefined;
}

/** Where a packet entered, logically: a local or remote port, or a remote host routing into a VPC. */
export type Ingress = { kind: 'port'; port: Port } | { kind: 'host'; host: RemoteHost; vpc: Vpc };

/** Where it goes: a port (local or remote), or a remote host's router. */
export type Egress = { kind: 'port'; port: Port } | { kind: 'host'; host: RemoteHost; vpc: Vpc; mac: number };

/** Conntrack zone and cookie half of an ingress or egress: the port id, or 0x10000 + host id. */
export function zoneOf(x: Ingress | Egress): number {
  return x.kind === 'port' ? x.port.id : 0x10000 + x.host.id;
}

/** A flow cookie's half for an ingress or egress: the logical port id, 0 for a remote host. */
export function cookieHalf(x: Ingress | Egress): number {
  return x.kind === 'port' ? x.port.id : 0;
}

/** The datapath port a packet to `e` leaves by: the port itself, or its tunnel. */
export function outPortOf(e: Egress): number {
  if (e.kind === 'host') return e.host.tunnel.id;
  return e.port.host ? e.port.host.tunnel.id : e.port.id;
}

/**
 * The slow path's counters: upcalls taken, flows installed, packets re-injected, ARP answers,
 * connections opened, truncated upcalls, model changes revalidated.
 */
export type SlowPathCounterName =
  'upcalls' | 'installed' | 'reinjected' | 'arpReplies' | 'connections' | 'truncated' | 'revalidations';

/** What the slow path decided, counted: {@link NetworkStats}.slowPath. */
export interface SlowPathStats {
  /** Upcalls, installs, re-injections, ARP replies, connections, truncated frames, revalidations. */
  counters: Record<SlowPathCounterName, number>;
  /** Packets the slow path dropped itself, by reason (the fast path's own are in the switch's). */
  drops: Record<DropReason, number>;
  /** Connections tracked now. */
  connections: number;
}
