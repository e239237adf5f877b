import { formatIPv4 } from '../flow/ip-address.js';
import type { Action } from './action-list.js';
import { dropCode, type Downcall as SlowDowncall, type FlowAction } from './flow-actions.js';
import { formatMac } from './mac-address.js';
import type { Downcall } from './upcall-record.js';
import { encodeActions } from './action-list.js';

const NO_MAC = '00:00:00:00:00:00';

/** The slow path's actions in the action-list encoder's terms (addresses as text). */
export function toDatapathActions(list: readonly FlowAction[]): Action[] {
  return list.map((a): Action => {
    switch (a.op) {
      case 'output':
      case 'pop-vlan':
      case 'dec-ttl':
      case 'decap-vxlan':
        return a;
      case 'drop':
        return { op: 'drop', reason: dropCode(a.reason) };
      case 'push-vlan':
        return { op: 'push-vlan', vid: a.vlan };
      case 'set-eth-dst':
      case 'set-eth-src':
        return { op: a.op, mac: formatMac(a.mac) };
      case 'encap-vxlan':
        // The socket worker sends the UDP payload; the outer Ethernet addresses are the kernel's.
        return {
          op: 'encap-vxlan',
          vni: a.vni,
          udpPort: a.udpPort,
          srcIp: formatIPv4(a.srcIp),
          dstIp: formatIPv4(a.dstIp),
          srcMac: NO_MAC,
          dstMac: NO_MAC,
        };
      case 'check-l2': {
        const c: Action = { op: 'check-l2' };
        if (a.src !== 0) c.src = formatMac(a.src);
        if (a.dst !== 0) c.dst = formatMac(a.dst);
        return c;
      }
    }
  });
}

/** A slow-path downcall as the downcall ring's writer takes it. */
export function toDatapathDowncall(
  d: SlowDowncall,
  extra?: { netHdr?: Uint8Array | undefined; flags?: number | undefined },
): Downcall {
  switch (d.op) {
    case 'install':
      return {
        op: 'install',
        key: d.key,
        actions: d.encoded ?? encodeActions(toDatapathActions(d.actions)),
        cookie: d.cookie,
      };
    case 'install-reinject':
    case 'reinject': {
      const out: Downcall = {
        op: d.op,
        actions: d.encoded ?? encodeActions(toDatapathActions(d.actions)),
        cookie: d.cookie,
        port: d.port,
        frame: d.frame!,
        seq: d.seq,
      };
      if (d.op === 'install-reinject') out.key = d.key;
      if (extra?.netHdr) out.netHdr = extra.netHdr;
      if (extra?.flags !== undefined) out.flags = extra.flags;
      return out;
    }
    case 'delete':
      return d;
    case 'flush-cookie':
      return d.mask === 0xffffffff
        ? { op: 'flush-cookie', cookie: d.cookie }
        : { op: 'flush-masked', terms: [{ cookie: d.cookie, mask: d.mask }] };
    case 'flush-all':
      return d;
  }
}
