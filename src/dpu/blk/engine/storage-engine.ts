import { LatencyHistogram, type LatencyHistogramData } from '../../../common/latency-histogram.js';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { HostMemoryApi, Region } from '../../../common/host-memory-api.js';
import { QosScheduler, systemClock, type Clock, type QosSpec } from '../qos/qos-scheduler.js';
import type { Volume } from '../volume/volume.js';
import { VolumeStatus } from '../volume/volume-status.js';
import type { EngineRequest, RequestSink } from './engine-request.js';
import { QueueEndpoint, type QueueCounters } from './queue-endpoint.js';
import { VOLQ_MAX_LENGTH, VolumeFlag, VolumeOp } from './volume-queue-layout.js';

const OWNER = 'storage-engine';
const BLOCK = 4096;
/** Requests served between two looks at the rings and the event loop. */
const BURST = 32;
/** Longest stretch of serving before the event loop (control messages, sockets) gets a turn. */
const YIELD_MS = 2;
/** How long an idle engine keeps polling before it sleeps on its doorbell. */
const SPIN_MS = 0.05;
/** Background work (rebuild, scrub, cleaning) at least this often while busy. */
const MAINTAIN_MS = 1;
/** Sleep at most this long, so that background work and QoS timers are looked at. */
const IDLE_WAIT_MS = 50;

interface VolumeEntry {
  id: number;
  volume: Volume;
  queues: QueueEndpoint[];
  /** Requests served, by kind of outcome. */
  served: number;
  /** Time from dequeue (off a queue's ring or a socket) to completion, per request. */
  latency: LatencyHistogram;
}

/** Counters of the engine loop. */
export interface EngineCounters {
  served: number;
  bursts: number;
  sleeps: number;
  wakeups: number;
  yields: number;
  maintenanceSteps: number;
}

/**
 * The storage I/O worker's engine: the volumes it owns, the volume queues DPU kernels submit
 * through, in-thread submitters (the NBD server), per-volume QoS, and the loop that serves them.
 * Disk I/O happens here, synchronously, never on a DPU core. The loop: read the doorbell, pop
 * every queue into the QoS scheduler, serve a burst in the order it picks, publish each
 * queue's completions once (one notify), give the event loop a turn every few milliseconds,
 * interleave background work (rebuild, scrub, cleaning, checkpoints); when there is nothing,
 * poll a little, then sleep on the doorbell (Atomics.waitAsync, so the event loop stays live).
 */
export class StorageEngine {
  readonly counters: EngineCounters = { served: 0, bursts: 0, sleeps: 0, wakeups: 0, yields: 0, maintenanceSteps: 0 };
  private readonly volumes = new Map<number, VolumeEntry>();
  private readonly queues = new Map<number, QueueEndpoint>();
  private readonly scheduler: QosScheduler<EngineRequest>;
  private readonly touched = new Set<RequestSink>();
  private readonly control: Region;
  private readonly staging: Region;
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly bellIdx: number;
  private readonly sleepIdx: number;
  private nextId = 1;
  private running: Promise<void> | null = null;
  private stopping = false;

  constructor(
    private readonly memory: HostMemoryApi,
    private readonly clock: Clock = systemClock,
  ) {
    this.scheduler = new QosScheduler<EngineRequest>(clock);
    this.control = memory.alloc({ name: 'storage-engine', owner: OWNER, kind: 'device-state', sizeBytes: 4096 });
    this.staging = memory.alloc({
      name: 'storage-staging',
      owner: OWNER,
      kind: 'core-scratch',
      sizeBytes: VOLQ_MAX_LENGTH + 2 * BLOCK,
    });
    this.i32 = memory.i32;
    this.u8 = memory.u8;
    this.bellIdx = this.control.base >> 2;
    this.sleepIdx = (this.control.base + 64) >> 2;
  }

  /** Host address of the doorbell submitters ring (i32), and of the sleeping flag beside it. */
  get doorbellAddr(): number {
    return this.control.base;
  }

  get sleepingAddr(): number {
    return this.control.base + 64;
  }

  addVolume(volume: Volume, qos: QosSpec = {}): number {
    const id = this.nextId++;
    this.volumes.set(id, { id, volume, queues: [], served: 0, latency: new LatencyHistogram() });
    this.scheduler.setVolume(id, qos);
    return id;
  }

  volume(id: number): Volume {
    const e = this.volumes.get(id);
    if (!e) throw new QingtianError(ErrorCode.NotFound, `storage engine: no volume ${id}`);
    return e.volume;
  }

  volumeIds(): number[] {
    return [...this.volumes.keys()];
  }

  setQos(id: number, qos: QosSpec): void {
    this.volume(id);
    this.scheduler.setVolume(id, qos);
  }

  qos(id: number): { spec: QosSpec; served: { reservation: number; weight: number }; throttled: number } {
    return {
      spec: this.scheduler.spec(id) ?? {},
      served: this.scheduler.served(id),
      throttled: this.scheduler.throttled(id),
    };
  }

