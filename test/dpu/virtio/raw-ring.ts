/**
 * Test double: a "driver" that writes whatever bytes a test wants into the rings — the way a
 * malicious guest would — and a harness that runs the loopback device's kernel directly on the
 * main thread (same Wasm as on a DPU core), one burst per call.
 */
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { LoopbackDevice, type LoopbackOptions } from '../../../src/dpu/virtio/loopback-device.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import type { RingFeatures } from '../../../src/common/virtio/features.js';
import { splitAvailBytes, splitUsedBytes } from '../../../src/common/virtio/ring-layout.js';
import {
  AVAIL_FLAGS,
  AVAIL_IDX,
  AVAIL_RING,
  DESC_BYTES,
  EVS_BYTES,
  EVS_FLAGS,
  EVS_OFF_WRAP,
  F_AVAIL,
  F_USED,
  PDESC_FLAGS,
  PDESC_ID,
  USED_FLAGS,
  USED_IDX,
  USED_RING,
} from '../../../src/generated/virtio.js';
import { GuardedGuest, MIB } from './helpers.js';

export const F = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;
export const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: true, inOrder: false };
export const PACKED: RingFeatures = { packed: true, eventIdx: false, indirect: true, inOrder: false };

export class Harness {
  readonly memory = new HostMemory({ sizeBytes: 32 * MIB });
  readonly rt = new LoaderRuntime(this.memory);
  readonly gg: GuardedGuest;
  readonly dev: LoopbackDevice;
  private readonly runFn: (state: number, budget: number) => number;

  constructor(ramBytes = MIB, maxQueueSize = 1024, options: LoopbackOptions = {}) {
    this.gg = new GuardedGuest(this.memory, 'conf', ramBytes);
    this.dev = new LoopbackDevice(this.rt, this.gg.guest, 'conf-loop', { maxQueueSize, maxBurst: 64, ...options });
    this.runFn = this.rt.kernel('virtio').fn('vloop_run');
  }

  get guest() {
    return this.gg.guest;
  }

  /** One burst of the device kernel; returns what the job entry returned (it must never throw). */
  run(budget = 64): number {
    return this.runFn(this.dev.state.base, budget);
  }

  irqs(): number {
    return Atomics.load(this.memory.i32, this.dev.queue.irqAddr >> 2);
  }

  configIrqs(): number {
    return Atomics.load(this.memory.i32, this.dev.configIrq >> 2);
  }

  /** A guest buffer holding `bytes` (or `len` zero bytes). */
  buf(bytesOrLen: Uint8Array | number): bigint {
    const data = typeof bytesOrLen === 'number' ? new Uint8Array(bytesOrLen) : bytesOrLen;
    const gpa = this.guest.allocGpa(Math.max(1, data.length), 64);
    this.guest.write(gpa, data);
    return gpa;
  }
}

export class RawSplit {
  readonly descGpa: bigint;
  readonly availGpa: bigint;
  readonly usedGpa: bigint;
  availIdx = 0;

  constructor(
    readonly h: Harness,
    readonly size: number,
    readonly features: RingFeatures = SPLIT,
  ) {
    const g = h.guest;
    this.descGpa = g.allocGpa(DESC_BYTES * size, 16);
    this.availGpa = g.allocGpa(splitAvailBytes(size, true), 2);
    this.usedGpa = g.allocGpa(splitUsedBytes(size, true), 4);
  }

  configure(): this {
    this.h.dev.configure({
      size: this.size,
      features: this.features,
      descGpa: this.descGpa,
      driverGpa: this.availGpa,
      deviceGpa: this.usedGpa,
    });
    return this;
  }

  desc(i: number, addr: bigint, len: number, flags = 0, next = 0): this {
    return this.descAt(this.descGpa + BigInt(16 * i), addr, len, flags, next);
  }

  /** Writes a split-format descriptor anywhere (e.g. into an indirect table). */
  descAt(gpa: bigint, addr: bigint, len: number, flags = 0, next = 0): this {
    const r = this.h.guest.ram;
    const o = Number(gpa);
    r.setBigUint64(o, addr, true);
    r.setUint32(o + 8, len, true);
    r.setUint16(o + 12, flags, true);
    r.setUint16(o + 14, next, true);
    return this;
  }

  /** Puts heads in the available ring and publishes them. */
  post(...heads: number[]): this {
    for (const head of heads) {
      this.h.guest.ram.setUint16(Number(this.availGpa) + AVAIL_RING + 2 * (this.availIdx % this.size), head, true);
      this.availIdx = (this.availIdx + 1) & 0xffff;
    }
    return this.setAvailIdx(this.availIdx);
  }

