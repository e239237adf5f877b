import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { featureWord } from '../../common/virtio/features.js';
import { intIn, parseArgs } from '../../common/validate.js';
import {
  DEV_PAYLOAD,
  FEAT_EVENT_IDX,
  FEAT_INDIRECT_DESC,
  FEAT_IN_ORDER,
  FEAT_RING_PACKED,
  FEAT_VERSION_1,
  CC_BYTES,
  CC_COUNT,
  CC_PUSHED,
  LBF_STAMP,
  LB_BUDGET,
  LB_BURST,
  LB_BYTES,
  LB_CURSOR,
  LB_FLAGS,
  LB_LAYOUT,
  LB_MAX_BURST,
  LB_REJECTED,
  LB_REQUESTS,
  LB_STATE_BYTES,
  VQ_MAX_SEGS,
  WB_WORK,
} from '../../generated/virtio.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { parseQueueConfig, type DeviceQueue, type QueueConfig, type QueueStats } from './device-queue.js';
import { VirtioBackend, type BackendStats } from './virtio-backend.js';
import {
  DEFAULT_TURN_BYTES,
  DEFAULT_TURN_DESCS,
  readWorkStats,
  turnLimitSchemas,
  writeTurnLimits,
  type WorkStats,
} from './work-budget.js';

/** Options of {@link LoopbackDevice}. */
export interface LoopbackOptions {
  /** Largest queue size the driver may configure, 1–32768. Default 1024. */
  maxQueueSize?: number;
  /** Chains per burst, 1–1024. Default 64. */
  maxBurst?: number;
  /**
   * Stamp each response with the version of the module that served it: bytes 8..11 of the first
   * writable buffer (when it has 12 bytes) carry QT_VERSION (major << 16 | minor << 8 | patch)
   * instead of the echoed bytes. For hot-swap audits. Default false.
   */
  stampVersion?: boolean;
  /**
   * Bytes one turn of the device's job may echo, 0 (no limit) or up to 2^31 - 1; a request
   * bigger than that is echoed over several turns and completes once. Default DEFAULT_TURN_BYTES
   * (64 KiB). Its share of the core is the `weight` of its placement (`start()`).
   */
  turnBytes?: number;
  /**
   * Descriptors one turn's pop may walk before it starts no further chain (a chain is never
   * cut), 0 (no limit) or up to 2^31 - 1. Default DEFAULT_TURN_DESCS (1024).
   */
  turnDescs?: number;
}

/** A loopback device's state and counters, read out of band (the backend's, then its own). */
export interface LoopbackStats extends BackendStats {
  /** Requests echoed. */
  requests: number;
  /** Bytes echoed. */
  bytesEchoed: number;
  /** Chains rejected (each breaks only itself, per the bad-input policy). */
  rejected: number;
  /** Work done, as its core charges it, and requests echoed over more than one turn. */
  work: WorkStats;
  /** Its one queue's state and counters (queues[0]). */
  queue: QueueStats;
}

/** Every ring feature the loopback device offers, with VERSION_1. */
export const LOOPBACK_FEATURES =
  (1n << BigInt(FEAT_VERSION_1)) |
  (1n << BigInt(FEAT_RING_PACKED)) |
  (1n << BigInt(FEAT_EVENT_IDX)) |
  (1n << BigInt(FEAT_INDIRECT_DESC)) |
  (1n << BigInt(FEAT_IN_ORDER));

/** Saved words: requests, bytesEchoed, rejected (u64 each). */
const PAYLOAD_SAVE_BYTES = 24;

/**
 * The loopback virtio device: one queue; each request's readable bytes are echoed into its
 * writable buffers (used.len = bytes written). A VirtioBackend whose kernel is the virtio
 * family's vloop_run / vloop_arm, run as one job on a DPU core. A malformed ring breaks only this
 * device: it sets DEVICE_NEEDS_RESET and raises its config interrupt; everything else keeps
 * running.
 */
export class LoopbackDevice extends VirtioBackend {
  readonly burst: StateRegion;

