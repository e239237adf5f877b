import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { STATUS_DEVICE_NEEDS_RESET } from '../../common/virtio/ring-layout.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { CTL_DOORBELL, CTL_SLEEPING } from '../core/core-layout.js';
import type { DpuCore, Job } from '../core/dpu-core.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { DeviceQueue, type QueueConfig, type QueueStats } from './device-queue.js';
import { BR_LAYOUT, BR_MAGIC, VQ_MAX_SEGS } from './queue-state.js';
import {
  CC_BYTES,
  CC_COUNT,
  CC_PUSHED,
  DEFAULT_TURN_BYTES,
  DEFAULT_TURN_DESCS,
  WB_WORK,
  readWorkStats,
  turnLimitSchemas,
  writeTurnLimits,
  type WorkStats,
} from './work-budget.js';
import { DEFAULT_WEIGHT, MAX_WEIGHT, MIN_WEIGHT } from '../core/fair-share.js';

/** Loopback device state (VLBK) offsets — mirror of assembly/virtio/loopback.ts, checked by a test. */
export const LB_MAGIC = 0x4b424c56;
export const LB_VQ = 64;
export const LB_BURST = 68;
export const LB_STATUS = 72;
export const LB_CONFIG_IRQ = 76;
export const LB_MAX_BURST = 80;
export const LB_FLAGS = 84;
/** Flag: bytes 8..11 of each response carry the serving module's QT_VERSION (which version served it). */
export const LBF_STAMP = 1;
export const LB_REQUESTS = 88;
export const LB_BYTES = 96;
export const LB_REJECTED = 104;
/** The chain cursor (a burst in progress across turns) and the work budget blocks. */
export const LB_CURSOR = 112;
export const LB_BUDGET = 128;
export const LB_STATE_BYTES = 192;
export const LB_LAYOUT = 2;

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
   * bigger than that is echoed over several turns and completes once. Default DEFAULT_TURN_BYTES.
   */
  turnBytes?: number;
  /** Descriptors one turn's pop may walk, 0 (no limit) or up to 2^31 - 1. Default DEFAULT_TURN_DESCS. */
  turnDescs?: number;
  /** The device's share of its core under contention, 1–10000. Default 100 (DEFAULT_WEIGHT). */
  weight?: number;
}

/** A loopback device's state and counters, read out of band. */
export interface LoopbackStats {
  /** DEVICE_NEEDS_RESET is set: a malformed ring broke the device until the driver resets it. */
  needsReset: boolean;
  /** Requests echoed. */
  requests: number;
  /** Bytes echoed. */
  bytesEchoed: number;
  /** Chains rejected (each breaks only itself, per the bad-input policy). */
  rejected: number;
  /** Work done, as its core charges it, and requests echoed over more than one turn. */
  work: WorkStats;
  /** Its queue's state and counters. */
  queue: QueueStats;
}

type Fn<A extends unknown[], R = number> = (...a: A) => R;

/**
 * The loopback virtio device: one queue; each request's readable bytes are echoed into its
 * writable buffers (used.len = bytes written). Runs as a job on a DPU core (entry vloop_run,
 * arm vloop_arm). A malformed ring breaks only this device: it sets DEVICE_NEEDS_RESET and
 * raises its config interrupt; everything else keeps running.
 */
export class LoopbackDevice {
  readonly queue: DeviceQueue;
  readonly state: StateRegion;
  readonly burst: StateRegion;
  readonly configIrq: number;
  private job: Job | null = null;
  private core: DpuCore | null = null;
  private weightValue = DEFAULT_WEIGHT;
  private readonly life = new Lifetime('LoopbackDevice', 'free()');

