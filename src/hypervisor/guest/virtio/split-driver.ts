import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { RingFeatures } from '../../../common/virtio/features.js';
import { needEvent, splitAvailBytes, splitUsedBytes } from '../../../common/virtio/ring-layout.js';
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
  F_INDIRECT,
  F_NEXT,
  F_WRITE,
  USED_ELEM_BYTES,
  USED_ELEM_ID,
  USED_ELEM_LEN,
  USED_FLAGS,
  USED_F_NO_NOTIFY,
  USED_IDX,
  USED_RING,
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
 * Split virtqueue driver (§2.7), spec-literal and simple: plain reads and writes through the
 * guest's RAM view, a sequentially consistent store for each index it publishes and a
 * sequentially consistent load for each index or suppression field it reads. Its bookkeeping
 * (which descriptors a chain holds) is kept on the driver side, never re-read from the ring.
 */
export class SplitDriver implements VirtqueueDriver {
  readonly size: number;
  readonly features: RingFeatures;
  readonly descGpa: bigint;
  readonly driverGpa: bigint;
  readonly deviceGpa: bigint;
  private readonly u16: Uint16Array;
  private readonly free: number[] = [];
  private readonly chains = new Map<number, number[]>();
  /** Heads in the order they were made available (IN_ORDER completion expands batches by it). */
  private readonly fifo: number[] = [];
  private readonly indirectGpa: bigint;
  private readonly maxIndirect: number;
  private availIdx = 0;
  private pending = 0;
  private lastUsed = 0;
  private inOrderNext = 0;

