import { EventEmitter } from 'node:events';
import type { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { GMAP_BYTES, GMAP_LAYOUT, GMAP_MAGIC } from '../../common/gpa.js';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { emptyLatency } from '../core/burst-latency.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { checkHeader, fourcc } from '../../common/region-header.js';
import { describeFeatures, ringFeatures, type RingFeatures } from '../../common/virtio/features.js';
import { Lifetime } from '../../common/lifetime.js';
import { DEFAULT_WEIGHT } from '../core/fair-share.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import {
  placementSchema,
  specSchema,
  vringSchema,
  type BackendSpec,
  type BackendStats,
  type NeedsResetEvent,
  type Placement,
  type VringConfig,
} from './backend-spec.js';
import { ConfigSpace } from './config-space.js';
import { DeviceJobs } from './device-jobs.js';
import { DeviceStatusWord } from './device-status.js';
import { DeviceQueue, type QueueSnapshot } from './device-queue.js';
import { decodeSnapshot, encodeSnapshot } from './device-snapshot.js';
import { DeviceStatus } from './device-status.js';
import {
  DEV_CONFIG_BYTES,
  BR_LAYOUT,
  DEV_CONFIG_IRQ,
  DEV_CONFIG_OFFSET,
  DEV_PAYLOAD,
  DEV_QUEUES,
  DEV_QUEUE_COUNT,
  DEV_RESETS,
  DEV_WEIGHT,
  FEAT_EVENT_IDX,
  FEAT_INDIRECT_DESC,
  FEAT_IN_ORDER,
  FEAT_RING_PACKED,
  FEAT_VERSION_1,
} from '../../generated/virtio.js';

export type { BackendSpec, BackendStats, NeedsResetEvent, Placement, VringConfig } from './backend-spec.js';

const bit = (n: number): bigint => 1n << BigInt(n);
const RING_BITS = bit(FEAT_RING_PACKED) | bit(FEAT_EVENT_IDX) | bit(FEAT_INDIRECT_DESC) | bit(FEAT_IN_ORDER);
const WATCH_TIMEOUT_MS = 1000;

type Fn<A extends unknown[], R = number> = (...a: A) => R;

/**
 * The base every virtio device backend extends (loopback, net, blk, vsock). Its operations map
 * one to one onto vhost-user messages, so that a vhost-user server, the in-process guest's
 * transport, a VM and live migration all drive devices the same way:
 *
 * | operation | vhost-user |
 * |---|---|
 * | `features()`, `negotiate(bits)` | GET_FEATURES, SET_FEATURES |
 * | `setMemTable(gmapBase)` | SET_MEM_TABLE |
 * | `setQueue(i, rings)` | SET_VRING_NUM, SET_VRING_ADDR (kick: `notifyWords`, call: `queues[i].irqAddr`) |
 * | `queueBase(i)`, `restoreQueue(i, snapshot)` | GET_VRING_BASE, SET_VRING_BASE |
 * | `configRead`, `configWrite` | GET_CONFIG, SET_CONFIG |
 * | `start(placement)`, `stop()` | SET_VRING_ENABLE (jobs attached to / detached from DPU cores) |
 * | `status()`, `setStatus(s)`, `reset()` | GET_STATUS, SET_STATUS, RESET_DEVICE |
 * | `save()`, `restore(bytes)` | (migration: device state) |
 *
 * The data path is the device's kernel, run as jobs on DPU cores over the device state region
 * (common prefix in device-state.ts). Everything that reconfigures the device — queues, features,
 * memory table, reset, restore — is refused while it is started (QT_DEVICE_STATE): it would race
 * a running burst. Stop first; stop() returns once no burst of the device is in flight.
 *
 * Events: 'needs-reset' (NeedsResetEvent) when a kernel breaks the device, 'config-change' after
 * a device-side config change, 'started', 'stopped'.
 */
