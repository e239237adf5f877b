import { ErrorCode, QingtianError } from '../../common/errors.js';
import { GMAP_DIRTY_LOG, GMAP_DIRTY_PAGES, readGuestMap } from '../../common/gpa.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';

/** Guest pages are 4 KiB: bit (gpa >> 12) of the bitmap. */
export const DIRTY_PAGE_BYTES = 4096;
/** The bitmap covers GPAs below 2^36 (64 GiB): 2 MiB of bitmap at most. */
export const DIRTY_MAX_GPA = 2 ** 36;

/**
 * A guest's dirty log, the way vhost keeps one: a bitmap (a 'bitmap' region, one bit per 4 KiB
 * guest page from GPA 0, u32 words, little-endian) whose address sits in the guest memory map
 * (GMAP_DIRTY_LOG; 0 = off, the default). Every kernel write into guest RAM goes through
 * assembly/common/guest-write.ts, which sets the bits of the pages written while the address is
 * there. Live migration reads and clears the bitmap between its copy rounds.
 *
 * Start/stop only write the map word, so a burst already in flight when they run may miss it.
 * A caller that needs every write logged from some point on (the first full copy of a migration)
 * waits for a burst boundary on the cores serving this guest after start() (`core.ping()`).
 * For the same reason the bitmap is kept after stop() (a late burst may still set a bit in it)
 * and freed only with the guest.
 */
export class DirtyLog {
  private bitmap: Region | null = null;
  private readonly retired: Region[] = [];
  private pages = 0;

  constructor(
    private readonly memory: HostMemoryApi,
    private readonly gmapBase: number,
    private readonly owner: string,
  ) {}

  get logging(): boolean {
    return Atomics.load(this.memory.i32, (this.gmapBase + GMAP_DIRTY_LOG) >> 2) !== 0;
  }

  /** Pages the bitmap covers (0 before the first start). */
  get coveredPages(): number {
    return this.pages;
  }

  /**
   * Turns logging on with a clear bitmap covering every slot of the guest map as it is now.
   * Refused when already on, or when a slot reaches past DIRTY_MAX_GPA.
   */
  start(): void {
    if (this.logging) throw new QingtianError(ErrorCode.DeviceState, `${this.owner}: dirty logging is already on`);
    let end = 0n;
    for (const s of readGuestMap(this.memory.view, this.gmapBase)) {
      if (s.gpaStart + s.sizeBytes > end) end = s.gpaStart + s.sizeBytes;
    }
    if (end > BigInt(DIRTY_MAX_GPA))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.owner}: dirty log: guest memory map ends at GPA 0x${end.toString(16)}, ` +
          `the bitmap covers at most 0x${DIRTY_MAX_GPA.toString(16)}`,
      );
    const pages = Number((end + BigInt(DIRTY_PAGE_BYTES - 1)) / BigInt(DIRTY_PAGE_BYTES));
    const bytes = Math.ceil(pages / 32) * 4;
    if (!this.bitmap || this.bitmap.sizeBytes < bytes) {
      // A smaller bitmap from an earlier run may still take a late burst's bit: kept until free().
      if (this.bitmap) this.retired.push(this.bitmap);
      this.bitmap = this.memory.alloc({
        name: `${this.owner}:dirty-log`,
        owner: this.owner,
        kind: 'bitmap',
        sizeBytes: Math.max(4096, Math.ceil(bytes / 4096) * 4096),
      });
    }
    this.memory.u8.fill(0, this.bitmap.base, this.bitmap.base + this.bitmap.sizeBytes);
    this.pages = pages;
    const i32 = this.memory.i32;
    // Size first, then the address that turns logging on: a kernel that sees the address sees the size.
    Atomics.store(i32, (this.gmapBase + GMAP_DIRTY_PAGES) >> 2, pages);
    Atomics.store(i32, (this.gmapBase + GMAP_DIRTY_LOG) >> 2, this.bitmap.base);
  }

  /** Turns logging off. The bitmap keeps what was logged until readAndClear(). */
  stop(): void {
    Atomics.store(this.memory.i32, (this.gmapBase + GMAP_DIRTY_LOG) >> 2, 0);
  }

  /**
   * The pages written since the last call, as bitmap words (bit i of word w = page 32w + i),
   * cleared word by word with an atomic exchange so that no bit set meanwhile is lost. Empty
   * before logging was ever started.
   */
  readAndClear(): Uint32Array {
    const words = new Uint32Array(Math.ceil(this.pages / 32));
    if (!this.bitmap) return words;
    const i32 = this.memory.i32;
    const at = this.bitmap.base >> 2;
    for (let w = 0; w < words.length; w++) {
      if (i32[at + w] !== 0) words[w] = Atomics.exchange(i32, at + w, 0);
    }
    return words;
  }

  /** Frees the bitmap (the guest is being destroyed: no kernel serves it any more). */
  free(): void {
    this.stop();
    for (const r of this.retired.splice(0)) this.memory.free(r, this.owner);
    if (this.bitmap) this.memory.free(this.bitmap, this.owner);
    this.bitmap = null;
    this.pages = 0;
  }
}

/** The page numbers set in a bitmap that readAndClear() returned, in increasing order. */
export function dirtyPages(bitmap: Uint32Array): number[] {
  const out: number[] = [];
  bitmap.forEach((word, w) => {
    for (let b = 0; word !== 0 && b < 32; b++) if ((word >>> b) & 1) out.push(w * 32 + b);
  });
  return out;
}