  constructor(rt: KernelRuntime, guest: GuestMemoryView, name: string, options: LoopbackOptions = {}) {
    const maxQueueSize = parseArgs(intIn(1, 32768).optional(), options.maxQueueSize, 'loopback maxQueueSize') ?? 1024;
    const maxBurst = parseArgs(intIn(1, 1024).optional(), options.maxBurst, 'loopback maxBurst') ?? 64;
    const turnBytes = parseArgs(turnLimitSchemas.turnBytes, options.turnBytes, 'loopback turnBytes');
    const turnDescs = parseArgs(turnLimitSchemas.turnDescs, options.turnDescs, 'loopback turnDescs');
    super(rt, guest, name, {
      magic: 'VLBK',
      layoutVersion: LB_LAYOUT,
      payloadBytes: LB_STATE_BYTES - DEV_PAYLOAD,
      queues: 1,
      maxQueueSize,
      features: LOOPBACK_FEATURES,
      configBytes: 0,
      kernel: 'virtio',
      jobs: [{ entry: 'vloop_run', arm: 'vloop_arm', work: LB_BUDGET + WB_WORK }],
    });
    try {
      this.burst = this.allocBurst(maxBurst, Math.max(VQ_MAX_SEGS, maxBurst * 4));
    } catch (e) {
      this.free();
      throw e;
    }
    const v = this.memory.view;
    v.setUint32(this.state.base + LB_BURST, this.burst.base, true);
    v.setUint32(this.state.base + LB_MAX_BURST, maxBurst, true);
    v.setUint32(this.state.base + LB_FLAGS, options.stampVersion === true ? LBF_STAMP : 0, true);
    writeTurnLimits(v, this.state.base + LB_BUDGET, {
      turnBytes: turnBytes ?? DEFAULT_TURN_BYTES,
      turnDescs: turnDescs ?? DEFAULT_TURN_DESCS,
    });
    const cursor = this.state.base + LB_CURSOR;
    this.queues[0]!.setDeviceHooks({
      // A burst in progress went with the queue's in-flight chains.
      reset: () => this.memory.u8.fill(0, cursor, cursor + CC_BYTES),
      pending: () => {
        const count = this.memory.view.getUint32(cursor + CC_COUNT, true);
        return count === 0 ? 0 : count - this.memory.view.getUint32(cursor + CC_PUSHED, true);
      },
    });
  }

  /** The device's one queue. */
  get queue(): DeviceQueue {
    this.alive('queue');
    return this.queues[0]!;
  }

  /**
   * A driver's whole setup of the one queue: negotiates VERSION_1 plus the ring features of
   * `config` (when they differ from the negotiated ones), then sets up queue 0. Refused with
   * QT_QUEUE_REFUSED naming the bad-input id, and with QT_DEVICE_STATE while started.
   */
  configure(config: QueueConfig): void {
    this.alive('configure');
    const c = parseQueueConfig(config);
    const want = featureWord(c.features);
    if (this.negotiated() !== want) this.negotiate(want);
    this.setQueue(0, { size: c.size, descGpa: c.descGpa, driverGpa: c.driverGpa, deviceGpa: c.deviceGpa });
  }

  override stats(): LoopbackStats {
    const v = this.memory.view;
    const b = this.state.base;
    const base = super.stats();
    return {
      ...base,
      requests: Number(v.getBigUint64(b + LB_REQUESTS, true)),
      bytesEchoed: Number(v.getBigUint64(b + LB_BYTES, true)),
      rejected: Number(v.getBigUint64(b + LB_REJECTED, true)),
      work: readWorkStats(v, b + LB_BUDGET),
      queue: base.queues[0]!,
    };
  }

  protected override savePayload(): Uint8Array {
    return this.memory.u8.slice(this.state.base + LB_REQUESTS, this.state.base + LB_REQUESTS + PAYLOAD_SAVE_BYTES);
  }

  protected override restorePayload(bytes: Uint8Array): void {
    if (bytes.length !== PAYLOAD_SAVE_BYTES)
      throw new QingtianError(
        ErrorCode.BadFormat,
        `${this.name}: loopback snapshot payload: expected ${PAYLOAD_SAVE_BYTES} bytes (three u64 counters), got ${bytes.length}`,
      );
    this.memory.u8.set(bytes, this.state.base + LB_REQUESTS);
  }
}
