import * as V from '../../generated/vsock.js';
import type { QueueStats } from '../virtio/device-queue.js';
import type { VsockEndpointStats } from '../../common/vsock/vsock-endpoint.js';
import { STATUS_DEVICE_NEEDS_RESET } from '../../generated/virtio.js';

/** A vsock device's statistics, read out of band from its state regions. */
export interface VsockStats {
  needsReset: boolean;
  /** Which queue broke the device ('rx', 'tx', 'event'), or null while healthy. */
  brokenQueue: 'rx' | 'tx' | 'event' | null;
  guestCid: number;
  txChains: number;
  rxChains: number;
  eventsSent: number;
  /** Chains returned unused: rejected by the ring checks or by the vsock buffer rules (V4, V17, V18). */
  rxRejected: number;
  txRejected: number;
  /** The host side's endpoint counters (packets, bytes, RSTs, bad-input counts by kind). */
  endpoint: VsockEndpointStats;
  queues: { rx: QueueStats; tx: QueueStats; event: QueueStats };
}

const QUEUE_NAMES = ['rx', 'tx', 'event'] as const;

export function readVsockStats(
  v: DataView,
  s: number,
  qs: [QueueStats, QueueStats, QueueStats],
  endpoint: VsockEndpointStats,
): VsockStats {
  const n = (off: number): number => Number(v.getBigUint64(s + off, true));
  const broken = v.getUint32(s + V.VS_BROKEN_QUEUE, true);
  return {
    needsReset: (v.getUint32(s + V.VS_STATUS, true) & STATUS_DEVICE_NEEDS_RESET) !== 0,
    brokenQueue: broken === 0 ? null : (QUEUE_NAMES[broken - 1] ?? null),
    guestCid: n(V.VS_CONFIG),
    txChains: n(V.VS_TX_CHAINS),
    rxChains: n(V.VS_RX_CHAINS),
    eventsSent: n(V.VS_EVENTS_SENT),
    rxRejected: n(V.VS_RX_REJECTED),
    txRejected: n(V.VS_TX_REJECTED),
    endpoint,
    queues: { rx: qs[0], tx: qs[1], event: qs[2] },
  };
}
