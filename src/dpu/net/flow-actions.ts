/**
 * The actions the slow path decides, in the form it reasons about. The data plane's action-list
 * encoder turns a list into the fast path's words (one op per entry, in order); these mirror its
 * ops one for one. Drop reasons are the slow path's own (the fast path only counts them by index).
 */
export type FlowAction =
  | { op: 'output'; port: number }
  | { op: 'drop'; reason: DropReason }
  | { op: 'push-vlan'; vlan: number }
  | { op: 'pop-vlan' }
  | { op: 'set-eth-dst'; mac: number }
  | { op: 'set-eth-src'; mac: number }
  | { op: 'dec-ttl' }
  | { op: 'encap-vxlan'; vni: number; udpPort: number; srcIp: number; dstIp: number }
  | { op: 'decap-vxlan' }
  /** Forward only while the frame's MACs are these (0 = not checked); else it comes back up. */
  | { op: 'check-l2'; src: number; dst: number };

/**
 * Why the slow path dropped a packet, in the order of the switch's drop counters: a DROP action
 * carries the index (< 16), so `stats().switch.drops[i]` counts reason `DROP_REASONS[i]`.
 */
export const DROP_REASONS = [
  'none',
  'spoofed-source',
  'security-group',
  'no-route',
  'blackhole',
  'unknown-destination',
  'unsupported-ethertype',
  'unknown-port',
  'unknown-vlan',
  'tunnel-source',
  'conntrack-invalid',
  'conntrack-full',
  'hairpin',
  'ttl',
] as const;
/** Why the slow path dropped a packet (and why a drop flow it installed drops). */
export type DropReason = (typeof DROP_REASONS)[number];

export function dropCode(reason: DropReason): number {
  return DROP_REASONS.indexOf(reason);
}

/** What the slow path asks of the fast path, one downcall record each. */
export type Downcall =
  | {
      op: 'install' | 'install-reinject';
      /** The upcall answered (its sequence number). */
      seq: number;
      port: number;
      key: Uint8Array;
      actions: FlowAction[];
      cookie: number;
      /** The frame to run the actions on right away (install-reinject). */
      frame?: Uint8Array;
      /** `actions` already in the fast path's encoding (the slow path caches lists it repeats). */
      encoded?: Uint8Array;
    }
  | {
      op: 'reinject';
      seq: number;
      port: number;
      actions: FlowAction[];
      frame: Uint8Array;
      cookie: number;
      encoded?: Uint8Array;
    }
  | { op: 'delete'; key: Uint8Array }
  | { op: 'flush-cookie'; cookie: number; mask: number }
  | { op: 'flush-all' };

/** Cookie of a flow from logical port `inPort` to `outPort` (0 when it goes nowhere). */
export function flowCookie(inPort: number, outPort: number): number {
  return ((inPort << 16) | outPort) >>> 0;
}
