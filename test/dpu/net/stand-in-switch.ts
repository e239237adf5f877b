import { type SpscRing } from '../../../src/dpu/core/spsc-ring.js';
import { formatIPv4 } from '../../../src/dpu/flow/ip-address.js';
import type { KernelRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import type { Downcall, FlowAction } from '../../../src/dpu/net/flow-actions.js';
import { keyHex, type SlowPath } from '../../../src/dpu/net/slow-path.js';
import type { TunnelSocket } from '../../../src/dpu/net/tunnel-socket.js';
import { decodeVxlan } from '../../../src/dpu/net/vxlan-codec.js';
import { runActions, type Output } from './action-runner.js';
import { missed } from './helpers.js';

/**
 * Stands in for the fast path in tests of the slow path against real peers: a flow map in front
 * of the slow path, the tunnel socket's rings as the tunnel port, and functions as local ports.
 * It does per packet in TS what the fast path does per burst in Wasm; it is a test double only.
 */
export class StandInSwitch {
  readonly flows = new Map<string, FlowAction[]>();
  /** Upcalls made, as [port, ethertype]. */
  readonly upcalls: [number, number][] = [];
  private readonly rx: SpscRing;
  private readonly tx: SpscRing;

  constructor(
    private readonly rt: KernelRuntime,
    private readonly slow: SlowPath,
    private readonly tunnel: { id: number; socket: TunnelSocket },
    private readonly ports: Map<number, (frame: Uint8Array) => void>,
  ) {
    this.rx = tunnel.socket.tio.rx.spsc;
    this.tx = tunnel.socket.tio.tx.spsc;
  }

  /** A frame a local port sends into the switch. */
  send(port: number, frame: Uint8Array, tunnel?: { vni: number; address: number; port: number }): void {
    const pkt = missed(port, frame, tunnel ? { tunnel } : {});
    const hit = this.flows.get(keyHex(pkt.key));
    const r = hit && runActions(frame, hit);
    if (r && r !== 'l2-mismatch') return this.emit(r === 'dropped' ? [] : r);
    this.upcalls.push([port, (frame[12]! << 8) | frame[13]!]);
    this.apply(this.slow.handle([r === 'l2-mismatch' ? { ...pkt, reason: 'l2-mismatch' } : pkt]));
  }

  /** Moves what the tunnel worker received into the switch. Returns datagrams taken. */
  pump(): number {
    const v = this.rt.memory.view;
    const u8 = this.rt.memory.u8;
    const got: { address: number; port: number; payload: Uint8Array }[] = [];
    while (
      this.rx.pop((w) => {
        const at = w * 4;
        const len = v.getUint16(at + 6, true);
        got.push({
          address: v.getUint32(at, false),
          port: v.getUint16(at + 4, true),
          payload: u8.slice(at + 16, at + 16 + len),
        });
      })
    );
    for (const g of got) {
      const d = decodeVxlan(g.payload);
      if ('error' in d) continue;
      this.send(this.tunnel.id, d.inner, { vni: d.vni, address: g.address, port: g.port });
    }
    return got.length;
  }

  private apply(downcalls: Downcall[]): void {
    for (const d of downcalls) {
      if (d.op === 'install' || d.op === 'install-reinject') this.flows.set(keyHex(d.key), d.actions);
      if (d.op === 'flush-all') this.flows.clear();
      if ((d.op === 'install-reinject' || d.op === 'reinject') && d.frame) {
        const r = runActions(d.frame, d.actions);
        if (Array.isArray(r)) this.emit(r);
      }
    }
  }

  private emit(outputs: Output[]): void {
    const v = this.rt.memory.view;
    for (const o of outputs) {
      if (o.port === this.tunnel.id && o.vxlan) {
        const { dstIp, udpPort, payload } = o.vxlan;
        const ok = this.tx.push((w) => {
          const at = w * 4;
          v.setUint32(at, dstIp, false);
          v.setUint16(at + 4, udpPort, true);
          v.setUint16(at + 6, payload.length, true);
          this.rt.memory.u8.set(payload, at + 16);
        });
        if (!ok) throw new Error(`stand-in: TX ring full sending to ${formatIPv4(dstIp)}`);
        this.tunnel.socket.tio.tx.ringBell();
      } else this.ports.get(o.port)?.(o.frame);
    }
  }
}
