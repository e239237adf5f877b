import type { RingFeatures } from '../../common/virtio/features.js';
import { needEvent } from '../../common/virtio/ring-layout.js';
import {
  AVAIL_FLAGS,
  AVAIL_F_NO_INTERRUPT,
  AVAIL_IDX,
  AVAIL_RING,
  DESC_ADDR,
  DESC_BYTES,
  DESC_FLAGS,
  DESC_LEN,
  DESC_NEXT,
  EVS_FLAGS,
  EVS_OFF_WRAP,
  F_AVAIL,
  F_INDIRECT,
  F_NEXT,
  F_USED,
  F_WRITE,
  PDESC_FLAGS,
  PDESC_ID,
  RING_EVENT_DESC,
  RING_EVENT_DISABLE,
  RING_EVENT_ENABLE,
  USED_ELEM_BYTES,
  USED_ELEM_ID,
  USED_ELEM_LEN,
  USED_FLAGS,
  USED_F_NO_NOTIFY,
  USED_IDX,
  USED_RING,
} from '../../generated/virtio.js';

/** Guest memory as the reference device sees it (a GuestRam without the allocator). */
export interface RefMemory {
  readonly ram: DataView;
  readonly sharedBuffer: ArrayBufferLike;
  host(gpa: bigint, len?: number): number;
}

/** A queue configuration as the reference device takes it (no checks: it trusts it). */
export interface RefQueueConfig {
  /** Queue size. */
  size: number;
  /** Ring format and features. */
  features: RingFeatures;
  /** Guest-physical address of the descriptor table (packed: the ring). */
  descGpa: bigint;
  /** Of the driver area (split: available ring; packed: driver event suppression). */
  driverGpa: bigint;
  /** Of the device area (split: used ring; packed: device event suppression). */
  deviceGpa: bigint;
}

/** One buffer of a chain: guest-physical address and length. */
export interface RefBuf {
  /** Guest-physical address. */
  gpa: bigint;
  /** Bytes. */
  len: number;
}

/** A popped chain: split token = head; packed token = first slot (id is the buffer id). */
export interface RefChain {
  token: number;
  id: number;
  slots: number;
  out: RefBuf[];
  in: RefBuf[];
}

/**
 * The reference virtqueue device: plain, spec-literal TypeScript (§2.7, §2.8), simple and slow.
 * It trusts the driver (no hardening: that is the Wasm device's job) and exists to check the
 * Wasm driver from an independent side, and as the benchmarks' peer.
 */
export class ReferenceDevice {
  private readonly u16: Uint16Array;
  private readonly i32: Int32Array;
  private readonly n: number;
  private lastAvail = 0;
  private usedIdx = 0;
  private signalled = -1;
  private availSlot = 0;
  private availWrap = 1;
  private usedSlot = 0;
  private usedWrap = 1;
  private deferredFlags: { at: number; flags: number } | null = null;
  private batchStart = 0;

  constructor(
    private readonly mem: RefMemory,
    readonly config: RefQueueConfig,
    /** Host address of the interrupt word (0: none). */
    private readonly irqAddr = 0,
  ) {
    this.u16 = new Uint16Array(mem.sharedBuffer);
    this.i32 = new Int32Array(mem.sharedBuffer);
    this.n = config.size;
  }

  pop(): RefChain | null {
    return this.config.features.packed ? this.popPacked() : this.popSplit();
  }

  /** Writes the used entry for `chain` (published by publish()). */
  push(chain: RefChain, len: number): void {
    if (this.config.features.packed) this.pushPacked(chain, len);
    else {
      const e = Number(this.config.deviceGpa) + USED_RING + USED_ELEM_BYTES * (this.usedIdx % this.n);
      this.mem.ram.setUint32(e + USED_ELEM_ID, chain.id, true);
      this.mem.ram.setUint32(e + USED_ELEM_LEN, len, true);
      this.usedIdx = (this.usedIdx + 1) & 0xffff;
    }
  }

