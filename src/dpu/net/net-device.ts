import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { ringFeatures } from '../../common/virtio/features.js';
import type { NetBackendApi } from '../../common/virtio/net-backend-api.js';
import {
  FEAT_EVENT_IDX,
  FEAT_INDIRECT_DESC,
  FEAT_RING_PACKED,
  FEAT_VERSION_1,
  STATUS_DEVICE_NEEDS_RESET,
} from '../../generated/virtio.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { DeviceQueue, type QueueStats } from '../virtio/device-queue.js';
import { macBytes, macString } from './net-address.js';
import { NET_BAD_INPUT_INDEX, netConfigSpace } from './net-config.js';
import {
  NETD_BAD,
  NETD_CONFIG_IRQ,
  NETD_CTRL_COMMANDS,
  NETD_CTRL_ERRORS,
  NETD_CTRL_VQ,
  NETD_CUR_PAIRS,
  NETD_FEATURES,
  NETD_LAYOUT,
  NETD_LINK_STATUS,
  NETD_MAC,
  NETD_MAGIC,
  NETD_MAX_PAIRS,
  NETD_MTU,
  NETD_QSTATS,
  NETD_QUEUES,
  NETD_RX_MODE,
  NETD_STATE_BYTES,
  NETD_STATUS,
  NET_F_CSUM,
  NET_F_CTRL_MAC_ADDR,
  NET_F_CTRL_RX,
  NET_F_CTRL_RX_EXTRA,
  NET_F_CTRL_VLAN,
  NET_F_CTRL_VQ,
  NET_F_GUEST_ANNOUNCE,
  NET_F_GUEST_CSUM,
  NET_F_HOST_TSO4,
  NET_F_HOST_TSO6,
  NET_F_MAC,
  NET_F_MQ,
  NET_F_MRG_RXBUF,
  NET_F_MTU,
  NET_F_STATUS,
  NET_QS_BYTES,
  NET_QS_RX_BUFFERS,
  NET_QS_RX_BYTES,
  NET_QS_RX_CSUM_PARTIAL,
  NET_QS_RX_DROPS,
  NET_QS_RX_ERRORS,
  NET_QS_RX_FILTERED,
  NET_QS_RX_PACKETS,
  NET_QS_TX_BYTES,
  NET_QS_TX_CSUM,
  NET_QS_TX_ERRORS,
  NET_QS_TX_PACKETS,
  NET_QS_TX_TSO,
  NET_S_LINK_UP,
} from './net-layout.js';

export interface NetDeviceOptions {
  /** Device name (also the owner of its regions). */
  name: string;
  /** The device's MAC, "02:00:00:00:00:01". */
  mac: string;
  /** MTU, 68-65535 (the config space's mtu). Default 1500. */
  mtu?: number;
  /** Queue pairs offered (max_virtqueue_pairs), 1-16; MQ is offered when above 1. Default 1. */
  queuePairs?: number;
  /** Largest queue size a driver may configure, 2-32768. Default 1024. */
  maxQueueSize?: number;
}

const optionsSchema = z.strictObject({
  name: nameString(48),
  mac: z.string(),
  mtu: intIn(68, 65535).optional(),
  queuePairs: intIn(1, 16).optional(),
  maxQueueSize: intIn(2, 32768).optional(),
});

/** Counters of one receive/transmit queue pair of a virtio-net device. */
export interface NetQueuePairStats {
  rx: {
    packets: number;
    bytes: number;
    drops: number;
    filtered: number;
    buffers: number;
    errors: number;
    csumPartial: number;
  };
  tx: { packets: number; bytes: number; errors: number; tso: number; csum: number };
}

/** A virtio-net device's traffic summed over its queue pairs: {@link NetDevice.traffic}. */
export interface NetTraffic {
  rxPackets: number;
  rxBytes: number;
  /** Frames for the guest dropped (no receive buffer, filtered, too big for the buffers). */
  rxDrops: number;
  /** Guest receive buffers refused. */
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  /** Guest transmit requests refused. */
  txErrors: number;
}

/** A virtio-net device's counters: {@link NetDevice.stats}. */
export interface NetDeviceStats {
  needsReset: boolean;
  /** Bad inputs seen, by id (H1, H2, ..., RING for chains the ring layer refused). */
  badInput: Record<string, number>;
  ctrl: { commands: number; errors: number };
  pairs: NetQueuePairStats[];
  queues: QueueStats[];
}

const bit = (n: number): bigint => 1n << BigInt(n);

