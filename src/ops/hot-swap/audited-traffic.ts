import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import type { RingFeatures } from '../../common/virtio/features.js';
import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { LoopbackDevice } from '../../dpu/virtio/loopback-device.js';
import { Guest } from '../../hypervisor/guest/guest.js';
import { GuestQueue } from '../../hypervisor/guest/guest-queue.js';
import { LoopbackAudit, type VersionTransition } from '../../hypervisor/guest/loopback-audit.js';
import { GuestVcpu, type GuestVcpuOptions } from '../../hypervisor/guest/vcpu.js';

/** Options of {@link AuditedTraffic.create}. */
export interface AuditedTrafficOptions {
  /** Host memory, where the guest's RAM goes. */
  memory: HostMemoryApi;
  /** The runtime whose `virtio` kernel the device uses (the host's, loaded on the cores). */
  runtime: KernelRuntime;
  /** The core the loopback device runs on. */
  core: DpuCore;
  /** The guest's name (its regions' owner). */
  name: string;
  /** Sequence numbers tracked by the audit (requests in one run). Default 2^26. */
  maxRequests?: number;
  /** Ring size. Default 256. */
  queueSize?: number;
  /** A packed ring instead of a split one. Default false. */
  packed?: boolean;
  /** The guest vCPU's scheduling (class, CPUs, nice). Default: a normal vCPU on any CPU. */
  vcpu?: GuestVcpuOptions;
}

/** What the traffic delivered since it was created, and what the audit found. */
export interface TrafficReport {
  /** Requests the guest added; every one of them must complete exactly once. */
  added: number;
  completed: number;
  elapsedNs: number;
  /** Completions per second over the run. */
  rate: number;
  /** Added but never completed (the driver's count after the drain, and the audit's gaps). */
  lost: number;
  duplicates: number;
  /** Echoes that did not match their request, or used entries the driver found invalid (its error counter). */
  wrong: number;
  byVersion: Record<string, number>;
  transitions: VersionTransition[];
  /**
   * Completions past the audit's `maxRequests` (counted, not checked for duplicates):
   * size the audit so this stays 0.
   */
  unaudited: number;
}

/**
 * Pipelined loopback traffic whose every request is audited: a guest (its own RAM, a vCPU
 * worker running the guest Wasm driver) keeps a virtio loopback device's ring full; the device
 * runs on a DPU core and stamps each response with the version of the module that served it.
 * What a hot swap must not disturb. `start` → `stop()` (report) → `close()`.
 */
export class AuditedTraffic {
  private pumping: Promise<{ completed: number; elapsedNs: number }> | null = null;
  private readonly life = new Lifetime('AuditedTraffic', 'close()');

  private constructor(
    private readonly o: AuditedTrafficOptions,
    readonly guest: Guest,
    private readonly vcpu: GuestVcpu,
    readonly queue: GuestQueue,
    readonly device: LoopbackDevice,
    private readonly audit: LoopbackAudit,
    private readonly stopWord: number,
    /** The guest vCPU's kernel thread id (Linux; 0 where unknown): what a scheduler trace names it by. */
    readonly vcpuTid: number,
  ) {}

  static async create(o: AuditedTrafficOptions): Promise<AuditedTraffic> {
    const maxRequests = o.maxRequests ?? 1 << 26;
    const size = o.queueSize ?? 256;
    const features: RingFeatures = { packed: o.packed ?? false, eventIdx: false, indirect: false, inOrder: false };
    const ramBytes = (8 << 20) + Math.ceil(maxRequests / 8 / 65536 + 1) * 65536;
    const guest = new Guest(o.memory, { name: o.name, ramBytes });
    const vcpu = new GuestVcpu(o.memory, `${o.name}/vcpu0`, o.vcpu);
    try {
      const queue = await GuestQueue.create(guest, vcpu, size, features);
      const device = new LoopbackDevice(o.runtime, guest, `${o.name}:loop0`, {
        maxQueueSize: size,
        maxBurst: 64,
        stampVersion: true,
      });
      device.configure(queue.config);
      await device.start({ core: o.core, budget: 64 });
      await queue.bind(device.notifyWords(), device.queue.irqAddr);
      const audit = await LoopbackAudit.create(guest, vcpu, { maxRequests, maxTransitions: 1 << 16 });
      const { tid } = await vcpu.placement();
      return new AuditedTraffic(o, guest, vcpu, queue, device, audit, guest.allocIrq(), tid);
    } catch (e) {
      await vcpu.stop();
      guest.destroy();
      throw e;
    }
  }

  /**
   * Starts the traffic (it runs until `stop()`, or `maxMs`). `guestSleeps`: when a round finds no
   * completion the guest sleeps on its interrupt (at most 1 ms) instead of spinning, so its vCPU
   * leaves the CPU to others while it waits, as a guest kernel's driver would.
   */
  start(maxMs = 600_000, opts: { guestSleeps?: boolean } = {}): void {
    this.life.check('start');
    Atomics.store(this.o.memory.i32, this.stopWord >> 2, 0);
    this.pumping = this.queue.pump(maxMs, {
      audit: this.audit,
      stopAddr: this.stopWord,
      ...(opts.guestSleeps ? { waitNs: 1_000_000 } : {}),
    });
  }

  /** Requests the device has served so far (read out of band from its state). */
  served(): number {
    this.life.check('served');
    return this.device.stats().requests;
  }

  /** Stops the traffic, waits until every request added has completed, and audits the run. */
  async stop(): Promise<TrafficReport> {
    this.life.check('stop');
    return this.finish();
  }

  private async finish(): Promise<TrafficReport> {
    if (!this.pumping)
      throw new QingtianError(ErrorCode.DeviceState, 'AuditedTraffic.stop: the traffic was not started');
    Atomics.store(this.o.memory.i32, this.stopWord >> 2, 1);
    const p = await this.pumping;
    this.pumping = null;
    const c = this.queue.counters();
    const a = this.audit.read();
    const missing = await this.audit.missing(c.added);
    return {
      added: c.added,
      completed: p.completed,
      elapsedNs: p.elapsedNs,
      rate: p.completed / (p.elapsedNs / 1e9),
      lost: Math.max(c.added - c.completed, missing),
      duplicates: a.duplicates,
      wrong: c.errors,
      byVersion: a.byVersion,
      transitions: a.transitions,
      unaudited: a.beyond,
    };
  }

  /** Stops the traffic if it runs, detaches the device and frees the guest. Idempotent. */
  async close(): Promise<void> {
    if (!this.life.end()) return;
    if (this.pumping) await this.finish().catch(() => undefined);
    await this.device.stop();
    await this.vcpu.stop();
    this.device.free();
    this.guest.destroy();
  }
}