  /** A volume's request latency histogram (dequeue to completion). */
  latency(id: number): LatencyHistogramData {
    return this.volumes.get(id)?.latency.data() ?? new LatencyHistogram().data();
  }

  /** Counters of a volume's queues. */
  queueCounters(id: number): { base: number; counters: QueueCounters }[] {
    return (this.volumes.get(id)?.queues ?? []).map((q) => ({ base: q.base, counters: { ...q.counters } }));
  }

  /** Detaches a volume's queues, fails what it still had queued with EIO, and forgets it. */
  removeVolume(id: number): Volume {
    const e = this.volumes.get(id);
    if (!e) throw new QingtianError(ErrorCode.NotFound, `storage engine: no volume ${id}`);
    for (const q of e.queues) this.detachQueue(q.base);
    for (const req of this.scheduler.removeVolume(id)) this.finish(req, VolumeStatus.IoError, null);
    this.endBursts();
    this.volumes.delete(id);
    return e.volume;
  }

  /** Serves the volume queue whose region is at `base` (validated as hostile input). */
  attachQueue(volumeId: number, base: number): QueueEndpoint {
    const e = this.volumes.get(volumeId);
    if (!e) throw new QingtianError(ErrorCode.NotFound, `storage engine: no volume ${volumeId}`);
    if (this.queues.has(base))
      throw new QingtianError(ErrorCode.InvalidArgument, `volume queue at 0x${base.toString(16)} is already attached`);
    const q = new QueueEndpoint(this.memory, base, volumeId, e.volume.blockCount, this.doorbellAddr, this.sleepingAddr);
    e.queues.push(q);
    this.queues.set(base, q);
    this.kick();
    return q;
  }

  detachQueue(base: number): void {
    const q = this.queues.get(base);
    if (!q) return;
    q.detach();
    this.queues.delete(base);
    const e = this.volumes.get(q.volumeId);
    if (e) e.queues = e.queues.filter((x) => x !== q);
  }

  /** In-thread submission (the NBD server): queued for QoS, served by the loop. */
  submit(volumeId: number, req: EngineRequest): void {
    if (!this.volumes.has(volumeId)) {
      req.sink.complete(req, VolumeStatus.IoError, null);
      req.sink.endBurst();
      return;
    }
    req.queuedAt = performance.now();
    this.scheduler.enqueue(volumeId, req);
    this.kick();
  }

  /** Rings the engine's own doorbell (wakes the loop if it sleeps). */
  kick(): void {
    Atomics.add(this.i32, this.bellIdx, 1);
    if (Atomics.load(this.i32, this.sleepIdx) !== 0) Atomics.notify(this.i32, this.bellIdx);
  }

  /** Starts the loop (idempotent). */
  start(): void {
    this.running ??= this.loop();
  }

  /** Stops the loop after the burst in progress; queued requests stay queued. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.kick();
    await this.running;
    this.running = null;
    this.stopping = false;
  }

  /** Frees the engine's memory (after stop; volumes are closed by their owner). */
  free(): void {
    this.memory.free(this.control, OWNER);
    this.memory.free(this.staging, OWNER);
  }

  /** One pass without waiting: pop the queues and serve what QoS allows. Returns requests served. */
  pass(max = BURST): number {
    const now = performance.now();
    for (const q of this.queues.values())
      q.pop(q.depth, (r) => {
        r.queuedAt = now;
        this.enqueue(q.volumeId, r);
      });
    let n = 0;
    while (n < max) {
      const pick = this.scheduler.next();
      if (!pick) break;
      this.serve(pick.client, pick.item);
      n++;
    }
    this.endBursts();
    if (n > 0) {
      this.counters.served += n;
      this.counters.bursts++;
    }
    return n;
  }

  /** Background work on every volume; true while some remains. */
  maintain(budget = 2): boolean {
    let more = false;
    for (const e of this.volumes.values()) if (e.volume.maintain(budget)) more = true;
    this.counters.maintenanceSteps++;
    return more;
  }

  private enqueue(volumeId: number, req: EngineRequest): void {
    this.scheduler.enqueue(volumeId, req);
  }

  private serve(volumeId: number, req: EngineRequest): void {
    const e = this.volumes.get(volumeId)!;
    const v = e.volume;
    e.served++;
    let status: VolumeStatus;
    let data: Uint8Array | null = null;
    const st = this.staging.base;
    const partial = req.skew !== 0 || req.bytes !== req.blocks * BLOCK;
    switch (req.op) {
      case VolumeOp.Read:
        if (req.addr >= 0) status = v.read(req.lba, req.blocks, req.addr);
        else {
          status = v.read(req.lba, req.blocks, st);
          const from = st + req.skew;
          if (status === VolumeStatus.Ok) data = this.u8.subarray(from, from + req.bytes);
        }
        break;
      case VolumeOp.Write:
        if (!req.heap) status = v.write(req.lba, req.blocks, req.addr, (req.flags & VolumeFlag.Fua) !== 0);
        else status = this.writeHeap(v, req, req.heap, partial);
        break;
      case VolumeOp.Flush:
        status = v.flush();
        break;
      case VolumeOp.Discard:
        status = this.discardWhole(v, req);
        if (status === VolumeStatus.Ok && (req.flags & VolumeFlag.Fua) !== 0) status = v.flush();
        break;
      case VolumeOp.WriteZeroes:
        status = partial
          ? this.zeroPartial(v, req)
          : v.writeZeroes(req.lba, req.blocks, (req.flags & VolumeFlag.Unmap) !== 0);
        if (status === VolumeStatus.Ok && (req.flags & VolumeFlag.Fua) !== 0) status = v.flush();
        break;
    }
    this.finish(req, status, data);
    if (req.queuedAt !== undefined) e.latency.record((performance.now() - req.queuedAt) / 1000);
  }

