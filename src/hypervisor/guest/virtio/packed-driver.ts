import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { RingFeatures } from '../../../common/virtio/features.js';
import {
  DESC_ADDR,
  DESC_BYTES,
  DESC_LEN,
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
} from '../../../generated/virtio.js';
import {
  requestBufs,
  type Buf,
  type Completion,
  type DriverOptions,
  type GuestRam,
  type VirtqueueDriver,
} from './driver-api.js';

/**
 * Packed virtqueue driver (§2.8), spec-literal and simple. Wrap counters start at 1 (§2.8.1);
 * a chain's descriptors are written first and its head's flags last with a sequentially
 * consistent store (§2.8.6: the driver makes the first descriptor available last).
 */
export class PackedDriver implements VirtqueueDriver {
  readonly size: number;
  readonly features: RingFeatures;
  readonly descGpa: bigint;
  readonly driverGpa: bigint;
  readonly deviceGpa: bigint;
  private readonly u16: Uint16Array;
  private readonly freeIds: number[] = [];
  /** id → ring slots its chain took. */
  private readonly slots = new Map<number, number>();
  private readonly fifo: number[] = [];
  private readonly indirectGpa: bigint;
  private readonly maxIndirect: number;
  private freeSlots: number;
  private nextAvail = 0;
  private availWrap = 1;
  private nextUsed = 0;
  private usedWrap = 1;
  /** Linear position (mod 2N) at the last kick, for the RING_EVENT_FLAGS_DESC check. */
  private kickedPos = 0;