  constructor(
    private readonly guest: GuestRam,
    private readonly opts: DriverOptions,
  ) {
    const n = opts.size;
    if (!Number.isInteger(n) || n < 1 || n > 32768 || (n & (n - 1)) !== 0) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `split driver size: expected a power of two in [1, 32768], got ${n}`,
      );
    }
    this.size = n;
    this.features = opts.features;
    this.maxIndirect = opts.maxIndirect ?? 16;
    this.descGpa = guest.allocGpa(DESC_BYTES * n, 16);
    this.driverGpa = guest.allocGpa(splitAvailBytes(n, true), 2);
    this.deviceGpa = guest.allocGpa(splitUsedBytes(n, true), 4);
    this.indirectGpa = opts.features.indirect ? guest.allocGpa(n * DESC_BYTES * this.maxIndirect, 16) : 0n;
    this.u16 = new Uint16Array(guest.sharedBuffer);
    for (let i = n - 1; i >= 0; i--) this.free.push(i);
  }

  get outstanding(): number {
    return this.chains.size;
  }

  add(out: readonly Buf[], inb: readonly Buf[], opts: { indirect?: boolean } = {}): number | null {
    const bufs = requestBufs(out, inb);
    const indirect = (opts.indirect ?? false) && this.features.indirect && bufs.length <= this.maxIndirect;
    const need = indirect ? 1 : bufs.length;
    const descs = this.take(need);
    if (!descs) return null;
    const head = descs[0]!;
    if (indirect) {
      const table = this.indirectGpa + BigInt(head * DESC_BYTES * this.maxIndirect);
      bufs.forEach((b, i) =>
        this.writeDesc(
          table + BigInt(i * DESC_BYTES),
          b.gpa,
          b.len,
          (i + 1 < bufs.length ? F_NEXT : 0) | (b.write ? F_WRITE : 0),
          i + 1 < bufs.length ? i + 1 : 0,
        ),
      );
      this.writeDesc(this.desc(head), table, bufs.length * DESC_BYTES, F_INDIRECT, 0);
    } else {
      bufs.forEach((b, i) => {
        const last = i + 1 === bufs.length;
        this.writeDesc(
          this.desc(descs[i]!),
          b.gpa,
          b.len,
          (last ? 0 : F_NEXT) | (b.write ? F_WRITE : 0),
          last ? 0 : descs[i + 1]!,
        );
      });
    }
    this.chains.set(head, descs);
    this.fifo.push(head);
    // §2.7.13.1: the ring entry goes in now; idx is published by kick().
    this.guest.ram.setUint16(
      Number(this.driverGpa) + AVAIL_RING + 2 * ((this.availIdx + this.pending) % this.size),
      head,
      true,
    );
    this.pending++;
    return head;
  }

  kick(): boolean {
    if (this.pending === 0) return false;
    const old = this.availIdx;
    this.availIdx = (this.availIdx + this.pending) & 0xffff;
    this.pending = 0;
    // §2.7.13.3: barrier, then idx
    Atomics.store(this.u16, this.hostIdx(this.driverGpa + BigInt(AVAIL_IDX)), this.availIdx);
    let notify: boolean;
    if (this.features.eventIdx) {
      const availEvent = Atomics.load(
        this.u16,
        this.hostIdx(this.deviceGpa + BigInt(USED_RING + USED_ELEM_BYTES * this.size)),
      );
      notify = needEvent(availEvent, this.availIdx, old);
    } else {
      notify = (Atomics.load(this.u16, this.hostIdx(this.deviceGpa + BigInt(USED_FLAGS))) & USED_F_NO_NOTIFY) === 0;
    }
    if (notify) this.opts.notify();
    return notify;
  }

  reap(): Completion[] {
    const out: Completion[] = [];
    const usedIdx = Atomics.load(this.u16, this.hostIdx(this.deviceGpa + BigInt(USED_IDX)));
    while (this.lastUsed !== usedIdx) {
      const e = Number(this.deviceGpa) + USED_RING + USED_ELEM_BYTES * (this.lastUsed % this.size);
      const id = this.guest.ram.getUint32(e + USED_ELEM_ID, true);
      const len = this.guest.ram.getUint32(e + USED_ELEM_LEN, true);
      if (!this.chains.has(id)) {
        throw new QingtianError(
          ErrorCode.DeviceState,
          `split driver: device returned id ${id}, which is not in flight`,
        );
      }
      if (this.features.inOrder) {
        // §2.7.9: one used element may stand for a batch ending with buffer `id`.
        for (;;) {
          const h = this.fifo.shift()!;
          this.complete(h);
          out.push({ token: h, len: h === id ? len : 0 });
          if (h === id) break;
        }
      } else {
        this.fifo.splice(this.fifo.indexOf(id), 1);
        this.complete(id);
        out.push({ token: id, len });
      }
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }

  enableInterrupts(): boolean {
    if (this.features.eventIdx)
      Atomics.store(this.u16, this.hostIdx(this.driverGpa + BigInt(AVAIL_RING + 2 * this.size)), this.lastUsed);
    else Atomics.store(this.u16, this.hostIdx(this.driverGpa + BigInt(AVAIL_FLAGS)), 0);
    return Atomics.load(this.u16, this.hostIdx(this.deviceGpa + BigInt(USED_IDX))) !== this.lastUsed;
  }

  disableInterrupts(): void {
    if (this.features.eventIdx)
      Atomics.store(
        this.u16,
        this.hostIdx(this.driverGpa + BigInt(AVAIL_RING + 2 * this.size)),
        (this.lastUsed + 0x8000) & 0xffff,
      );
    else Atomics.store(this.u16, this.hostIdx(this.driverGpa + BigInt(AVAIL_FLAGS)), AVAIL_F_NO_INTERRUPT);
  }

  private take(n: number): number[] | null {
    if (this.free.length < n) return null;
    if (!this.features.inOrder) return this.free.splice(this.free.length - n, n).reverse();
    // IN_ORDER (§2.7.5.2): descriptors are used in ring order, next = x + 1.
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push((this.inOrderNext + i) % this.size);
    if (out.some((d) => !this.free.includes(d))) return null;
    for (const d of out) this.free.splice(this.free.indexOf(d), 1);
    this.inOrderNext = (this.inOrderNext + n) % this.size;
    return out;
  }

  private complete(head: number): void {
    const descs = this.chains.get(head)!;
    this.chains.delete(head);
    this.free.push(...descs);
  }

  private desc(i: number): bigint {
    return this.descGpa + BigInt(i * DESC_BYTES);
  }

  private writeDesc(at: bigint, addr: bigint, len: number, flags: number, next: number): void {
    const o = Number(at);
    this.guest.ram.setBigUint64(o + DESC_ADDR, addr, true);
    this.guest.ram.setUint32(o + DESC_LEN, len, true);
    this.guest.ram.setUint16(o + DESC_FLAGS, flags, true);
    this.guest.ram.setUint16(o + DESC_NEXT, next, true);
  }

  private hostIdx(gpa: bigint): number {
    return this.guest.host(gpa, 2) >> 1;
  }
}
