import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { RingFeatures } from '../../common/virtio/features.js';
import { splitAvailBytes, splitUsedBytes } from '../../common/virtio/ring-layout.js';
import { DESC_BYTES, EVS_BYTES } from '../../generated/virtio.js';
import {
  DF_EVENT_IDX,
  DF_INDIRECT,
  DF_IN_ORDER,
  DF_PACKED,
  GD_ADDED,
  GD_COMPLETED,
  GD_ERRORS,
  GD_IRQ_WAITS,
  GD_KICKS,
  GD_KICKS_SUPPRESSED,
  GD_REAP_BYTES,
  GLOOP_PAIR_BYTES,
  TABLE_BYTES,
} from '../../generated/guest.js';
import type { GuestSpace } from './virtio/driver-api.js';
import type { LoopbackAudit } from './loopback-audit.js';
import type { GuestVcpu, RttSamples } from './vcpu.js';

/** Where a driver must kick: the DPU core's doorbell and sleeping words (the transport's notify area). */
export interface NotifyWords {
  doorbell: number;
  sleeping: number;
}

/**
 * A virtqueue driven by the guest's own Wasm driver on one of its vCPUs. The rings, the driver
 * state, a completion scratch area and one buffer pair per slot are laid out in guest RAM
 * here (the guest kernel's job at probe time); `bind` starts the driver once the device says
 * where to kick and where it will interrupt.
 */
export class GuestQueue {
  readonly descGpa: bigint;
  readonly driverGpa: bigint;
  readonly deviceGpa: bigint;
  readonly stateGpa: bigint;
  readonly scratchGpa: bigint;
  readonly bufGpa: bigint;
  /** Indirect tables, one per token (only with features.indirect). */
  readonly tablesGpa: bigint;
  private bound = false;

  constructor(
    readonly guest: GuestSpace,
    readonly vcpu: GuestVcpu,
    readonly size: number,
    readonly features: RingFeatures,
    driverStateBytes: number,
  ) {
    this.descGpa = guest.allocGpa(DESC_BYTES * size, 16);
    this.driverGpa = guest.allocGpa(features.packed ? EVS_BYTES : splitAvailBytes(size, true), 4);
    this.deviceGpa = guest.allocGpa(features.packed ? EVS_BYTES : splitUsedBytes(size, true), 4);
    this.stateGpa = guest.allocGpa(driverStateBytes, 64);
    this.scratchGpa = guest.allocGpa(GD_REAP_BYTES * size, 64);
    this.bufGpa = guest.allocGpa(GLOOP_PAIR_BYTES * size, 64);
    this.tablesGpa = features.indirect ? guest.allocGpa(TABLE_BYTES * size, 16) : 0n;
  }

  static async create(guest: GuestSpace, vcpu: GuestVcpu, size: number, features: RingFeatures): Promise<GuestQueue> {
    const bytes = Number(await vcpu.call('gdrv_bytes', size));
    return new GuestQueue(guest, vcpu, size, features, bytes);
  }

  get config(): { size: number; features: RingFeatures; descGpa: bigint; driverGpa: bigint; deviceGpa: bigint } {
    return {
      size: this.size,
      features: this.features,
      descGpa: this.descGpa,
      driverGpa: this.driverGpa,
      deviceGpa: this.deviceGpa,
    };
  }

  /** Starts the driver: kicks go to `notify`, interrupts arrive on `irqAddr`. */
  async bind(notify: NotifyWords, irqAddr: number): Promise<void> {
    const f = this.features;
    const flags =
      (f.packed ? DF_PACKED : 0) |
      (f.eventIdx ? DF_EVENT_IDX : 0) |
      (f.indirect ? DF_INDIRECT : 0) |
      (f.inOrder ? DF_IN_ORDER : 0);
    const rc = await this.vcpu.call(
      'gdrv_init',
      this.host(this.stateGpa),
      flags,
      this.size,
      this.guest.ramBase,
      this.guest.ramBytes,
      this.descGpa,
      this.driverGpa,
      this.deviceGpa,
      notify.doorbell,
      notify.sleeping,
      irqAddr,
      this.tablesGpa,
    );
    if (rc !== 0)
      throw new QingtianError(ErrorCode.DeviceState, `guest ${this.guest.name}: driver init refused (${rc})`);
    this.bound = true;
  }

  /**
   * Pipelined loopback traffic for `ms` (ring kept full). Options: `audit`, an exactly-once
   * audit of every completion; `stopAddr`, a host word that ends the pump early when non-zero.
   */
  pump(
    ms: number,
    opts: { audit?: LoopbackAudit; stopAddr?: number; waitNs?: number } = {},
  ): Promise<{ completed: number; elapsedNs: number }> {
    this.assertBound();
    const o: { audit?: number; stopAddr?: number; waitNs?: number } = {};
    if (opts.audit) o.audit = opts.audit.host;
    if (opts.stopAddr !== undefined) o.stopAddr = opts.stopAddr;
    if (opts.waitNs !== undefined) o.waitNs = opts.waitNs;
    return this.vcpu.pump(this.host(this.stateGpa), this.bufGpa, this.host(this.scratchGpa), ms, 64, o);
  }

  /**
   * One-at-a-time round trips. With `watchTids` (threads serving the queue, such as its DPU
   * core's) each sample also says whether the OS took the vCPU or those threads off a CPU.
   */
  rtt(count: number, mode: 'poll' | 'irq', watchTids?: readonly number[]): Promise<RttSamples> {
    this.assertBound();
    const drv = this.host(this.stateGpa);
    return this.vcpu.rtt(drv, this.bufGpa, this.host(this.scratchGpa), count, mode, undefined, watchTids);
  }

  /** Driver counters read straight from guest RAM: kicks, suppressed kicks, added, completed, irq waits, errors. */
  counters(): {
    kicks: number;
    kicksSuppressed: number;
    added: number;
    completed: number;
    irqWaits: number;
    errors: number;
  } {
    const v = this.guest.ram;
    const at = Number(this.stateGpa);
    const n = (off: number): number => Number(v.getBigUint64(at + off, true));
    return {
      kicks: n(GD_KICKS),
      kicksSuppressed: n(GD_KICKS_SUPPRESSED),
      added: n(GD_ADDED),
      completed: n(GD_COMPLETED),
      irqWaits: n(GD_IRQ_WAITS),
      errors: n(GD_ERRORS),
    };
  }

  private host(gpa: bigint): number {
    return this.guest.host(gpa);
  }

  private assertBound(): void {
    if (!this.bound)
      throw new QingtianError(ErrorCode.DeviceState, `guest ${this.guest.name}: queue not bound to a device yet`);
  }
}
