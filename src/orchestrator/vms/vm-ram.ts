import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestSpace } from '../../hypervisor/guest/virtio/driver-api.js';

/**
 * A VM's RAM as its guest-side code sees it (`vm.ram`): GPA-indexed bytes over exactly the
 * VM's region, and the guest kernel's boot-time allocator for rings and buffers of the drivers
 * it probes, bottom-up from the end of what the firmware laid out, never reused (as `Guest`'s).
 * In-process guest drivers (GuestNet, GuestBlkWorkload) take it where they take a `Guest`.
 */
export class VmRam implements GuestSpace {
  /** Guest RAM as GPA-indexed bytes. */
  readonly ram: DataView;
  /** Guest RAM as GPA-indexed bytes, as a byte array. */
  readonly bytes: Uint8Array;
  private nextGpa: number;

  /** @internal built by the Vm */
  constructor(
    private readonly memory: HostMemoryApi,
    /** The VM's name. */
    readonly name: string,
    /** Host address of guest-physical 0. */
    readonly ramBase: number,
    /** Guest RAM, bytes. */
    readonly ramBytes: number,
    /** First GPA the firmware leaves to the guest. */
    firstFreeGpa: number,
  ) {
    this.ram = new DataView(memory.u8.buffer, ramBase, ramBytes);
    this.bytes = new Uint8Array(memory.u8.buffer, ramBase, ramBytes);
    this.nextGpa = firstFreeGpa;
  }

  /** The buffer of host memory (shared), for Atomics on guest words. */
  get sharedBuffer(): ArrayBufferLike {
    return this.memory.u8.buffer;
  }

  /** Guest RAM the allocator has not handed out yet, bytes. */
  get freeBytes(): number {
    return this.ramBytes - this.nextGpa;
  }

  /** `bytes` of guest-physical memory aligned to `align` (a power of two); QT_OUT_OF_MEMORY when RAM is exhausted. */
  allocGpa(bytes: number, align = 64): bigint {
    if (!Number.isInteger(bytes) || bytes <= 0 || !Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `vm ${this.name} allocGpa: expected bytes > 0 and align a power of two, got ${bytes}, ${align}`,
      );
    const at = Math.ceil(this.nextGpa / align) * align;
    if (at + bytes > this.ramBytes)
      throw new QingtianError(
        ErrorCode.OutOfMemory,
        `vm ${this.name} allocGpa: ${bytes} bytes do not fit (${this.ramBytes - at} of ${this.ramBytes} left)`,
      );
    this.nextGpa = at + bytes;
    return BigInt(at);
  }

  /** Host address of guest-physical `gpa` (checked: `gpa + len` inside the VM's RAM). */
  host(gpa: bigint, len = 1): number {
    const g = Number(gpa);
    if (g < 0 || g + len > this.ramBytes)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `vm ${this.name}: GPA 0x${gpa.toString(16)}+${len} is outside its ${this.ramBytes} bytes of RAM`,
      );
    return this.ramBase + g;
  }

  /** Copies `data` into guest RAM at `gpa`. */
  write(gpa: bigint, data: Uint8Array): void {
    this.bytes.set(data, Number(this.host(gpa, data.length) - this.ramBase));
  }

  /** A copy of `len` bytes of guest RAM at `gpa`. */
  read(gpa: bigint, len: number): Uint8Array {
    const at = this.host(gpa, len) - this.ramBase;
    return this.bytes.slice(at, at + len);
  }
}