/**
 * A virtio-net device (virtio 1.2 §5.1) whose data path runs in the vSwitch job on a DPU core:
 * the switch pops its TX queues, delivers into its RX queues and serves its control queue. This
 * class is the backend's control side (features, config space, queue setup, reset, statistics),
 * played by the in-process guest's setup code as a VMM would on virtio-pci register writes.
 *
 * Queue numbering (§5.1.2): receiveq(k) = 2k, transmitq(k) = 2k + 1, controlq = 2 · pairs.
 */
export class NetDevice implements NetBackendApi {
  readonly name: string;
  readonly state: StateRegion;
  readonly maxPairs: number;
  readonly configIrq: number;
  readonly rx: DeviceQueue[] = [];
  readonly tx: DeviceQueue[] = [];
  readonly ctrl: DeviceQueue;
  private negotiated: bigint | null = null;

  constructor(
    private readonly rt: KernelRuntime,
    readonly guest: GuestMemoryView,
    options: NetDeviceOptions,
  ) {
    const o = parseArgs(optionsSchema, options, 'NetDevice options');
    const mac = macBytes(o.mac);
    this.name = o.name;
    this.maxPairs = o.queuePairs ?? 1;
    const maxSize = o.maxQueueSize ?? 1024;
    const mem = rt.memory;
    this.state = mem.allocState({
      name: `${o.name}:netd`,
      owner: o.name,
      kind: 'device-state',
      magic: NETD_MAGIC,
      layoutVersion: NETD_LAYOUT,
      payloadBytes: NETD_STATE_BYTES - 64,
    });
    for (let k = 0; k < this.maxPairs; k++) {
      this.rx.push(new DeviceQueue(rt, guest, `${o.name}:rx${k}`, { maxSize, irqAddr: guest.allocIrq() }));
      this.tx.push(new DeviceQueue(rt, guest, `${o.name}:tx${k}`, { maxSize, irqAddr: guest.allocIrq() }));
    }
    this.ctrl = new DeviceQueue(rt, guest, `${o.name}:ctrl`, { maxSize: 64, irqAddr: guest.allocIrq() });
    this.configIrq = guest.allocIrq();
    const v = mem.view;
    const b = this.state.base;
    v.setUint32(b + NETD_CONFIG_IRQ, this.configIrq, true);
    v.setUint16(b + NETD_MAX_PAIRS, this.maxPairs, true);
    v.setUint16(b + NETD_CUR_PAIRS, 1, true);
    v.setUint16(b + NETD_MTU, o.mtu ?? 1500, true);
    v.setUint16(b + NETD_LINK_STATUS, NET_S_LINK_UP, true);
    mem.u8.set(mac, b + NETD_MAC);
    for (let k = 0; k < this.maxPairs; k++) {
      v.setUint32(b + NETD_QUEUES + 8 * k, this.rx[k]!.state.base, true);
      v.setUint32(b + NETD_QUEUES + 8 * k + 4, this.tx[k]!.state.base, true);
    }
  }

  /** Feature bits the device offers (GET_FEATURES). */
  features(): bigint {
    let f =
      bit(FEAT_VERSION_1) |
      bit(FEAT_INDIRECT_DESC) |
      bit(FEAT_EVENT_IDX) |
      bit(FEAT_RING_PACKED) |
      bit(NET_F_CSUM) |
      bit(NET_F_GUEST_CSUM) |
      bit(NET_F_MTU) |
      bit(NET_F_MAC) |
      bit(NET_F_HOST_TSO4) |
      bit(NET_F_HOST_TSO6) |
      bit(NET_F_MRG_RXBUF) |
      bit(NET_F_STATUS) |
      bit(NET_F_CTRL_VQ) |
      bit(NET_F_CTRL_RX) |
      bit(NET_F_CTRL_VLAN) |
      bit(NET_F_CTRL_RX_EXTRA) |
      bit(NET_F_GUEST_ANNOUNCE) |
      bit(NET_F_CTRL_MAC_ADDR);
    if (this.maxPairs > 1) f |= bit(NET_F_MQ);
    return f;
  }

