import { z } from 'zod';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { emptyLatency } from '../core/burst-latency.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { RingFeatures } from '../../common/virtio/features.js';
import { VsockEndpoint } from '../../common/vsock/vsock-endpoint.js';
import { BR_LAYOUT, BR_MAGIC, VQ_MAX_SEGS } from '../../generated/virtio.js';
import { STATUS_DEVICE_NEEDS_RESET } from '../../generated/virtio.js';
import * as V from '../../generated/vsock.js';
import { ringDoorbell } from '../core/core-layout.js';
import { CTL_DOORBELL, CTL_SLEEPING } from '../core/core-layout.js';
import type { DpuCore, Job } from '../core/dpu-core.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { DeviceQueue, type QueueStats } from '../virtio/device-queue.js';
import { EndpointPump } from './endpoint-pump.js';
import { checkGuestCid, negotiateVsockFeatures, VSOCK_OFFERED_FEATURES } from './vsock-config.js';
import { readVsockStats, type VsockStats } from './vsock-stats.js';

export interface VsockDeviceOptions {
  /** The guest's context id (§5.10.4): an integer in [3, 2^32 - 2]. */
  guestCid: number;
  /** Largest queue size the driver may configure, 2–32768. Default 1024. */
  maxQueueSize?: number;
  /** Chains per queue per run, 1–1024. Default 64. */
  maxBurst?: number;
  /** Connection slots of the host side, 1–1024. Default 16. */
  maxConns?: number;
  /** Receive (and transmit) ring per host-side connection: a power of two in [4 KiB, 1 MiB]. Default 64 KiB. */
  ringBytes?: number;
}

const optionsSchema = z.strictObject({
  guestCid: z.number(),
  maxQueueSize: intIn(2, 32768).optional(),
  maxBurst: intIn(1, 1024).optional(),
  maxConns: intIn(1, 1024).optional(),
  ringBytes: z
    .number({ error: 'a power of two in [4096, 1048576]' })
    .refine((n) => Number.isInteger(n) && n >= 4096 && n <= 1 << 20 && (n & (n - 1)) === 0, {
      error: 'a power of two in [4096, 1048576]',
    })
    .optional(),
});

/** A queue configuration as the driver writes it (the ring features come from negotiation). */
export interface VsockQueueConfig {
  size: number;
  descGpa: bigint;
  driverGpa: bigint;
  deviceGpa: bigint;
}

type Fn<A extends unknown[], R = number> = (...a: A) => R;

/**
 * The virtio-vsock device (virtio 1.2 §5.10), device side, for one guest: three queues (rx 0,
 * tx 1, event 2) served by the `vsock` kernel as a job on a DPU core, and `host`, the sockets of
 * the host side (CID 2) that the control plane uses. Bad input from the guest breaks at most
 * this device (docs/virtio-policy.md, virtio-vsock).
 *
 * The operations follow the vhost-user message set: `features`/`negotiate`, `configRead`,
 * `setQueue`, `start`/`stop`, `reset`, `stats`, `free`.
 */
export class VsockDevice {
  readonly name: string;
  readonly queues: readonly [DeviceQueue, DeviceQueue, DeviceQueue];
  readonly state: StateRegion;
  readonly endpointRegion: StateRegion;
  readonly bursts: readonly StateRegion[];
  readonly configIrq: number;
  /** The interrupt word of the three queues (where the driver waits for used buffers). */
  readonly queueIrq: number;
  /** The host side's sockets (CID 2 to this guest). */
  readonly host: VsockEndpoint;
  private readonly pump: EndpointPump;
  private negotiated: RingFeatures | null = null;
  private job: Job | null = null;
  private core: DpuCore | null = null;

