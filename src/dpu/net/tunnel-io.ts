import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { CTL_DOORBELL, CTL_SLEEPING } from '../core/core-layout.js';
import {
  NET_TIO_CORE_DOORBELL,
  NET_TIO_CORE_SLEEPING,
  NET_TIO_LAYOUT,
  NET_TIO_MAGIC,
  NET_TIO_RECORD_BYTES,
  NET_TIO_RX_BAD,
  NET_TIO_RX_PACKETS,
  NET_TIO_RX_RING,
  NET_TIO_STATE_BYTES,
  NET_TIO_TX_DROPS_FULL,
  NET_TIO_TX_PACKETS,
  NET_TIO_TX_RING,
  NET_TIO_TX_TOO_BIG,
} from './net-layout.js';
import { NetRing } from './net-ring.js';

export interface TunnelIoStats {
  txPackets: number;
  txDropsFull: number;
  txTooBig: number;
  rxPackets: number;
  rxBad: number;
}

/**
 * A tunnel port's I/O region ('NTIO', assembly/net/tunnel-io.ts): the TX ring (core → socket
 * worker) and the RX ring (worker → core) of one VXLAN tunnel, and the core's doorbell words the
 * worker rings after publishing received datagrams. The socket worker itself is the control
 * plane's; this is the meeting point.
 */
export class TunnelIo {
  readonly region: StateRegion;
  readonly tx: NetRing;
  readonly rx: NetRing;

  constructor(
    private readonly memory: HostMemoryApi,
    readonly name: string,
    readonly owner: string,
    records = 256,
  ) {
    this.tx = new NetRing(memory, `${name}:tx`, owner, records, NET_TIO_RECORD_BYTES);
    this.rx = new NetRing(memory, `${name}:rx`, owner, records, NET_TIO_RECORD_BYTES);
    this.region = memory.allocState({
      name,
      owner,
      kind: 'device-state',
      magic: NET_TIO_MAGIC,
      layoutVersion: NET_TIO_LAYOUT,
      payloadBytes: NET_TIO_STATE_BYTES - 64,
    });
    memory.view.setUint32(this.region.base + NET_TIO_TX_RING, this.tx.base, true);
    memory.view.setUint32(this.region.base + NET_TIO_RX_RING, this.rx.base, true);
  }

  get base(): number {
    return this.region.base;
  }

  /** Tells the worker which core to wake after it publishes RX records (the switch's core). */
  bindCore(controlBase: number): void {
    this.memory.view.setUint32(this.region.base + NET_TIO_CORE_DOORBELL, controlBase + CTL_DOORBELL, true);
    this.memory.view.setUint32(this.region.base + NET_TIO_CORE_SLEEPING, controlBase + CTL_SLEEPING, true);
  }

  /** Worker side, after publishing RX records: wakes the core serving the switch. */
  wakeCore(): void {
    const v = this.memory.view;
    const db = v.getUint32(this.region.base + NET_TIO_CORE_DOORBELL, true);
    if (db === 0) return;
    const i32 = this.memory.i32;
    Atomics.add(i32, db >> 2, 1);
    const sl = v.getUint32(this.region.base + NET_TIO_CORE_SLEEPING, true);
    if (Atomics.load(i32, sl >> 2) !== 0) Atomics.notify(i32, db >> 2, 1);
  }

  stats(): TunnelIoStats {
    const v = this.memory.view;
    const b = this.region.base;
    const n = (o: number): number => Number(v.getBigUint64(b + o, true));
    return {
      txPackets: n(NET_TIO_TX_PACKETS),
      txDropsFull: n(NET_TIO_TX_DROPS_FULL),
      txTooBig: n(NET_TIO_TX_TOO_BIG),
      rxPackets: n(NET_TIO_RX_PACKETS),
      rxBad: n(NET_TIO_RX_BAD),
    };
  }

  free(): void {
    this.tx.free();
    this.rx.free();
    this.memory.free(this.region, this.owner);
  }
}