  setAvailIdx(v: number): this {
    this.availIdx = v & 0xffff;
    this.h.guest.ram.setUint16(Number(this.availGpa) + AVAIL_IDX, this.availIdx, true);
    return this;
  }

  setAvailFlags(v: number): this {
    this.h.guest.ram.setUint16(Number(this.availGpa) + AVAIL_FLAGS, v, true);
    return this;
  }

  setUsedEvent(v: number): this {
    this.h.guest.ram.setUint16(Number(this.availGpa) + AVAIL_RING + 2 * this.size, v, true);
    return this;
  }

  usedIdx(): number {
    return this.h.guest.ram.getUint16(Number(this.usedGpa) + USED_IDX, true);
  }

  usedFlags(): number {
    return this.h.guest.ram.getUint16(Number(this.usedGpa) + USED_FLAGS, true);
  }

  availEvent(): number {
    return this.h.guest.ram.getUint16(Number(this.usedGpa) + USED_RING + 8 * this.size, true);
  }

  used(i: number): { id: number; len: number } {
    const o = Number(this.usedGpa) + USED_RING + 8 * (i % this.size);
    return { id: this.h.guest.ram.getUint32(o, true), len: this.h.guest.ram.getUint32(o + 4, true) };
  }
}

export class RawPacked {
  readonly descGpa: bigint;
  readonly driverGpa: bigint;
  readonly deviceGpa: bigint;
  slot = 0;
  wrap = 1;

  constructor(
    readonly h: Harness,
    readonly size: number,
    readonly features: RingFeatures = PACKED,
  ) {
    const g = h.guest;
    this.descGpa = g.allocGpa(DESC_BYTES * size, 16);
    this.driverGpa = g.allocGpa(EVS_BYTES, 4);
    this.deviceGpa = g.allocGpa(EVS_BYTES, 4);
  }

  configure(): this {
    this.h.dev.configure({
      size: this.size,
      features: this.features,
      descGpa: this.descGpa,
      driverGpa: this.driverGpa,
      deviceGpa: this.deviceGpa,
    });
    return this;
  }

  /** Writes a descriptor at `slot` with raw flags (no availability bits added). */
  raw(slot: number, addr: bigint, len: number, id: number, flags: number): this {
    const r = this.h.guest.ram;
    const o = Number(this.descGpa) + 16 * slot;
    r.setBigUint64(o, addr, true);
    r.setUint32(o + 8, len, true);
    r.setUint16(o + PDESC_ID, id, true);
    r.setUint16(o + PDESC_FLAGS, flags, true);
    return this;
  }

  /** Appends a chain at the driver's position, made available with the right wrap bits. */
  chain(bufs: { addr: bigint; len: number; flags?: number }[], id: number): this {
    const start = this.slot;
    const startWrap = this.wrap;
    bufs.forEach((b, i) => {
      const avail = this.wrap ? F_AVAIL : F_USED;
      const next = i + 1 < bufs.length ? F.NEXT : 0;
      if (i > 0) this.raw(this.slot, b.addr, b.len, id, (b.flags ?? 0) | next | avail);
      else this.raw(this.slot, b.addr, b.len, id, 0);
      this.slot++;
      if (this.slot === this.size) {
        this.slot = 0;
        this.wrap ^= 1;
      }
    });
    const b0 = bufs[0]!;
    // The head goes last.
    this.h.guest.ram.setUint16(
      Number(this.descGpa) + 16 * start + PDESC_FLAGS,
      (b0.flags ?? 0) | (bufs.length > 1 ? F.NEXT : 0) | (startWrap ? F_AVAIL : F_USED),
      true,
    );
    return this;
  }

  flags(slot: number): number {
    return this.h.guest.ram.getUint16(Number(this.descGpa) + 16 * slot + PDESC_FLAGS, true);
  }

  usedAt(slot: number): { id: number; len: number; flags: number } {
    const r = this.h.guest.ram;
    const o = Number(this.descGpa) + 16 * slot;
    return {
      id: r.getUint16(o + PDESC_ID, true),
      len: r.getUint32(o + 8, true),
      flags: r.getUint16(o + PDESC_FLAGS, true),
    };
  }

  setDriverEvent(flags: number, offWrap = 0): this {
    const r = this.h.guest.ram;
    r.setUint16(Number(this.driverGpa) + EVS_OFF_WRAP, offWrap, true);
    r.setUint16(Number(this.driverGpa) + EVS_FLAGS, flags, true);
    return this;
  }

  deviceEvent(): { offWrap: number; flags: number } {
    const r = this.h.guest.ram;
    return {
      offWrap: r.getUint16(Number(this.deviceGpa) + EVS_OFF_WRAP, true),
      flags: r.getUint16(Number(this.deviceGpa) + EVS_FLAGS, true),
    };
  }
}