  /** Makes pushed entries visible and interrupts the driver if it asked. Returns whether it did. */
  publish(): boolean {
    const f = this.config.features;
    let notify: boolean;
    if (f.packed) {
      if (!this.deferredFlags) return false;
      Atomics.store(this.u16, this.deferredFlags.at >> 1, this.deferredFlags.flags);
      this.deferredFlags = null;
      const flags = Atomics.load(this.u16, this.hostIdx(this.config.driverGpa + BigInt(EVS_FLAGS))) & 3;
      const now = this.pos(this.usedSlot, this.usedWrap);
      if (flags === RING_EVENT_DISABLE) notify = false;
      else if (flags === RING_EVENT_DESC && f.eventIdx) {
        const ow = Atomics.load(this.u16, this.hostIdx(this.config.driverGpa + BigInt(EVS_OFF_WRAP)));
        const e = this.pos(ow & 0x7fff, ow >> 15);
        const span = 2 * this.n;
        notify = (now + span - e - 1) % span < (now + span - this.batchStart) % span;
      } else notify = true;
      this.batchStart = now;
    } else {
      Atomics.store(this.u16, this.hostIdx(this.config.deviceGpa + BigInt(USED_IDX)), this.usedIdx);
      if (f.eventIdx) {
        const usedEvent = Atomics.load(this.u16, this.hostIdx(this.config.driverGpa + BigInt(AVAIL_RING + 2 * this.n)));
        notify = this.signalled < 0 || needEvent(usedEvent, this.usedIdx, this.signalled);
      } else {
        notify =
          (Atomics.load(this.u16, this.hostIdx(this.config.driverGpa + BigInt(AVAIL_FLAGS))) & AVAIL_F_NO_INTERRUPT) ===
          0;
      }
      this.signalled = this.usedIdx;
    }
    if (notify && this.irqAddr) {
      Atomics.add(this.i32, this.irqAddr >> 2, 1);
      Atomics.notify(this.i32, this.irqAddr >> 2);
    }
    return notify;
  }

  /** Kicks on, then re-check (E6): true when work is already available. */
  enableKicks(): boolean {
    const f = this.config.features;
    if (f.packed) {
      const dev = this.config.deviceGpa;
      if (f.eventIdx) {
        this.mem.ram.setUint16(Number(dev) + EVS_OFF_WRAP, this.availSlot | (this.availWrap << 15), true);
        Atomics.store(this.u16, this.hostIdx(dev + BigInt(EVS_FLAGS)), RING_EVENT_DESC);
      } else Atomics.store(this.u16, this.hostIdx(dev + BigInt(EVS_FLAGS)), RING_EVENT_ENABLE);
      return this.available(this.availSlot, this.availWrap);
    }
    if (f.eventIdx)
      Atomics.store(
        this.u16,
        this.hostIdx(this.config.deviceGpa + BigInt(USED_RING + USED_ELEM_BYTES * this.n)),
        this.lastAvail,
      );
    else Atomics.store(this.u16, this.hostIdx(this.config.deviceGpa + BigInt(USED_FLAGS)), 0);
    return Atomics.load(this.u16, this.hostIdx(this.config.driverGpa + BigInt(AVAIL_IDX))) !== this.lastAvail;
  }

  disableKicks(): void {
    const f = this.config.features;
    if (f.packed) Atomics.store(this.u16, this.hostIdx(this.config.deviceGpa + BigInt(EVS_FLAGS)), RING_EVENT_DISABLE);
    else if (!f.eventIdx)
      Atomics.store(this.u16, this.hostIdx(this.config.deviceGpa + BigInt(USED_FLAGS)), USED_F_NO_NOTIFY);
  }

