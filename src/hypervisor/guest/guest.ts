import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { writeGuestMap } from '../../common/gpa.js';
import { GMAP_BYTES, GMAP_LAYOUT, GMAP_MAGIC } from '../../generated/common.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { HostMemoryApi, Region, StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { multipleIn, nameString, parseArgs } from '../../common/validate.js';
import { DirtyLog } from './dirty-log.js';
import type { GuestRam } from './virtio/driver-api.js';

/** Options of {@link Guest}. Unknown keys are refused. */
export interface GuestOptions {
  /** The guest's name, 1 to 48 characters (its regions' owner is `guest:<name>`). */
  name: string;
  /** Guest RAM: a multiple of 4096 in [64 KiB, 3 GiB]. */
  ramBytes: number;
  /** Host address to place the RAM at (64 KiB-aligned and free). Default: wherever it fits. */
  ramAt?: number | undefined;
}

const optionsSchema = z.object({
  name: nameString(48),
  ramBytes: multipleIn(4096, 65536, 3 * 1024 ** 3),
  ramAt: multipleIn(65536, 65536, 2 ** 32 - 65536).optional(),
});
const IRQ_PAGE = 4096;

/**
 * A guest: its RAM (one host-memory region; guest-physical address 0 is its base), the memory
 * map every kernel translates its addresses through, and a page of interrupt words. Guest-side
 * code addresses RAM by GPA through `ram` (a DataView over exactly the guest's region, so an
 * out-of-range GPA throws instead of touching anything else).
 *
 * `allocGpa` is the guest kernel's boot-time allocator: it hands out guest-physical memory for
 * rings and buffers, bottom-up, and never reuses.
 */
export class Guest implements GuestMemoryView, GuestRam {
  readonly name: string;
  readonly ramBytes: number;
  readonly ramRegion: Region;
  readonly gmap: StateRegion;
  readonly irqPage: Region;
  /** Guest RAM as GPA-indexed bytes. */
  readonly ram: DataView;
  readonly bytes: Uint8Array;
  private readonly dirty: DirtyLog;
  private nextGpa = 0;
  private nextIrq = 0;
  private readonly freeIrqs: number[] = [];
  private readonly life = new Lifetime('Guest', 'destroy()');

  constructor(
    readonly memory: HostMemoryApi,
    options: GuestOptions,
  ) {
    const o = parseArgs(optionsSchema, options, 'guest options');
    this.name = o.name;
    this.ramBytes = o.ramBytes;
    const owner = `guest:${o.name}`;
    this.ramRegion = memory.alloc({
      name: `${owner}:ram`,
      owner,
      kind: 'guest-ram',
      sizeBytes: o.ramBytes,
      alignBytes: 65536,
      atBase: o.ramAt,
    });
    this.gmap = memory.allocState({
      name: `${owner}:gmap`,
      owner,
      kind: 'device-state',
      magic: GMAP_MAGIC,
      layoutVersion: GMAP_LAYOUT,
      payloadBytes: GMAP_BYTES,
    });
    writeGuestMap(memory.view, this.gmap.base, [
      { gpaStart: 0n, sizeBytes: BigInt(o.ramBytes), hostBase: this.ramRegion.base },
    ]);
    this.irqPage = memory.alloc({ name: `${owner}:irq`, owner, kind: 'device-state', sizeBytes: IRQ_PAGE });
    this.dirty = new DirtyLog(memory, this.gmap.base, owner);
    this.ram = new DataView(memory.memory.buffer, this.ramRegion.base, o.ramBytes);
    this.bytes = new Uint8Array(memory.memory.buffer, this.ramRegion.base, o.ramBytes);
  }

  /** The shared buffer behind host memory (for atomics on guest addresses). */
  get sharedBuffer(): ArrayBufferLike {
    this.life.check('sharedBuffer');
    return this.memory.memory.buffer;
  }

  get ramBase(): number {
    this.life.check('ramBase');
    return this.ramRegion.base;
  }

  get gmapBase(): number {
    this.life.check('gmapBase');
    return this.gmap.base;
  }

  get owner(): string {
    this.life.check('owner');
    return `guest:${this.name}`;
  }