  /** A write from a heap buffer; a partial one reads the blocks it touches, patches and writes them. */
  private writeHeap(v: Volume, req: EngineRequest, heap: Buffer, partial: boolean): VolumeStatus {
    const st = this.staging.base;
    if (partial) {
      const s = v.read(req.lba, req.blocks, st);
      if (s !== VolumeStatus.Ok) return s;
    }
    this.u8.set(heap, st + req.skew);
    return v.write(req.lba, req.blocks, st, (req.flags & VolumeFlag.Fua) !== 0);
  }

  /** DISCARD is advisory: only the whole blocks inside the range are unmapped. */
  private discardWhole(v: Volume, req: EngineRequest): VolumeStatus {
    const first = req.skew === 0 ? req.lba : req.lba + 1;
    const end = Math.floor((req.lba * BLOCK + req.skew + req.bytes) / BLOCK);
    return end > first ? v.discard(first, end - first) : VolumeStatus.Ok;
  }

  /** WRITE_ZEROES that starts or ends inside a block: patch the edge blocks, zero the whole ones between. */
  private zeroPartial(v: Volume, req: EngineRequest): VolumeStatus {
    const start = req.lba * BLOCK + req.skew;
    const end = start + req.bytes;
    const firstWhole = Math.ceil(start / BLOCK);
    const endWhole = Math.floor(end / BLOCK);
    const st = this.staging.base;
    for (const blk of new Set([req.lba, Math.floor((end - 1) / BLOCK)])) {
      if (blk >= firstWhole && blk < endWhole) continue;
      let s = v.read(blk, 1, st);
      if (s !== VolumeStatus.Ok) return s;
      const a = Math.max(start, blk * BLOCK) - blk * BLOCK;
      const b = Math.min(end, (blk + 1) * BLOCK) - blk * BLOCK;
      this.u8.fill(0, st + a, st + b);
      s = v.write(blk, 1, st);
      if (s !== VolumeStatus.Ok) return s;
    }
    return endWhole > firstWhole
      ? v.writeZeroes(firstWhole, endWhole - firstWhole, (req.flags & VolumeFlag.Unmap) !== 0)
      : VolumeStatus.Ok;
  }

  private finish(req: EngineRequest, status: VolumeStatus, data: Uint8Array | null): void {
    req.sink.complete(req, status, data);
    this.touched.add(req.sink);
  }

  private endBursts(): void {
    if (this.touched.size === 0) return;
    for (const s of this.touched) s.endBurst();
    this.touched.clear();
  }

  private hasWork(): boolean {
    for (const q of this.queues.values()) if (q.hasRequests()) return true;
    return this.scheduler.size > 0 && this.scheduler.nextWakeNs() === null;
  }

  private async loop(): Promise<void> {
    let lastYield = performance.now();
    let lastMaintain = lastYield;
    let spinSince = 0;
    let background = true;
    while (!this.stopping) {
      const bell = Atomics.load(this.i32, this.bellIdx);
      const n = this.pass();
      const now = performance.now();
      if (background && now - lastMaintain >= (n > 0 ? MAINTAIN_MS : 0)) {
        background = this.maintain();
        lastMaintain = now;
      }
      if (n > 0 || background) {
        spinSince = 0;
        if (now - lastYield >= YIELD_MS || n === 0) {
          await yieldTurn();
          this.counters.yields++;
          lastYield = performance.now();
        }
        continue;
      }
      if (spinSince === 0) spinSince = now;
      if (now - spinSince < SPIN_MS) {
        await yieldTurn();
        continue;
      }
      spinSince = 0;
      Atomics.store(this.i32, this.sleepIdx, 1);
      if (this.hasWork()) {
        Atomics.store(this.i32, this.sleepIdx, 0);
        continue;
      }
      const wakeNs = this.scheduler.nextWakeNs();
      const waitMs = wakeNs === null ? IDLE_WAIT_MS : Math.min(IDLE_WAIT_MS, (wakeNs - this.clock.nowNs()) / 1e6);
      this.counters.sleeps++;
      const r = Atomics.waitAsync(this.i32, this.bellIdx, bell, Math.max(0, waitMs));
      if (r.async) await r.value;
      Atomics.store(this.i32, this.sleepIdx, 0);
      this.counters.wakeups++;
      lastYield = performance.now();
      // Background work gets a look after every sleep (a checkpoint due, a low free count).
      background = true;
    }
  }
}

function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