  constructor(
    private readonly rt: KernelRuntime,
    readonly guest: GuestMemoryView,
    readonly name: string,
    options: LoopbackOptions = {},
  ) {
    const maxQueueSize = parseArgs(intIn(1, 32768).optional(), options.maxQueueSize, 'loopback maxQueueSize') ?? 1024;
    const maxBurst = parseArgs(intIn(1, 1024).optional(), options.maxBurst, 'loopback maxBurst') ?? 64;
    const turnBytes = parseArgs(turnLimitSchemas.turnBytes, options.turnBytes, 'loopback turnBytes');
    const turnDescs = parseArgs(turnLimitSchemas.turnDescs, options.turnDescs, 'loopback turnDescs');
    this.weightValue =
      parseArgs(intIn(MIN_WEIGHT, MAX_WEIGHT).optional(), options.weight, 'loopback weight') ?? DEFAULT_WEIGHT;
    const k = rt.kernel('virtio');
    const mem = rt.memory;
    this.queue = new DeviceQueue(rt, guest, name, { maxSize: maxQueueSize, irqAddr: guest.allocIrq() });
    const segCap = Math.max(VQ_MAX_SEGS, maxBurst * 4);
    this.burst = mem.allocState({
      name: `${name}:burst`,
      owner: name,
      kind: 'device-state',
      magic: BR_MAGIC,
      layoutVersion: BR_LAYOUT,
      payloadBytes: k.fn<Fn<[number, number]>>('vq_burst_bytes')(maxBurst, segCap),
    });
    if (
      k.fn<Fn<[number, number, number, number]>>('vq_burst_init')(
        this.burst.base,
        this.burst.sizeBytes,
        maxBurst,
        segCap,
      ) !== 0
    ) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `loopback: burst buffer for ${maxBurst} chains / ${segCap} segments refused`,
      );
    }
    this.state = mem.allocState({
      name: `${name}:state`,
      owner: name,
      kind: 'device-state',
      magic: LB_MAGIC,
      layoutVersion: LB_LAYOUT,
      payloadBytes: LB_STATE_BYTES,
    });
    this.configIrq = guest.allocIrq();
    const v = mem.view;
    v.setUint32(this.state.base + LB_VQ, this.queue.state.base, true);
    v.setUint32(this.state.base + LB_BURST, this.burst.base, true);
    v.setUint32(this.state.base + LB_CONFIG_IRQ, this.configIrq, true);
    v.setUint32(this.state.base + LB_MAX_BURST, maxBurst, true);
    v.setUint32(this.state.base + LB_FLAGS, options.stampVersion === true ? LBF_STAMP : 0, true);
    this.queue.setDeviceHooks({
      // A burst in progress went with the queue's in-flight chains.
      reset: () => this.rt.memory.u8.fill(0, this.state.base + LB_CURSOR, this.state.base + LB_CURSOR + CC_BYTES),
      pending: () => {
        const b = this.state.base + LB_CURSOR;
        const count = this.rt.memory.view.getUint32(b + CC_COUNT, true);
        return count === 0 ? 0 : count - this.rt.memory.view.getUint32(b + CC_PUSHED, true);
      },
    });
    writeTurnLimits(v, this.state.base + LB_BUDGET, {
      turnBytes: turnBytes ?? DEFAULT_TURN_BYTES,
      turnDescs: turnDescs ?? DEFAULT_TURN_DESCS,
    });
  }

  /** The device's share of its core under contention (1–10000); {@link LoopbackDevice.setWeight} changes it. */
  get weight(): number {
    this.life.check('weight');
    return this.weightValue;
  }

  /** A new share of its core, at once if the device runs. */
  async setWeight(weight: number): Promise<void> {
    this.life.check('setWeight');
    const w = parseArgs(intIn(MIN_WEIGHT, MAX_WEIGHT), weight, 'loopback weight');
    if (this.job && this.core) await this.core.setJobWeight(this.job, w);
    this.weightValue = w;
  }

  /**
   * The driver's queue configuration (refused with QT_QUEUE_REFUSED naming the bad-input id;
   * with QT_DEVICE_STATE while the device is attached to a core).
   */
  configure(config: QueueConfig): void {
    this.life.check('configure');
    this.queue.configure(config);
  }

  /**
   * Runs the device on a DPU core. `budget` = chains per turn; its bytes and descriptors per
   * turn are the options' `turnBytes` and `turnDescs`, its share of the core its `weight`.
   */
  async attach(core: DpuCore, budget = 64): Promise<Job> {
    this.life.check('attach');
    if (this.job)
      throw new QingtianError(ErrorCode.DeviceState, `${this.name}: already attached to core ${this.job.coreId}`);
    const kernel = this.rt.kernel('virtio');
    // Marked before the command: the core may run the job in the very pass that takes it.
    this.queue.setServedBy(core.id);
    try {
      this.job = await core.attachJob({
        kernel,
        entry: 'vloop_run',
        arm: 'vloop_arm',
        state: this.state.base,
        budget,
        weight: this.weightValue,
        workAddr: this.state.base + LB_BUDGET + WB_WORK,
      });
    } catch (e) {
      this.queue.setServedBy(null);
      throw e;
    }
    this.core = core;
    return this.job;
  }

  /** Where the guest must kick this device (the serving core's doorbell and sleeping words). */
  notifyWords(): { doorbell: number; sleeping: number } {
    this.life.check('notifyWords');
    if (!this.core) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: not attached to a core`);
    return { doorbell: this.core.controlBase + CTL_DOORBELL, sleeping: this.core.controlBase + CTL_SLEEPING };
  }

  async detach(): Promise<void> {
    this.life.check('detach');
    if (this.job && this.core) await this.core.detachJob(this.job);
    this.job = null;
    this.core = null;
    this.queue.setServedBy(null);
  }

  /**
   * Device reset (the driver wrote 0 to device status): queue unconfigured, NEEDS_RESET cleared.
   * Refused (QT_DEVICE_STATE) while the device is attached to a core: detach it first.
   */
  reset(): void {
    this.life.check('reset');
    this.queue.reset();
    this.rt.memory.view.setUint32(this.state.base + LB_STATUS, 0, true);
  }

  stats(): LoopbackStats {
    this.life.check('stats');
    const v = this.rt.memory.view;
    const b = this.state.base;
    return {
      needsReset: (v.getUint32(b + LB_STATUS, true) & STATUS_DEVICE_NEEDS_RESET) !== 0,
      requests: Number(v.getBigUint64(b + LB_REQUESTS, true)),
      bytesEchoed: Number(v.getBigUint64(b + LB_BYTES, true)),
      rejected: Number(v.getBigUint64(b + LB_REJECTED, true)),
      work: readWorkStats(v, b + LB_BUDGET),
      queue: this.queue.stats(),
    };
  }

  /** Frees the device's regions (detach first). */
  free(): void {
    if (this.life.ended) return;
    if (this.job) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: detach before freeing`);
    this.life.end();
    this.queue.free();
    this.rt.memory.free(this.burst, this.name);
    this.rt.memory.free(this.state, this.name);
  }
}