  private popSplit(): RefChain | null {
    const c = this.config;
    const idx = Atomics.load(this.u16, this.hostIdx(c.driverGpa + BigInt(AVAIL_IDX)));
    if (idx === this.lastAvail) return null;
    const head = this.mem.ram.getUint16(Number(c.driverGpa) + AVAIL_RING + 2 * (this.lastAvail % this.n), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    const chain: RefChain = { token: head, id: head, slots: 1, out: [], in: [] };
    let i = head;
    for (;;) {
      const d = Number(c.descGpa) + DESC_BYTES * i;
      const flags = this.mem.ram.getUint16(d + DESC_FLAGS, true);
      if (flags & F_INDIRECT) {
        this.walkTable(
          this.mem.ram.getBigUint64(d + DESC_ADDR, true),
          this.mem.ram.getUint32(d + DESC_LEN, true),
          false,
          chain,
        );
        break;
      }
      this.addBuf(
        chain,
        this.mem.ram.getBigUint64(d + DESC_ADDR, true),
        this.mem.ram.getUint32(d + DESC_LEN, true),
        flags,
      );
      if (!(flags & F_NEXT)) break;
      i = this.mem.ram.getUint16(d + DESC_NEXT, true);
    }
    return chain;
  }

  private popPacked(): RefChain | null {
    const c = this.config;
    if (!this.available(this.availSlot, this.availWrap)) return null;
    const chain: RefChain = { token: this.availSlot, id: 0, slots: 0, out: [], in: [] };
    for (;;) {
      const d = Number(c.descGpa) + DESC_BYTES * this.availSlot;
      const flags = this.mem.ram.getUint16(d + PDESC_FLAGS, true);
      chain.id = this.mem.ram.getUint16(d + PDESC_ID, true);
      if (flags & F_INDIRECT)
        this.walkTable(
          this.mem.ram.getBigUint64(d + DESC_ADDR, true),
          this.mem.ram.getUint32(d + DESC_LEN, true),
          true,
          chain,
        );
      else
        this.addBuf(
          chain,
          this.mem.ram.getBigUint64(d + DESC_ADDR, true),
          this.mem.ram.getUint32(d + DESC_LEN, true),
          flags,
        );
      chain.slots++;
      this.availSlot++;
      if (this.availSlot === this.n) {
        this.availSlot = 0;
        this.availWrap ^= 1;
      }
      if (!(flags & F_NEXT)) break;
    }
    return chain;
  }

  private walkTable(gpa: bigint, len: number, packed: boolean, chain: RefChain): void {
    const entries = len / 16;
    let j = 0;
    for (let k = 0; k < entries; k++) {
      const d = Number(gpa) + DESC_BYTES * j;
      const flags = this.mem.ram.getUint16(d + (packed ? PDESC_FLAGS : DESC_FLAGS), true);
      this.addBuf(
        chain,
        this.mem.ram.getBigUint64(d + DESC_ADDR, true),
        this.mem.ram.getUint32(d + DESC_LEN, true),
        flags,
      );
      if (packed) j++;
      else if (flags & F_NEXT) j = this.mem.ram.getUint16(d + DESC_NEXT, true);
      else break;
    }
  }

  private pushPacked(chain: RefChain, len: number): void {
    const d = Number(this.config.descGpa) + DESC_BYTES * this.usedSlot;
    this.mem.ram.setUint16(d + PDESC_ID, chain.id, true);
    this.mem.ram.setUint32(d + DESC_LEN, len, true);
    const flags = (this.usedWrap ? F_AVAIL | F_USED : 0) | (len ? F_WRITE : 0);
    if (!this.deferredFlags)
      this.deferredFlags = {
        at: this.mem.host(this.config.descGpa + BigInt(DESC_BYTES * this.usedSlot + PDESC_FLAGS), 2),
        flags,
      };
    else this.mem.ram.setUint16(d + PDESC_FLAGS, flags, true);
    this.usedSlot += chain.slots;
    while (this.usedSlot >= this.n) {
      this.usedSlot -= this.n;
      this.usedWrap ^= 1;
    }
  }

  private available(slot: number, wrap: number): boolean {
    const f = Atomics.load(this.u16, this.hostIdx(this.config.descGpa + BigInt(DESC_BYTES * slot + PDESC_FLAGS)));
    return ((f & F_AVAIL) !== 0) === (wrap === 1) && ((f & F_USED) !== 0) !== (wrap === 1);
  }

  private addBuf(chain: RefChain, gpa: bigint, len: number, flags: number): void {
    (flags & F_WRITE ? chain.in : chain.out).push({ gpa, len });
  }

  private pos(slot: number, wrap: number): number {
    return slot + (wrap ? 0 : this.n);
  }

  private hostIdx(gpa: bigint): number {
    return this.mem.host(gpa, 2) >> 1;
  }
}

/** Loopback semantics over a popped chain: copies readable bytes into writable buffers; returns bytes written. */
export function echoChain(mem: RefMemory, chain: RefChain): number {
  const src: number[] = [];
  for (const b of chain.out) for (let i = 0; i < b.len; i++) src.push(mem.ram.getUint8(Number(b.gpa) + i));
  let k = 0;
  for (const b of chain.in)
    for (let i = 0; i < b.len && k < src.length; i++) mem.ram.setUint8(Number(b.gpa) + i, src[k++]!);
  return k;
}
