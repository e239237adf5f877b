import { popVlan, pushVlan } from '../../../src/dpu/net/ethernet.js';
import type { FlowAction } from '../../../src/dpu/net/flow-actions.js';
import { internetChecksum } from '../../../src/dpu/net/ipv4.js';
import { writeMac } from '../../../src/dpu/net/mac-address.js';
import { encodeVxlan } from '../../../src/dpu/net/vxlan-codec.js';

/** Where a frame went after an action list ran: a port, possibly as a VXLAN payload to a VTEP. */
export interface Output {
  port: number;
  frame: Uint8Array;
  vxlan?: { vni: number; dstIp: number; udpPort: number; payload: Uint8Array };
}

/**
 * The action semantics, plainly, for tests that stand in for the fast path: edits apply to the
 * copy each OUTPUT sends, DROP stops, CHECK_L2 stops on a mismatch (the fast path would upcall).
 */
export function runActions(frame: Uint8Array, actions: readonly FlowAction[]): Output[] | 'l2-mismatch' | 'dropped' {
  let f: Uint8Array = frame.slice();
  let encap: { vni: number; dstIp: number; udpPort: number } | undefined;
  const out: Output[] = [];
  for (const a of actions) {
    switch (a.op) {
      case 'check-l2': {
        const dst = f.subarray(0, 6);
        const src = f.subarray(6, 12);
        const mac = (m: Uint8Array): number => m.reduce((v, b) => v * 256 + b, 0);
        if ((a.dst !== 0 && mac(dst) !== a.dst) || (a.src !== 0 && mac(src) !== a.src)) return 'l2-mismatch';
        break;
      }
      case 'pop-vlan':
        f = popVlan(f);
        break;
      case 'push-vlan':
        f = pushVlan(f, a.vlan);
        break;
      case 'set-eth-dst':
        writeMac(f, 0, a.mac);
        break;
      case 'set-eth-src':
        writeMac(f, 6, a.mac);
        break;
      case 'dec-ttl': {
        const ip = 14;
        if (f[ip + 8]! <= 1) return 'dropped';
        f[ip + 8]!--;
        f[ip + 10] = 0;
        f[ip + 11] = 0;
        const sum = internetChecksum(f.subarray(ip, ip + (f[ip]! & 0xf) * 4));
        f[ip + 10] = sum >> 8;
        f[ip + 11] = sum & 0xff;
        break;
      }
      case 'encap-vxlan':
        encap = { vni: a.vni, dstIp: a.dstIp, udpPort: a.udpPort };
        break;
      case 'decap-vxlan':
        break;
      case 'drop':
        return 'dropped';
      case 'output':
        out.push(
          encap
            ? { port: a.port, frame: f.slice(), vxlan: { ...encap, payload: encodeVxlan(encap.vni, f) } }
            : { port: a.port, frame: f.slice() },
        );
        break;
    }
  }
  return out;
}