  constructor(
    private readonly guest: GuestRam,
    private readonly opts: DriverOptions,
  ) {
    const n = opts.size;
    if (!Number.isInteger(n) || n < 1 || n > 32768)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `packed driver size: expected an integer in [1, 32768], got ${n}`,
      );
    this.size = n;
    this.features = opts.features;
    this.maxIndirect = opts.maxIndirect ?? 16;
    this.descGpa = guest.allocGpa(DESC_BYTES * n, 16);
    this.driverGpa = guest.allocGpa(4, 4);
    this.deviceGpa = guest.allocGpa(4, 4);
    this.indirectGpa = opts.features.indirect ? guest.allocGpa(n * DESC_BYTES * this.maxIndirect, 16) : 0n;
    this.u16 = new Uint16Array(guest.sharedBuffer);
    this.freeSlots = n;
    for (let i = n - 1; i >= 0; i--) this.freeIds.push(i);
  }

  get outstanding(): number {
    return this.slots.size;
  }

  add(out: readonly Buf[], inb: readonly Buf[], opts: { indirect?: boolean } = {}): number | null {
    const bufs = requestBufs(out, inb);
    const indirect = (opts.indirect ?? false) && this.features.indirect && bufs.length <= this.maxIndirect;
    const k = indirect ? 1 : bufs.length;
    if (k > this.freeSlots || this.freeIds.length === 0) return null;
    const id = this.freeIds.pop()!;
    let ring = bufs;
    if (indirect) {
      const table = this.indirectGpa + BigInt(id * DESC_BYTES * this.maxIndirect);
      bufs.forEach((b, i) => this.writeDesc(table + BigInt(i * DESC_BYTES), b.gpa, b.len, id, b.write ? F_WRITE : 0));
      ring = [{ gpa: table, len: bufs.length * DESC_BYTES, write: false }];
    }
    const head = this.nextAvail;
    let headFlags = 0;
    ring.forEach((b, i) => {
      const flags =
        (i + 1 < ring.length ? F_NEXT : 0) |
        (b.write ? F_WRITE : 0) |
        (indirect ? F_INDIRECT : 0) |
        (this.availWrap ? F_AVAIL : F_USED);
      if (i === 0) {
        this.writeDesc(this.desc(head), b.gpa, b.len, id, null);
        headFlags = flags;
      } else {
        this.writeDesc(this.desc(this.nextAvail), b.gpa, b.len, id, flags);
      }
      this.nextAvail++;
      if (this.nextAvail === this.size) {
        this.nextAvail = 0;
        this.availWrap ^= 1;
      }
    });
    Atomics.store(this.u16, this.hostIdx(this.desc(head) + BigInt(PDESC_FLAGS)), headFlags);
    this.slots.set(id, k);
    this.fifo.push(id);
    this.freeSlots -= k;
    return id;
  }

  kick(): boolean {
    const now = this.pos(this.nextAvail, this.availWrap);
    const old = this.kickedPos;
    if (now === old) return false;
    this.kickedPos = now;
    const flags = Atomics.load(this.u16, this.hostIdx(this.deviceGpa + BigInt(EVS_FLAGS))) & 3;
    let notify: boolean;
    if (flags === RING_EVENT_DISABLE) notify = false;
    else if (flags === RING_EVENT_DESC && this.features.eventIdx) {
      const ow = Atomics.load(this.u16, this.hostIdx(this.deviceGpa + BigInt(EVS_OFF_WRAP)));
      const e = this.pos(ow & 0x7fff, ow >> 15);
      const span = 2 * this.size;
      // The device asked for a kick when the descriptor at position e becomes available:
      // notify when e lies in [old, now).
      notify = (ow & 0x7fff) >= this.size || (now + span - e - 1) % span < (now + span - old) % span;
    } else notify = true; // ENABLE, and anything unexpected errs toward notifying
    if (notify) this.opts.notify();
    return notify;
  }

  reap(): Completion[] {
    const out: Completion[] = [];
    for (;;) {
      const at = this.desc(this.nextUsed);
      const f = Atomics.load(this.u16, this.hostIdx(at + BigInt(PDESC_FLAGS)));
      const w = this.usedWrap ? 1 : 0;
      if (((f & F_AVAIL) !== 0 ? 1 : 0) !== w || ((f & F_USED) !== 0 ? 1 : 0) !== w) break;
      const o = Number(at);
      const id = this.guest.ram.getUint16(o + PDESC_ID, true);
      const len = this.guest.ram.getUint32(o + DESC_LEN, true);
      if (!this.slots.has(id))
        throw new QingtianError(
          ErrorCode.DeviceState,
          `packed driver: device returned id ${id}, which is not in flight`,
        );
      if (this.features.inOrder) {
        for (;;) {
          const x = this.fifo.shift()!;
          this.complete(x);
          out.push({ token: x, len: x === id ? len : 0 });
          if (x === id) break;
        }
      } else {
        this.fifo.splice(this.fifo.indexOf(id), 1);
        this.complete(id);
        out.push({ token: id, len });
      }
    }
    return out;
  }

  enableInterrupts(): boolean {
    const ev = this.driverGpa;
    if (this.features.eventIdx) {
      this.guest.ram.setUint16(Number(ev) + EVS_OFF_WRAP, this.nextUsed | (this.usedWrap << 15), true);
      Atomics.store(this.u16, this.hostIdx(ev + BigInt(EVS_FLAGS)), RING_EVENT_DESC);
    } else {
      Atomics.store(this.u16, this.hostIdx(ev + BigInt(EVS_FLAGS)), RING_EVENT_ENABLE);
    }
    const f = Atomics.load(this.u16, this.hostIdx(this.desc(this.nextUsed) + BigInt(PDESC_FLAGS)));
    const w = this.usedWrap ? 1 : 0;
    return ((f & F_AVAIL) !== 0 ? 1 : 0) === w && ((f & F_USED) !== 0 ? 1 : 0) === w && this.slots.size > 0;
  }

  disableInterrupts(): void {
    Atomics.store(this.u16, this.hostIdx(this.driverGpa + BigInt(EVS_FLAGS)), RING_EVENT_DISABLE);
  }

  private complete(id: number): void {
    const k = this.slots.get(id)!;
    this.slots.delete(id);
    this.freeIds.push(id);
    this.freeSlots += k;
    this.nextUsed += k;
    while (this.nextUsed >= this.size) {
      this.nextUsed -= this.size;
      this.usedWrap ^= 1;
    }
  }

  /** Linear position mod 2N: wrap 1 covers [0, N), wrap 0 covers [N, 2N). */
  private pos(slot: number, wrap: number): number {
    return slot + (wrap ? 0 : this.size);
  }

  private desc(slot: number): bigint {
    return this.descGpa + BigInt(slot * DESC_BYTES);
  }

  private writeDesc(at: bigint, addr: bigint, len: number, id: number, flags: number | null): void {
    const o = Number(at);
    this.guest.ram.setBigUint64(o + DESC_ADDR, addr, true);
    this.guest.ram.setUint32(o + DESC_LEN, len, true);
    this.guest.ram.setUint16(o + PDESC_ID, id, true);
    if (flags !== null) this.guest.ram.setUint16(o + PDESC_FLAGS, flags, true);
  }

  private hostIdx(gpa: bigint): number {
    return this.guest.host(gpa, 2) >> 1;
  }
}