export abstract class VirtioBackend extends EventEmitter {
  readonly name: string;
  /** The device state region (common prefix, then the device's payload, then its config space). */
  readonly state: StateRegion;
  readonly queues: readonly DeviceQueue[];
  /** The config-change interrupt word (host address) the kernel and configChanged() raise. */
  readonly configIrq: number;
  protected readonly rt: KernelRuntime;
  protected readonly guest: GuestMemoryView;
  private readonly spec: z.output<typeof specSchema>;
  private readonly config: ConfigSpace;
  private readonly regions: StateRegion[] = [];
  private readonly statusWord: DeviceStatusWord;
  private running: DeviceJobs | null = null;
  private watchToken = 0;
  private resetReported = false;
  private readonly life: Lifetime;

  protected constructor(rt: KernelRuntime, guest: GuestMemoryView, name: string, spec: BackendSpec) {
    super();
    this.spec = parseArgs(specSchema, spec, `${name}: backend spec`);
    if ((this.spec.features & bit(FEAT_VERSION_1)) === 0n)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${name}: backend spec.features must offer VERSION_1 (bit 32)`,
      );
    this.rt = rt;
    this.guest = guest;
    this.name = name;
    this.life = new Lifetime(name, 'free()');
    const mem = rt.memory;
    const configOffset = DEV_PAYLOAD + Math.ceil(this.spec.payloadBytes / 8) * 8;
    this.state = mem.allocState({
      name: `${name}:state`,
      owner: name,
      kind: 'device-state',
      magic: this.spec.magic,
      layoutVersion: this.spec.layoutVersion,
      payloadBytes: configOffset + this.spec.configBytes - 64,
    });
    const queues: DeviceQueue[] = [];
    try {
      for (let i = 0; i < this.spec.queues; i++) {
        const irqAddr = guest.allocIrq();
        try {
          queues.push(new DeviceQueue(rt, guest, `${name}:q${i}`, { maxSize: this.spec.maxQueueSize, irqAddr }));
        } catch (e) {
          guest.freeIrq(irqAddr);
          throw e;
        }
      }
      this.configIrq = guest.allocIrq();
    } catch (e) {
      // A device that could not be built holds nothing.
      for (const q of queues) {
        q.free();
        guest.freeIrq(q.irqAddr);
      }
      mem.free(this.state, name);
      throw e;
    }
    this.queues = queues;
    this.statusWord = new DeviceStatusWord(mem.i32, this.state.base, this.spec.features, name);
    this.config = new ConfigSpace(mem, this.state.base, configOffset, this.spec.configBytes, this.configIrq, name);
    const v = mem.view;
    const b = this.state.base;
    v.setUint32(b + DEV_CONFIG_IRQ, this.configIrq, true);
    v.setUint32(b + DEV_QUEUE_COUNT, this.spec.queues, true);
    v.setUint32(b + DEV_CONFIG_OFFSET, configOffset, true);
    v.setUint32(b + DEV_CONFIG_BYTES, this.spec.configBytes, true);
    v.setUint32(b + DEV_WEIGHT, 1, true);
    queues.forEach((q, i) => v.setUint32(b + DEV_QUEUES + 4 * i, q.state.base, true));
  }

  // ---- features (GET_FEATURES / SET_FEATURES) ------------------------------------------------

  /** The feature bits this device offers. */
  features(): bigint {
    this.alive('features');
    return this.spec.features;
  }

  /**
   * Accepts the driver's feature bits and sets FEATURES_OK (§3.1.1 step 5). Refused with
   * QT_FEATURES_REFUSED — FEATURES_OK then stays clear, as a driver re-reading the status would
   * find — when a bit is not offered or VERSION_1 is missing. Queues already set up under other
   * ring features are reset: their rings no longer describe what was negotiated.
   */
  negotiate(driverFeatures: bigint): bigint {
    this.mutable('negotiate');
    const before = this.statusWord.negotiated;
    const f = this.statusWord.negotiate(driverFeatures);
    for (const q of this.queues)
      if (q.config && (before === null || (before & RING_BITS) !== (f & RING_BITS))) q.reset();
    return f;
  }

  /** The negotiated feature bits, or null before a successful negotiate(). */
  negotiated(): bigint | null {
    this.alive('negotiated');
    return this.statusWord.negotiated;
  }

  /** The ring features every queue is set up with (from the negotiated bits). */
  ringFeatures(): RingFeatures {
    this.alive('ringFeatures');
    return ringFeatures(this.statusWord.negotiated ?? 0n);
  }

  // ---- status (GET_STATUS / SET_STATUS / RESET_DEVICE) ----------------------------------------

  /** The device status byte (§2.1): the driver's bits plus DEVICE_NEEDS_RESET. */
  status(): number {
    this.alive('status');
    return this.statusWord.value;
  }

  /**
   * A driver's write of the status register: 0 resets the device; otherwise ACKNOWLEDGE, DRIVER,
   * DRIVER_OK and FAILED are added (a driver clears bits only by a reset), FEATURES_OK only
   * stays set when negotiate() accepted the features, DEVICE_NEEDS_RESET is the device's and is
   * ignored. DRIVER_OK before FEATURES_OK is refused.
   */
  setStatus(value: number): void {
    this.alive('setStatus');
    if (value === 0) this.reset();
    else this.statusWord.driverWrite(value);
  }

  /**
   * Device reset (the driver wrote 0 to the status): every queue unconfigured, features
   * forgotten, status 0 (DEVICE_NEEDS_RESET cleared), the device's own reset hook run.
   * Refused while started.
   */
  reset(): void {
    this.mutable('reset');
    for (const q of this.queues) q.reset();
    this.statusWord.clear();
    this.resetReported = false;
    this.onReset();
  }

  // ---- memory table and queues ----------------------------------------------------------------

  /**
   * Points every queue at another guest memory map (a GMAP region). Queues already set up are
   * re-validated and re-translated through the new map; one that no longer fits is reset and the
   * call throws (QT_QUEUE_REFUSED) after trying the others. Refused while started.
   */
  setMemTable(gmapBase: number): void {
    this.mutable('setMemTable');
    checkHeader(this.memory.view, gmapBase, GMAP_MAGIC, GMAP_LAYOUT, GMAP_BYTES);
    let failure: Error | null = null;
    for (const q of this.queues) {
      const saved = q.config ? q.save() : null;
      q.setGuestMap(gmapBase);
      if (!saved) continue;
      try {
        q.restore(saved);
      } catch (e) {
        q.reset();
        failure ??= e instanceof Error ? e : new Error(String(e));
      }
    }
    if (failure) throw failure;
  }

  /**
   * Sets up queue `i` with the driver's rings, in the negotiated ring features, through the
   * validating setter (bad-input ids A1–A4: QT_QUEUE_REFUSED, nothing changed). Needs
   * FEATURES_OK; refused while started.
   */
  setQueue(i: number, rings: VringConfig): void {
    const q = this.queueFor(i, 'setQueue');
    const r = parseArgs(vringSchema, rings, `${this.name}: queue ${i} rings`);
    q.configure({ ...r, features: this.ringFeatures() });
  }

  /** The queue's position (GET_VRING_BASE): its rings and indices and the chains in flight. Refused while started. */
  queueBase(i: number): QueueSnapshot {
    return this.queueFor(i, 'queueBase').save();
  }

  /**
   * Puts a queue back where queueBase() found it (SET_VRING_BASE), through the same validating
   * path as setQueue (A1–A4, then A6 on the indices and the in-flight set). The snapshot's ring
   * features must be the negotiated ones. Refused while started.
   */
  restoreQueue(i: number, snapshot: QueueSnapshot): void {
    const q = this.queueFor(i, 'restoreQueue');
    const want = this.ringFeatures();
    const got = (snapshot as Partial<QueueSnapshot> | null)?.config?.features;
    if (!got || describeFeatures(got) !== describeFeatures(want))
      throw new QingtianError(
        ErrorCode.QueueRefused,
        `${this.name}: queue ${i} snapshot: ring features ${got ? describeFeatures(got) : 'missing'} ` +
          `differ from the negotiated ${describeFeatures(want)}`,
        { id: 'A6' },
      );
    q.restore(snapshot);
  }

  // ---- config space (GET_CONFIG / SET_CONFIG) -------------------------------------------------

  /** Bytes [offset, offset + length) of the device config space (spec layout, little-endian). */
  configRead(offset: number, length: number): Uint8Array {
    this.alive('configRead');
    return this.config.read(offset, length);
  }

  /**
   * A driver's write into the config space. The device decides what is writable
   * (onConfigWrite); by default the whole space is read-only and the write is refused.
   */
  configWrite(offset: number, data: Uint8Array): void {
    this.alive('configWrite');
    if (!(data instanceof Uint8Array))
      throw new QingtianError(ErrorCode.InvalidArgument, `${this.name}: configWrite data: expected a Uint8Array`);
    this.config.at(offset, data.length, 'configWrite');
    this.onConfigWrite(offset, data);
  }

  /** The config generation (§4.1.4.3.1): changes whenever the device changes its config space. */
  configGeneration(): number {
    this.alive('configGeneration');
    return this.config.generation();
  }

  // ---- start / stop ---------------------------------------------------------------------------

  /**
   * Runs the device: attaches its jobs to DPU cores, one placement for all jobs or one per job.
   * Queues not set up stay idle until they are (after a stop). Refused when already started.
   */
  async start(placement: Placement | readonly Placement[]): Promise<void> {
    this.alive('start');
    if (this.running)
      throw new QingtianError(ErrorCode.DeviceState, `${this.name}: already started; stop() before starting again`);
    const list = Array.isArray(placement) ? placement : [placement];
    const jobs = this.spec.jobs;
    if (list.length !== 1 && list.length !== jobs.length)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name}: start: expected 1 placement or ${jobs.length} (one per job), got ${list.length}`,
      );
    const parsed = list.map((p, i) => parseArgs(placementSchema, p, `${this.name}: placement[${i}]`));
    const placements = jobs.map((job, j) => {
      const p = parsed[parsed.length === 1 ? 0 : j]!;
      return {
        core: p.core,
        entry: job.entry,
        arm: job.arm,
        state: job.state ?? this.jobState(j),
        budget: p.budget ?? 64,
        weight: p.weight ?? DEFAULT_WEIGHT,
        workAddr: job.work === undefined ? undefined : (job.state ?? this.state.base) + job.work,
        clockAddr: job.clock === undefined ? undefined : (job.state ?? this.jobState(j)) + job.clock,
      };
    });
    this.memory.view.setUint32(this.state.base + DEV_WEIGHT, placements[0]!.weight, true);
    // Marked before the commands: a core may run a job in the very pass that takes it, and a
    // queue it serves must refuse to be rewritten under it (DeviceQueue.setServedBy).
    this.queues.forEach((q, i) =>
      q.setServedBy(placements[Math.min(this.jobForQueue(i), placements.length - 1)]!.core.id),
    );
    try {
      this.running = await DeviceJobs.attach(this.rt.kernel(this.spec.kernel), placements);
    } catch (e) {
      for (const q of this.queues) q.setServedBy(null);
      throw e;
    }
    void this.watch(++this.watchToken);
    this.emit('started');
  }

  /** Detaches the device's jobs; when it resolves no burst of this device is in flight. */
  async stop(): Promise<void> {
    const r = this.running;
    if (!r) return;
    await r.detach();
    for (const q of this.queues) q.setServedBy(null);
    this.running = null;
    this.watchToken++;
    this.checkNeedsReset();
    this.emit('stopped');
  }

  get started(): boolean {
    this.alive('started');
    return this.running !== null;
  }

  /** Where the guest kicks queue `i` (vhost-user KICK): the doorbell and sleeping words of the core serving it. */
  notifyWords(i = 0): { doorbell: number; sleeping: number } {
    this.alive('notifyWords');
    if (!this.running) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: not started; no core serves it`);
    return this.running.notifyWords(this.jobForQueue(i));
  }

  // ---- save / restore / stats / free ----------------------------------------------------------

  /**
   * The device state as bytes (device-snapshot.ts): features, status, queues, config space,
   * payload. Refused while started.
   */
  save(): Uint8Array {
    this.mutable('save');
    const v = this.memory.view;
    return encodeSnapshot({
      deviceMagic: v.getUint32(this.state.base, true),
      layoutVersion: this.spec.layoutVersion,
      features: this.statusWord.negotiated ?? 0n,
      status: this.status(),
      queues: this.queues.map((q) => (q.config ? q.save() : null)),
      config: this.config.read(0, this.config.bytes),
      payload: this.savePayload(),
    });
  }

  /**
   * Restores what save() produced, as untrusted input: the framing, this device's magic and
   * layout, the features (as negotiate() checks them), each queue (as restoreQueue() checks it),
   * then the device's config and payload hooks. Any refusal leaves the device reset. Refused
   * while started.
   */
  restore(bytes: Uint8Array): void {
    this.mutable('restore');
    this.reset();
    try {
      const s = decodeSnapshot(bytes);
      const magic = fourcc(this.spec.magic);
      if (s.deviceMagic !== magic || s.layoutVersion !== this.spec.layoutVersion)
        throw new QingtianError(
          ErrorCode.BadFormat,
          `${this.name}: snapshot of device 0x${s.deviceMagic.toString(16)} layout ${s.layoutVersion}, ` +
            `expected 0x${magic.toString(16)} (${this.spec.magic}) layout ${this.spec.layoutVersion}`,
        );
      if (s.queues.length !== this.queues.length || s.config.length !== this.spec.configBytes)
        throw new QingtianError(
          ErrorCode.BadFormat,
          `${this.name}: snapshot has ${s.queues.length} queues and ${s.config.length} config bytes, ` +
            `expected ${this.queues.length} and ${this.spec.configBytes}`,
        );
      if (s.status & DeviceStatus.FEATURES_OK) this.negotiate(s.features);
      s.queues.forEach((q, i) => {
        if (q) this.restoreQueue(i, q);
      });
      this.restoreConfig(s.config);
      this.restorePayload(s.payload);
      this.statusWord.restoreBits(s.status);
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  /** Out-of-band statistics: read from the state regions, never by messaging a core. */
  stats(): BackendStats {
    this.alive('stats');
    const status = this.status();
    const r = this.running;
    return {
      status,
      needsReset: (status & DeviceStatus.DEVICE_NEEDS_RESET) !== 0,
      resets: Number(this.memory.view.getBigUint64(this.state.base + DEV_RESETS, true)),
      features: this.statusWord.negotiated,
      started: r !== null,
      queues: this.queues.map((q) => q.stats()),
      jobs: r ? r.stats() : [],
    };
  }

  /**
   * How long each burst of the device's jobs held its core (one histogram summed over the
   * jobs it runs now; empty while stopped), read out of band: DpuCore.burstLatency.
   */
  burstLatency(): LatencyHistogramData {
    this.alive('burstLatency');
    return this.running ? this.running.burstLatency() : emptyLatency();
  }

  /**
   * Frees every region the device holds and gives its interrupt words back to the guest: the
   * allocator's accounting is back where it was before the device existed. Stop first. A second
   * free does nothing; any other call afterwards throws QT_DISPOSED.
   */
  free(): void {
    if (this.life.ended) return;
    if (this.running) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: started; stop() before free()`);
    this.life.end();
    const mem = this.rt.memory;
    for (const q of this.queues) {
      q.free();
      this.guest.freeIrq(q.irqAddr);
    }
    for (const r of this.regions.splice(0)) mem.free(r, this.name);
    mem.free(this.state, this.name);
    this.guest.freeIrq(this.configIrq);
  }

  // ---- for devices ----------------------------------------------------------------------------

  protected get memory(): KernelRuntime['memory'] {
    return this.rt.memory;
  }

  /** Host address of the device's own words (DEV_PAYLOAD). */
  protected get payload(): number {
    return this.state.base + DEV_PAYLOAD;
  }

  /** A state region owned by the device (burst buffers, tables), freed by free(). */
  protected allocRegion(
    suffix: string,
    magic: string | number,
    layoutVersion: number,
    payloadBytes: number,
  ): StateRegion {
    const r = this.memory.allocState({
      name: `${this.name}:${suffix}`,
      owner: this.name,
      kind: 'device-state',
      magic,
      layoutVersion,
      payloadBytes,
    });
    this.regions.push(r);
    return r;
  }

  /** A burst buffer for `maxChains` chains (vq_burst_init), owned by the device. */
  protected allocBurst(maxChains: number, segCap: number): StateRegion {
    const k = this.rt.kernel('virtio');
    const burst = this.allocRegion(
      'burst',
      'VQBR',
      BR_LAYOUT,
      k.fn<Fn<[number, number]>>('vq_burst_bytes')(maxChains, segCap),
    );
    const rc = k.fn<Fn<[number, number, number, number]>>('vq_burst_init')(
      burst.base,
      burst.sizeBytes,
      maxChains,
      segCap,
    );
    if (rc !== 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.name}: burst buffer for ${maxChains} chains / ${segCap} segments refused`,
      );
    return burst;
  }

  /** A DataView of exactly the config space, for the device to fill in and update. */
  protected configView(): DataView {
    return this.config.view();
  }

  /** Call after changing the config space: new generation, config interrupt, 'config-change'. */
  protected configChanged(): void {
    this.config.changed();
    this.emit('config-change');
  }

  /** Validates and applies a driver's config write; the default refuses (read-only config space). */
  protected onConfigWrite(offset: number, data: Uint8Array): void {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${this.name}: config space is read-only (write of ${data.length} bytes at ${offset} refused)`,
    );
  }

  /** Device-specific reset (driver-writable config back to defaults, counters kept). */
  protected onReset(): void {}

  /** The device's saved words (portable: no host addresses). Default: none. */
  protected savePayload(): Uint8Array {
    return new Uint8Array(0);
  }

  /** Validates and applies saved words; refuse with QT_BAD_FORMAT. Default: expects none. */
  protected restorePayload(bytes: Uint8Array): void {
    if (bytes.length !== 0)
      throw new QingtianError(
        ErrorCode.BadFormat,
        `${this.name}: snapshot payload: expected 0 bytes, got ${bytes.length}`,
      );
  }

  /** Validates and applies a saved config space (same length checked). Default: copied as is. */
  protected restoreConfig(bytes: Uint8Array): void {
    this.config.load(bytes);
  }

  /**
   * The state job `j` (index into spec.jobs) is called with when spec.jobs[j].state is not given;
   * default: the device state region.
   */
  protected jobState(j: number): number {
    void j;
    return this.state.base;
  }

  /** Which job (index into spec.jobs) serves queue `i`; default: job 0. */
  protected jobForQueue(i: number): number {
    void i;
    return 0;
  }

  // ---- internals ------------------------------------------------------------------------------

  private queueFor(i: number, op: string): DeviceQueue {
    this.mutable(op);
    const q = this.queues[parseArgs(intIn(0, this.queues.length - 1), i, `${this.name}: ${op} queue index`)]!;
    if (op === 'setQueue' || op === 'restoreQueue') {
      if (this.statusWord.negotiated === null)
        throw new QingtianError(
          ErrorCode.DeviceState,
          `${this.name}: ${op}: features not negotiated (FEATURES_OK clear)`,
        );
    }
    return q;
  }

  /** Throws QT_DISPOSED once free() has run. */
  protected alive(op: string): void {
    this.life.check(op);
  }

  /** Reconfiguration races a running burst: refused while started. */
  private mutable(op: string): void {
    this.alive(op);
    if (this.running)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.name}: ${op} refused while the device is started (it would race a running burst); stop() first`,
        { op, state: 'started' },
      );
  }

  /** Reports DEVICE_NEEDS_RESET once per reset, from the config interrupt the kernel raises. */
  private async watch(token: number): Promise<void> {
    const i32 = this.memory.i32;
    const idx = this.configIrq >> 2;
    while (token === this.watchToken) {
      const seen = Atomics.load(i32, idx);
      this.checkNeedsReset();
      const w = Atomics.waitAsync(i32, idx, seen, WATCH_TIMEOUT_MS);
      if (w.async) await w.value;
    }
  }

  private checkNeedsReset(): void {
    if (this.resetReported || !(this.status() & DeviceStatus.DEVICE_NEEDS_RESET)) return;
    this.resetReported = true;
    const queues: NeedsResetEvent['queues'] = [];
    this.queues.forEach((q, index) => {
      const b = q.stats().broken;
      if (b) queues.push({ index, id: b.id, what: b.what, detail: b.detail });
    });
    this.emit('needs-reset', { device: this.name, queues } satisfies NeedsResetEvent);
  }
}