  constructor(
    private readonly rt: KernelRuntime,
    readonly guest: GuestMemoryView,
    name: string,
    options: VsockDeviceOptions,
  ) {
    const o = parseArgs(optionsSchema, options, 'vsock device options');
    const guestCid = checkGuestCid(o.guestCid, 'vsock device options.guestCid');
    this.name = name;
    const maxQueueSize = o.maxQueueSize ?? 1024;
    const maxBurst = o.maxBurst ?? 64;
    const maxConns = o.maxConns ?? 16;
    const ringBytes = o.ringBytes ?? 65536;
    const mem = rt.memory;
    const virtio = rt.kernel('virtio');
    const vsock = rt.kernel('vsock');
    const irq = guest.allocIrq();
    this.queueIrq = irq;
    this.queues = [0, 1, 2].map(
      (i) => new DeviceQueue(rt, guest, `${name}:q${i}`, { maxSize: maxQueueSize, irqAddr: irq }),
    ) as unknown as [DeviceQueue, DeviceQueue, DeviceQueue];
    const segCap = Math.max(VQ_MAX_SEGS, maxBurst * 4);
    this.bursts = [0, 1, 2].map((i) => {
      const r = mem.allocState({
        name: `${name}:burst${i}`,
        owner: name,
        kind: 'device-state',
        magic: BR_MAGIC,
        layoutVersion: BR_LAYOUT,
        payloadBytes: virtio.fn<Fn<[number, number]>>('vq_burst_bytes')(maxBurst, segCap),
      });
      if (virtio.fn<Fn<[number, number, number, number]>>('vq_burst_init')(r.base, r.sizeBytes, maxBurst, segCap) !== 0)
        throw new QingtianError(ErrorCode.InvalidArgument, `${name}: burst buffer for ${maxBurst} chains refused`);
      return r;
    });
    this.state = mem.allocState({
      name: `${name}:state`,
      owner: name,
      kind: 'device-state',
      magic: V.VS_MAGIC,
      layoutVersion: V.VS_LAYOUT,
      payloadBytes: V.VS_STATE_BYTES - 64,
    });
    const epBytes = vsock.fn<Fn<[number, number]>>('vsep_bytes')(maxConns, ringBytes);
    this.endpointRegion = mem.allocState({
      name: `${name}:endpoint`,
      owner: name,
      kind: 'device-state',
      magic: V.EP_MAGIC,
      layoutVersion: V.EP_LAYOUT,
      payloadBytes: epBytes - 64,
    });
    const s = this.state.base;
    const rc = vsock.fn<Fn<number[]>>('vsep_init')(
      this.endpointRegion.base,
      this.endpointRegion.sizeBytes,
      V.EPF_DEVICE,
      V.VSOCK_CID_HOST,
      guestCid,
      maxConns,
      ringBytes,
      s + V.VS_APP_WAKE,
      V.VSOCK_MAX_PAYLOAD,
    );
    if (rc !== 0) throw new QingtianError(ErrorCode.InvalidArgument, `${name}: endpoint geometry refused`);
    this.configIrq = guest.allocIrq();
    const v = mem.view;
    v.setUint32(s + V.VS_RX_VQ, this.queues[0].state.base, true);
    v.setUint32(s + V.VS_TX_VQ, this.queues[1].state.base, true);
    v.setUint32(s + V.VS_EVENT_VQ, this.queues[2].state.base, true);
    v.setUint32(s + V.VS_RX_BURST, this.bursts[0]!.base, true);
    v.setUint32(s + V.VS_TX_BURST, this.bursts[1]!.base, true);
    v.setUint32(s + V.VS_EVENT_BURST, this.bursts[2]!.base, true);
    v.setUint32(s + V.VS_ENDPOINT, this.endpointRegion.base, true);
    v.setUint32(s + V.VS_CONFIG_IRQ, this.configIrq, true);
    v.setUint32(s + V.VS_MAX_BURST, maxBurst, true);
    v.setBigUint64(s + V.VS_CONFIG, BigInt(guestCid), true);
    this.host = new VsockEndpoint({
      buffer: mem.memory.buffer,
      base: this.endpointRegion.base,
      kick: () => this.kick(),
    });
    this.pump = new EndpointPump(mem.i32, s + V.VS_APP_WAKE, () => this.host.poll());
  }

  /** The feature bits this device offers (GET_FEATURES). */
  features(): bigint {
    return VSOCK_OFFERED_FEATURES;
  }

  /** Accepts the driver's features (SET_FEATURES): VERSION_1 required, nothing beyond the offer. */
  negotiate(driverFeatures: bigint): void {
    this.assertStopped('negotiate');
    this.negotiated = negotiateVsockFeatures(driverFeatures);
  }