  /** A zeroed interrupt word (host address) in the guest's interrupt page. */
  allocIrq(): number {
    this.life.check('allocIrq');
    const reused = this.freeIrqs.pop();
    if (reused !== undefined) return reused;
    if (this.nextIrq >= IRQ_PAGE / 4)
      throw new QingtianError(
        ErrorCode.CapacityExceeded,
        `${this.owner}: all ${IRQ_PAGE / 4} interrupt words are in use`,
      );
    return this.irqPage.base + 4 * this.nextIrq++;
  }

  /**
   * Gives back an interrupt word: it is zeroed and handed out again by a later allocIrq().
   * Refused for an address that is not a word of this page or that is already free.
   */
  freeIrq(addr: number): void {
    this.life.check('freeIrq');
    const at = addr - this.irqPage.base;
    if (!Number.isInteger(at) || at < 0 || at >= 4 * this.nextIrq || at % 4 !== 0 || this.freeIrqs.includes(addr)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.owner}: freeIrq: expected an allocated interrupt word in [0x${this.irqPage.base.toString(16)}, ` +
          `0x${(this.irqPage.base + 4 * this.nextIrq).toString(16)}), got 0x${addr.toString(16)}`,
      );
    }
    Atomics.store(this.memory.i32, addr >> 2, 0);
    this.freeIrqs.push(addr);
  }

  /** Guest-physical memory for rings and buffers (zeroed; never reused). */
  allocGpa(bytes: number, align = 64): bigint {
    this.life.check('allocGpa');
    const at = Math.ceil(this.nextGpa / align) * align;
    if (!Number.isInteger(bytes) || bytes <= 0 || at + bytes > this.ramBytes) {
      throw new QingtianError(
        ErrorCode.OutOfMemory,
        `${this.owner}: cannot allocate ${bytes} bytes of guest memory (${this.ramBytes - at} left)`,
      );
    }
    this.nextGpa = at + bytes;
    return BigInt(at);
  }

  /** Host address of a GPA inside this guest's RAM (throws outside it). */
  host(gpa: bigint, len = 1): number {
    this.life.check('host');
    if (gpa < 0n || gpa + BigInt(len) > BigInt(this.ramBytes)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.owner}: GPA range [0x${gpa.toString(16)}, +${len}) outside guest RAM of ${this.ramBytes} bytes`,
      );
    }
    return this.ramBase + Number(gpa);
  }

  write(gpa: bigint, data: Uint8Array): void {
    this.life.check('write');
    this.bytes.set(data, this.host(gpa, data.length) - this.ramBase);
  }

  read(gpa: bigint, len: number): Uint8Array {
    this.life.check('read');
    const at = this.host(gpa, len) - this.ramBase;
    return this.bytes.slice(at, at + len);
  }

  /**
   * Turns on the dirty log: from here on every kernel write into this guest's RAM sets the bit of
   * its 4 KiB page (src/hypervisor/guest/dirty-log.ts). Off by default. Bursts already running
   * on a core may miss it: wait for a burst boundary there (`core.ping()`) before relying on it.
   */
  startDirtyLog(): void {
    this.life.check('startDirtyLog');
    this.dirty.start();
  }

  /** Turns the dirty log off; what it logged stays readable. */
  stopDirtyLog(): void {
    this.life.check('stopDirtyLog');
    this.dirty.stop();
  }

  /** True while the dirty log is on. */
  get dirtyLogging(): boolean {
    this.life.check('dirtyLogging');
    return this.dirty.logging;
  }

  /** Pages written since the last call, as bitmap words (bit i of word w = page 32w + i); `dirtyPages()` lists them. */
  readAndClearDirty(): Uint32Array {
    this.life.check('readAndClearDirty');
    return this.dirty.readAndClear();
  }

  /** Frees the guest's RAM and regions. */
  destroy(): void {
    if (!this.life.end()) return;
    const owner = `guest:${this.name}`;
    this.dirty.free();
    this.memory.free(this.ramRegion, owner);
    this.memory.free(this.gmap, owner);
    this.memory.free(this.irqPage, owner);
  }
}
