import type { WirePort } from './bench-port.js';

export interface TsSwitchSetup {
  tx: WirePort;
  rx: WirePort;
  ramBytes: number;
  macs: { mac: number[]; port: number }[];
  preinstall: number;
  /** The receiver's interrupt word: bumped and notified after a burst delivered anything. */
  rxIrq: number;
}

/**
 * The bench peer: the vSwitch pipeline in plain TypeScript — pop the sender's TX chains, parse
 * Ethernet/IPv4/UDP, look the 5-tuple and ingress port up in a Map, on a miss ask an in-thread
 * slow path (static MAC → port) and install, copy the frame into the receiver's RX buffer behind
 * a virtio-net header, publish both used rings once per burst.
 */
export class TsSwitch {
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly dv: DataView;
  private readonly i32: Int32Array;
  private readonly flows = new Map<string, number>();
  private readonly portOf: Map<string, number>;
  private txNext = 0;
  private txUsedIdx = 0;
  private rxNext = 0;
  private rxUsedIdx = 0;
  hits = 0;
  misses = 0;

  constructor(
    buffer: ArrayBufferLike,
    private readonly w: TsSwitchSetup,
  ) {
    this.u8 = new Uint8Array(buffer);
    this.u16 = new Uint16Array(buffer);
    this.dv = new DataView(buffer);
    this.i32 = new Int32Array(buffer);
    this.portOf = new Map(w.macs.map((m) => [m.mac.join(':'), m.port]));
    // Flows the traffic never hits (the 1M-flows case).
    for (let i = 0; i < w.preinstall; i++)
      this.flows.set(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}>x:1:2:17@0`, 1);
  }

  get size(): number {
    return this.flows.size;
  }

  private hostOf(ramBase: number, gpa: bigint, len: number): number {
    if (gpa < 0n || gpa + BigInt(len) > BigInt(this.w.ramBytes)) return -1;
    return ramBase + Number(gpa);
  }

  private keyOf(f: number, len: number, inPort: number): string | null {
    const { u8, dv } = this;
    if (len < 42 || dv.getUint16(f + 12) !== 0x0800) return null;
    const ip = f + 14;
    const ihl = (u8[ip]! & 15) * 4;
    if (u8[ip]! >> 4 !== 4 || ihl < 20 || dv.getUint16(ip + 2) + 14 > len) return null;
    const proto = u8[ip + 9]!;
    const l4 = ip + ihl;
    const sp = proto === 17 || proto === 6 ? dv.getUint16(l4) : 0;
    const dp = proto === 17 || proto === 6 ? dv.getUint16(l4 + 2) : 0;
    return `${u8[ip + 12]}.${u8[ip + 13]}.${u8[ip + 14]}.${u8[ip + 15]}>${u8[ip + 16]}.${u8[ip + 17]}.${u8[ip + 18]}.${u8[ip + 19]}:${sp}:${dp}:${proto}@${inPort}`;
  }

  /** One burst of up to 64 TX chains. Returns chains taken. */
  burst(): number {
    const { u8, u16, dv, w } = this;
    const tx = w.tx.tx;
    const rx = w.rx.rx;
    const availIdx = Atomics.load(u16, (tx.avail + 2) >> 1);
    const n = Math.min((availIdx - this.txNext) & 0xffff, 64);
    if (n === 0) return 0;
    let rxDone = 0;
    for (let k = 0; k < n; k++) {
      const head = u16[(tx.avail + 4 + 2 * ((this.txNext + k) % tx.size)) >> 1]!;
      const d = tx.desc + 16 * (head % tx.size);
      const gpa = dv.getBigUint64(d, true);
      const len = dv.getUint32(d + 8, true);
      const at = this.hostOf(w.tx.ramBase, gpa, len);
      if (at >= 0 && len > 12) {
        const f = at + 12;
        const flen = len - 12;
        const key = this.keyOf(f, flen, 0);
        if (key !== null) {
          let port = this.flows.get(key);
          if (port === undefined) {
            this.misses++;
            port = this.portOf.get(Array.from(u8.subarray(f, f + 6)).join(':'));
            if (port !== undefined) this.flows.set(key, port);
          } else this.hits++;
          if (port === 1) {
            const rxAvail = Atomics.load(u16, (rx.avail + 2) >> 1);
            if (((rxAvail - this.rxNext) & 0xffff) > 0) {
              const rh = u16[(rx.avail + 4 + 2 * (this.rxNext % rx.size)) >> 1]!;
              const rd = rx.desc + 16 * (rh % rx.size);
              const rgpa = dv.getBigUint64(rd, true);
              const rlen = dv.getUint32(rd + 8, true);
              const to = this.hostOf(w.rx.ramBase, rgpa, rlen);
              let outLen = 0;
              if (to >= 0 && rlen >= len && (dv.getUint16(rd + 12, true) & 2) !== 0) {
                u8.fill(0, to, to + 12);
                dv.setUint16(to + 10, 1, true);
                u8.copyWithin(to + 12, f, f + flen);
                outLen = len;
              }
              const ue = rx.used + 4 + 8 * ((this.rxUsedIdx + rxDone) % rx.size);
              dv.setUint32(ue, rh, true);
              dv.setUint32(ue + 4, outLen, true);
              this.rxNext = (this.rxNext + 1) & 0xffff;
              rxDone++;
            }
          }
        }
      }
      const ue = tx.used + 4 + 8 * ((this.txUsedIdx + k) % tx.size);
      dv.setUint32(ue, head, true);
      dv.setUint32(ue + 4, 0, true);
    }
    this.txNext = (this.txNext + n) & 0xffff;
    this.txUsedIdx = (this.txUsedIdx + n) & 0xffff;
    Atomics.store(u16, (tx.used + 2) >> 1, this.txUsedIdx);
    if (rxDone) {
      this.rxUsedIdx = (this.rxUsedIdx + rxDone) & 0xffff;
      Atomics.store(u16, (rx.used + 2) >> 1, this.rxUsedIdx);
      Atomics.add(this.i32, this.w.rxIrq >> 2, 1);
      Atomics.notify(this.i32, this.w.rxIrq >> 2);
    }
    return n;
  }
}