  /** Reads the device configuration space (§5.10.4: le64 guest_cid at 0), little-endian. */
  configRead(offset: number, bytes: number): Uint8Array {
    if (!Number.isInteger(offset) || !Number.isInteger(bytes) || offset < 0 || bytes < 1 || offset + bytes > 8)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `vsock config read: expected a range inside [0, 8), got offset ${offset}, ${bytes} bytes`,
      );
    const at = this.state.base + V.VS_CONFIG + offset;
    return this.rt.memory.u8.slice(at, at + bytes);
  }

  /** The guest's CID, as the config space holds it now. */
  get guestCid(): number {
    return Number(this.rt.memory.view.getBigUint64(this.state.base + V.VS_CONFIG, true));
  }

  /** Host address of the config space (what a driver maps, like a PCI BAR, to read guest_cid). */
  get configAddress(): number {
    return this.state.base + V.VS_CONFIG;
  }

  /** The driver's configuration of queue `index` (0 rx, 1 tx, 2 event), checked by the kernel (A1-A4). */
  setQueue(index: number, config: VsockQueueConfig): void {
    this.assertStopped('setQueue');
    if (!this.negotiated)
      throw new QingtianError(ErrorCode.DeviceState, `${this.name}: negotiate features before configuring queues`);
    const q = this.queues[parseArgs(intIn(0, 2), index, 'vsock queue index') as 0 | 1 | 2];
    q.configure({ ...config, features: this.negotiated });
  }

  /** Runs the device on a DPU core (its queues must be configured). `budget` = chains per queue per run. */
  async start(core: DpuCore, budget = 64): Promise<Job> {
    if (this.job)
      throw new QingtianError(ErrorCode.DeviceState, `${this.name}: already started on core ${this.job.coreId}`);
    this.job = await core.attachJob({
      kernel: this.rt.kernel('vsock'),
      entry: 'vsock_run',
      arm: 'vsock_arm',
      state: this.state.base,
      budget,
    });
    this.core = core;
    this.pump.start();
    this.kick();
    return this.job;
  }

  /** Detaches the job (the host side's sockets stay, quiet, until the device starts again). */
  async stop(): Promise<void> {
    if (this.job && this.core) await this.core.detachJob(this.job);
    this.job = null;
    this.core = null;
    await this.pump.stop();
  }

  /** Where a driver must kick a device served by `core`: that core's doorbell and sleeping words. */
  static notifyWordsOn(core: DpuCore): { doorbell: number; sleeping: number } {
    return { doorbell: core.controlBase + CTL_DOORBELL, sleeping: core.controlBase + CTL_SLEEPING };
  }

  /** The kick words of the core serving this device now. */
  notifyWords(): { doorbell: number; sleeping: number } {
    if (!this.core) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: not started on a core`);
    return VsockDevice.notifyWordsOn(this.core);
  }

  /**
   * A transport reset (§5.10.6.7): every host-side connection ends, the config space gets
   * `guestCid` (default: unchanged) and the driver receives TRANSPORT_RESET on the event queue.
   * Used when a guest moves (migration) or is given a new CID.
   */
  transportReset(guestCid = this.guestCid): void {
    checkGuestCid(guestCid, 'vsock transportReset guestCid');
    const rc = this.rt.kernel('vsock').fn<Fn<[number, bigint]>>('vsock_transport_reset')(
      this.state.base,
      BigInt(guestCid),
    );
    if (rc !== 0) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: transport reset refused`);
    this.host.poll();
    this.kick();
  }

  /** Device reset (the driver wrote 0 to status): queues unconfigured, connections ended, NEEDS_RESET cleared. */
  reset(): void {
    this.assertStopped('reset');
    for (const q of this.queues) q.reset();
    this.transportReset();
    const v = this.rt.memory.view;
    v.setUint32(this.state.base + V.VS_STATUS, 0, true);
    v.setUint32(this.state.base + V.VS_BROKEN_QUEUE, 0, true);
    v.setUint32(this.state.base + V.VS_EVENTS, 0, true);
    this.negotiated = null;
  }

  get needsReset(): boolean {
    return (this.rt.memory.view.getUint32(this.state.base + V.VS_STATUS, true) & STATUS_DEVICE_NEEDS_RESET) !== 0;
  }

  stats(): VsockStats {
    const qs = this.queues.map((q) => q.stats()) as [QueueStats, QueueStats, QueueStats];
    return readVsockStats(this.rt.memory.view, this.state.base, qs, this.host.stats());
  }

  /**
   * The host end's packet and byte counters alone (what `stats().endpoint` holds), read out of
   * band without building the full stats: rx is what the host received from the guest.
   */
  traffic(): { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number } {
    const h = this.host;
    return {
      rxPackets: h.counter(V.EPC_RX_PACKETS),
      rxBytes: h.counter(V.EPC_RX_BYTES),
      txPackets: h.counter(V.EPC_TX_PACKETS),
      txBytes: h.counter(V.EPC_TX_BYTES),
    };
  }

  /**
   * How long each burst of the device's job held its core (empty while stopped), read out of
   * band: DpuCore.burstLatency.
   */
  burstLatency(): LatencyHistogramData {
    return (this.job && this.core?.burstLatency(this.job.id)) || emptyLatency();
  }

  /** Frees every region of the device (stop it first). */
  free(): void {
    if (this.job) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: stop before freeing`);
    this.host.close();
    for (const q of this.queues) q.free();
    for (const b of this.bursts) this.rt.memory.free(b, this.name);
    this.rt.memory.free(this.state, this.name);
    this.rt.memory.free(this.endpointRegion, this.name);
  }

  private kick(): void {
    if (this.core) ringDoorbell(this.rt.memory.i32, this.core.controlBase);
  }

  private assertStopped(what: string): void {
    if (this.job)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.name}: ${what} refused while the device runs (stop it first)`,
      );
  }
}
