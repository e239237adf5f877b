import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { RingFeatures } from '../../../common/virtio/features.js';

/**
 * What a driver needs of guest memory: GPA-indexed bytes, the host address of a GPA (for
 * atomics on the shared memory), and an allocator for its rings. The Guest class is one; a
 * worker thread can build another over the same shared memory.
 */
export interface GuestRam {
  /** Guest RAM as GPA-indexed bytes (exactly the guest's region). */
  readonly ram: DataView;
  /** The buffer of host memory (shared), for Atomics on guest words. */
  readonly sharedBuffer: ArrayBufferLike;
  /** Host address of guest-physical `gpa`, checked: `gpa + len` inside guest RAM. */
  host(gpa: bigint, len?: number): number;
  /** Boot-time allocation of guest-physical memory for rings and buffers. */
  allocGpa(bytes: number, align?: number): bigint;
}

/** A guest's RAM as its own drivers see it: {@link GuestRam} plus its name and where it sits in host memory. */
export interface GuestSpace extends GuestRam {
  /** The guest's name. */
  readonly name: string;
  /** Host address of guest-physical 0. */
  readonly ramBase: number;
  /** Guest RAM, bytes. */
  readonly ramBytes: number;
}

/** A guest buffer: guest-physical address and length. */
export interface Buf {
  gpa: bigint;
  len: number;
}

/** A completed request: the token add() returned and the used length the device reported. */
export interface Completion {
  token: number;
  len: number;
}

/** Options of {@link createDriver}. */
export interface DriverOptions {
  /** Queue size (split: a power of two), at most 32768. */
  size: number;
  /** The ring format and features negotiated. */
  features: RingFeatures;
  /** Called when the driver must notify the device (a kick). */
  notify: () => void;
  /** Largest indirect table per request. Default 16. */
  maxIndirect?: number;
}

/**
 * The driver side of one virtqueue, written the way a Linux driver uses it: add chains, kick
 * (the driver decides whether the device needs a notification), reap used buffers, turn
 * interrupts on (with the re-check that closes the lost-wake-up race) and off.
 */
export interface VirtqueueDriver {
  readonly size: number;
  readonly features: RingFeatures;
  readonly descGpa: bigint;
  readonly driverGpa: bigint;
  readonly deviceGpa: bigint;
  /** Requests added and not yet completed. */
  readonly outstanding: number;
  /** Adds one request (readable `out`, then writable `in`). Returns its token, or null when the ring is full. */
  add(out: readonly Buf[], inb: readonly Buf[], opts?: { indirect?: boolean }): number | null;
  /** Publishes what add() wrote; notifies the device if its suppression settings ask for it. Returns whether it did. */
  kick(): boolean;
  /** Collects completed requests. */
  reap(): Completion[];
  /** Asks for interrupts again; true when completions are already pending (handle them instead of waiting). */
  enableInterrupts(): boolean;
  disableInterrupts(): void;
}

/** A request's buffers in ring order (readable first), with the direction of each. */
export function requestBufs(out: readonly Buf[], inb: readonly Buf[]): (Buf & { write: boolean })[] {
  const bufs = [...out.map((b) => ({ ...b, write: false })), ...inb.map((b) => ({ ...b, write: true }))];
  if (bufs.length === 0) throw new QingtianError(ErrorCode.InvalidArgument, 'add: a request needs at least one buffer');
  return bufs;
}