  /**
   * SET_FEATURES: refuses bits the device did not offer and a driver without VERSION_1 (the
   * device speaks virtio 1.x only, with no legacy interface). Only before the queues are set up.
   */
  negotiate(driverFeatures: bigint): void {
    const extra = driverFeatures & ~this.features();
    if (extra !== 0n)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name} features: expected a subset of 0x${this.features().toString(16)}, got 0x${driverFeatures.toString(16)} (bits 0x${extra.toString(16)} not offered)`,
      );
    if ((driverFeatures & bit(FEAT_VERSION_1)) === 0n)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name} features: VIRTIO_F_VERSION_1 (bit 32) is required`,
      );
    if (this.rx.some((q) => q.config) || this.tx.some((q) => q.config))
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.name}: features are fixed once queues are set up; reset first`,
      );
    const ctrlBits =
      bit(NET_F_CTRL_RX) |
      bit(NET_F_CTRL_VLAN) |
      bit(NET_F_CTRL_RX_EXTRA) |
      bit(NET_F_GUEST_ANNOUNCE) |
      bit(NET_F_MQ) |
      bit(NET_F_CTRL_MAC_ADDR);
    if ((driverFeatures & ctrlBits) !== 0n && (driverFeatures & bit(NET_F_CTRL_VQ)) === 0n)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name} features: control-queue features need VIRTIO_NET_F_CTRL_VQ (bit 17)`,
      );
    this.negotiated = driverFeatures;
    this.rt.memory.view.setBigUint64(this.state.base + NETD_FEATURES, driverFeatures, true);
  }

  get driverFeatures(): bigint | null {
    return this.negotiated;
  }

  /** Pairs a driver may use: max_virtqueue_pairs with MQ, else 1. */
  get usablePairs(): number {
    return this.negotiated !== null && (this.negotiated & bit(NET_F_MQ)) !== 0n ? this.maxPairs : 1;
  }

  /** The virtqueue index of the control queue (§5.1.2). */
  get ctrlIndex(): number {
    return 2 * this.usablePairs;
  }

  /** SET_VRING_*: configures virtqueue `index` (refusals name the bad-input id, A1-A4). */
  setQueue(index: number, config: { size: number; descGpa: bigint; driverGpa: bigint; deviceGpa: bigint }): void {
    const f = this.negotiated;
    if (f === null)
      throw new QingtianError(ErrorCode.DeviceState, `${this.name}: negotiate features before setting up queues`);
    const cfg = { ...config, features: ringFeatures(f) };
    const q = this.queueAt(index);
    q.configure(cfg);
    if (q === this.ctrl) this.rt.memory.view.setUint32(this.state.base + NETD_CTRL_VQ, this.ctrl.state.base, true);
  }

  /** The interrupt word of virtqueue `index`. */
  queueIrq(index: number): number {
    return this.queueAt(index).irqAddr;
  }

  private queueAt(index: number): DeviceQueue {
    const pairs = this.usablePairs;
    if (Number.isInteger(index) && index >= 0 && index < 2 * pairs) return (index & 1 ? this.tx : this.rx)[index >> 1]!;
    const hasCtrl = this.negotiated !== null && (this.negotiated & bit(NET_F_CTRL_VQ)) !== 0n;
    if (hasCtrl && index === 2 * pairs) return this.ctrl;
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${this.name} queue index: expected an integer in [0, ${2 * pairs - (hasCtrl ? 0 : 1)}], got ${index}`,
    );
  }

  /** GET_CONFIG: `len` bytes of the device configuration space (§5.1.4) from `offset`. */
  configRead(offset: number, len: number): Uint8Array {
    const v = this.rt.memory.view;
    const b = this.state.base;
    const space = netConfigSpace({
      mac: this.rt.memory.u8.slice(b + NETD_MAC, b + NETD_MAC + 6),
      status: v.getUint16(b + NETD_LINK_STATUS, true),
      maxPairs: this.maxPairs,
      mtu: v.getUint16(b + NETD_MTU, true),
    });
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 0 || offset + len > space.length)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name} config read: expected a range inside [0, ${space.length}), got [${offset}, +${len})`,
      );
    return space.slice(offset, offset + len);
  }

  /** SET_CONFIG: the virtio-net configuration is read-only for a VERSION_1 driver (§5.1.4); refused. */
  configWrite(offset: number, data: Uint8Array): never {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${this.name} config write at ${offset} (${data.length} bytes): the virtio-net configuration space is read-only`,
    );
  }

  get mac(): string {
    const b = this.state.base + NETD_MAC;
    return macString(this.rt.memory.u8.subarray(b, b + 6));
  }

  get needsReset(): boolean {
    return (this.rt.memory.view.getUint32(this.state.base + NETD_STATUS, true) & STATUS_DEVICE_NEEDS_RESET) !== 0;
  }

  /**
   * RESET_DEVICE: every queue unconfigured, the receive filter back to its defaults (own MAC,
   * broadcast, no table, no VLAN filter entries), one pair, DEVICE_NEEDS_RESET cleared. Call it
   * with the device's port taken down (or its switch not running).
   */
  reset(): void {
    for (const q of [...this.rx, ...this.tx, this.ctrl]) q.reset();
    const b = this.state.base;
    const mem = this.rt.memory;
    const mac = mem.u8.slice(b + NETD_MAC, b + NETD_MAC + 6);
    const mtu = mem.view.getUint16(b + NETD_MTU, true);
    mem.u8.fill(0, b + NETD_FEATURES, b + NETD_STATE_BYTES);
    mem.u8.set(mac, b + NETD_MAC);
    mem.view.setUint32(b + NETD_CONFIG_IRQ, this.configIrq, true);
    mem.view.setUint16(b + NETD_MAX_PAIRS, this.maxPairs, true);
    mem.view.setUint16(b + NETD_CUR_PAIRS, 1, true);
    mem.view.setUint16(b + NETD_MTU, mtu, true);
    mem.view.setUint16(b + NETD_LINK_STATUS, NET_S_LINK_UP, true);
    for (let k = 0; k < this.maxPairs; k++) {
      mem.view.setUint32(b + NETD_QUEUES + 8 * k, this.rx[k]!.state.base, true);
      mem.view.setUint32(b + NETD_QUEUES + 8 * k + 4, this.tx[k]!.state.base, true);
    }
    this.negotiated = null;
  }

  /** Receive mode bits as the control queue left them (NET_RXM_*). */
  get rxMode(): number {
    return this.rt.memory.view.getUint16(this.state.base + NETD_RX_MODE, true);
  }

  get curPairs(): number {
    return this.rt.memory.view.getUint16(this.state.base + NETD_CUR_PAIRS, true);
  }

  stats(): NetDeviceStats {
    const v = this.rt.memory.view;
    const b = this.state.base;
    const n = (off: number): number => Number(v.getBigUint64(b + off, true));
    const badInput: Record<string, number> = {};
    for (const [id, i] of Object.entries(NET_BAD_INPUT_INDEX)) badInput[id] = n(NETD_BAD + 8 * i);
    const pairs: NetQueuePairStats[] = [];
    for (let k = 0; k < this.maxPairs; k++) {
      const p = NETD_QSTATS + k * NET_QS_BYTES;
      pairs.push({
        rx: {
          packets: n(p + NET_QS_RX_PACKETS),
          bytes: n(p + NET_QS_RX_BYTES),
          drops: n(p + NET_QS_RX_DROPS),
          filtered: n(p + NET_QS_RX_FILTERED),
          buffers: n(p + NET_QS_RX_BUFFERS),
          errors: n(p + NET_QS_RX_ERRORS),
          csumPartial: n(p + NET_QS_RX_CSUM_PARTIAL),
        },
        tx: {
          packets: n(p + NET_QS_TX_PACKETS),
          bytes: n(p + NET_QS_TX_BYTES),
          errors: n(p + NET_QS_TX_ERRORS),
          tso: n(p + NET_QS_TX_TSO),
          csum: n(p + NET_QS_TX_CSUM),
        },
      });
    }
    return {
      needsReset: this.needsReset,
      badInput,
      ctrl: { commands: n(NETD_CTRL_COMMANDS), errors: n(NETD_CTRL_ERRORS) },
      pairs,
      queues: [...this.rx, ...this.tx, this.ctrl].map((q) => q.stats()),
    };
  }

  /**
   * The packet, byte, drop and error counters of {@link stats} summed over the queue pairs, read
   * out of band without building the rest (rx: to the guest, tx: from it).
   */
  traffic(): NetTraffic {
    const i32 = this.rt.memory.i32;
    const n = (off: number): number => {
      const w = off >> 2;
      return (i32[w]! >>> 0) + (i32[w + 1]! >>> 0) * 2 ** 32;
    };
    const t: NetTraffic = { rxPackets: 0, rxBytes: 0, rxDrops: 0, rxErrors: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
    for (let k = 0; k < this.maxPairs; k++) {
      const p = this.state.base + NETD_QSTATS + k * NET_QS_BYTES;
      t.rxPackets += n(p + NET_QS_RX_PACKETS);
      t.rxBytes += n(p + NET_QS_RX_BYTES);
      t.rxDrops += n(p + NET_QS_RX_DROPS);
      t.rxErrors += n(p + NET_QS_RX_ERRORS);
      t.txPackets += n(p + NET_QS_TX_PACKETS);
      t.txBytes += n(p + NET_QS_TX_BYTES);
      t.txErrors += n(p + NET_QS_TX_ERRORS);
    }
    return t;
  }

  /** Frees the device's regions (its port must be removed first). */
  free(): void {
    const mem = this.rt.memory;
    for (const q of [...this.rx, ...this.tx, this.ctrl]) mem.free(q.state, q.owner);
    mem.free(this.state, this.name);
  }
}
