import { z } from 'zod';
import { ErrorCode, QingtianError } from '../common/errors.js';
import type { AllocRequest, Region } from '../common/host-memory-api.js';
import { REGION_KIND_NAMES, type RegionKind } from '../common/region-kind.js';
import { intIn, nameString, oneOf, parseArgs } from '../common/validate.js';

/** The allocation unit of host memory: 4 KiB. */
export const PAGE_BYTES = 4096;

/** Host memory statistics (`host.memory.stats()`), in bytes unless named otherwise. */
export interface AllocatorStats {
  /** The whole memory. */
  totalBytes: number;
  /** The low part never handed out (64 KiB): address 0 means "no address" to kernels. */
  reservedBytes: number;
  /** In live regions. */
  usedBytes: number;
  /** Not in any region (total − reserved − used). */
  freeBytes: number;
  /** The largest free block: the largest region an allocation can get now. */
  largestFreeBytes: number;
  /** Free blocks (fragmentation: 1 when all free memory is one block). */
  freeBlocks: number;
  /** Live regions. */
  regionCount: number;
  /** Allocations since creation. */
  allocs: number;
  /** Frees since creation. */
  frees: number;
  /** Allocations refused with `QT_OUT_OF_MEMORY` since creation. */
  failures: number;
  /** Live regions and their bytes, by kind. */
  byKind: Partial<Record<RegionKind, { count: number; bytes: number }>>;
  /** Live regions and their bytes, by owner. */
  byOwner: Record<string, { count: number; bytes: number }>;
}

interface FreeBlock {
  base: number;
  size: number;
}

const MAX_ALIGN = 1 << 30;

/**
 * Page-granular region allocator over [reservedLowBytes, totalBytes): address-ordered free
 * list, first fit with alignment, neighbours coalesced on free. Pure bookkeeping — it touches
 * no memory; HostMemory scrubs freed regions so that every allocation starts zeroed.
 *
 * The low `reservedLowBytes` are never handed out: address 0 stays invalid (kernels use 0 for
 * "no address"), and a stray null-based access lands in memory nobody owns.
 */
export class RegionAllocator {
  readonly totalBytes: number;
  readonly reservedLowBytes: number;
  private readonly freeList: FreeBlock[];
  private readonly live = new Map<number, Region>();
  /** Live regions in address order, for regionAt. */
  private readonly byBase: Region[] = [];
  private nextId = 1;
  private allocs = 0;
  private frees = 0;
  private failures = 0;
  private readonly requestSchema;

  constructor(totalBytes: number, reservedLowBytes = 65536) {
    if (totalBytes % PAGE_BYTES !== 0 || reservedLowBytes % PAGE_BYTES !== 0 || reservedLowBytes >= totalBytes) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `allocator: totalBytes (${totalBytes}) and reservedLowBytes (${reservedLowBytes}) must be page multiples with reserved < total`,
      );
    }
    this.totalBytes = totalBytes;
    this.reservedLowBytes = reservedLowBytes;
    this.freeList = [{ base: reservedLowBytes, size: totalBytes - reservedLowBytes }];
    this.requestSchema = z.strictObject({
      name: nameString(64),
      owner: nameString(64),
      kind: oneOf(REGION_KIND_NAMES),
      sizeBytes: intIn(1, totalBytes),
      alignBytes: z
        .number({ error: `a power of two in [${PAGE_BYTES}, ${MAX_ALIGN}]` })
        .refine((a) => Number.isInteger(a) && a >= PAGE_BYTES && a <= MAX_ALIGN && (a & (a - 1)) === 0, {
          error: `a power of two in [${PAGE_BYTES}, ${MAX_ALIGN}]`,
        })
        .optional(),
      atBase: z
        .number({ error: `a multiple of ${PAGE_BYTES} in [${reservedLowBytes}, ${totalBytes})` })
        .refine((a) => Number.isInteger(a) && a % PAGE_BYTES === 0 && a >= reservedLowBytes && a < totalBytes, {
          error: `a multiple of ${PAGE_BYTES} in [${reservedLowBytes}, ${totalBytes})`,
        })
        .optional(),
    });
  }

  alloc(request: AllocRequest): Region {
    const req = parseArgs(this.requestSchema, request, 'alloc');
    const size = roundUp(req.sizeBytes, PAGE_BYTES);
    const align = req.alignBytes ?? PAGE_BYTES;
    for (let i = 0; i < this.freeList.length; i++) {
      const blk = this.freeList[i]!;
      const base = req.atBase ?? roundUp(blk.base, align);
      const end = base + size;
      if (base < blk.base || end > blk.base + blk.size || base % align !== 0) continue;
      // Split the block into [blk.base, base) + region + [end, blk end).
      const pieces: FreeBlock[] = [];
      if (base > blk.base) pieces.push({ base: blk.base, size: base - blk.base });
      if (end < blk.base + blk.size) pieces.push({ base: end, size: blk.base + blk.size - end });
      this.freeList.splice(i, 1, ...pieces);
      const region: Region = Object.freeze({
        id: this.nextId++,
        name: req.name,
        owner: req.owner,
        kind: req.kind,
        base,
        sizeBytes: size,
      });
      this.live.set(region.id, region);
      this.byBase.splice(this.firstAbove(base), 0, region);
      this.allocs++;
      return region;
    }
    this.failures++;
    const s = this.stats();
    throw new QingtianError(
      ErrorCode.OutOfMemory,
      `host memory: cannot allocate '${req.name}' (${req.kind}) of ${size} bytes aligned to ${align}` +
        `${req.atBase === undefined ? '' : ` at 0x${req.atBase.toString(16)}`} for '${req.owner}': ` +
        `largest free block is ${s.largestFreeBytes} bytes, ${s.freeBytes} of ${s.totalBytes} bytes free`,
      { requestedBytes: size, alignBytes: align, largestFreeBytes: s.largestFreeBytes, freeBytes: s.freeBytes },
    );
  }

  /** Frees a region. Only its owner may free it; a second free is QT_DOUBLE_FREE. */
  free(id: number, owner: string): Region {
    const region = this.live.get(id);
    if (!region) {
      if (Number.isInteger(id) && id >= 1 && id < this.nextId) {
        throw new QingtianError(
          ErrorCode.DoubleFree,
          `host memory: region #${id} was already freed (freed again by '${owner}')`,
          { id },
        );
      }
      throw new QingtianError(ErrorCode.UnknownRegion, `host memory: no region #${id} was ever allocated`, { id });
    }
    if (region.owner !== owner) {
      throw new QingtianError(
        ErrorCode.NotOwner,
        `host memory: region #${id} '${region.name}' (${region.sizeBytes} bytes) belongs to '${region.owner}', not '${owner}'`,
        { id, owner: region.owner },
      );
    }
    this.live.delete(id);
    this.byBase.splice(this.firstAbove(region.base) - 1, 1);
    this.frees++;
    this.insertFree({ base: region.base, size: region.sizeBytes });
    return region;
  }

  get(id: number): Region | undefined {
    return this.live.get(id);
  }

  /** The live region that holds `address`, if any (the reserved low part and free memory hold none). */
  regionAt(address: number): Region | undefined {
    const r = this.byBase[this.firstAbove(address) - 1];
    return r && address < r.base + r.sizeBytes ? r : undefined;
  }

  /** Index of the first live region whose base is above `address`. */
  private firstAbove(address: number): number {
    let lo = 0;
    let hi = this.byBase.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.byBase[mid]!.base <= address) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Live regions in address order. */
  list(): Region[] {
    return [...this.live.values()].sort((a, b) => a.base - b.base);
  }

  /** Totals, free blocks, and live regions by kind and (unless `owners` is false) by owner. */
  stats(owners = true): AllocatorStats {
    let freeBytes = 0;
    let largestFreeBytes = 0;
    for (const b of this.freeList) {
      freeBytes += b.size;
      if (b.size > largestFreeBytes) largestFreeBytes = b.size;
    }
    const byKind: AllocatorStats['byKind'] = {};
    const byOwner: AllocatorStats['byOwner'] = {};
    for (const r of this.live.values()) {
      const k = (byKind[r.kind] ??= { count: 0, bytes: 0 });
      k.count++;
      k.bytes += r.sizeBytes;
      if (!owners) continue;
      const o = (byOwner[r.owner] ??= { count: 0, bytes: 0 });
      o.count++;
      o.bytes += r.sizeBytes;
    }
    return {
      totalBytes: this.totalBytes,
      reservedBytes: this.reservedLowBytes,
      usedBytes: this.totalBytes - this.reservedLowBytes - freeBytes,
      freeBytes,
      largestFreeBytes,
      freeBlocks: this.freeList.length,
      regionCount: this.live.size,
      allocs: this.allocs,
      frees: this.frees,
      failures: this.failures,
      byKind,
      byOwner,
    };
  }

  private insertFree(blk: FreeBlock): void {
    // Binary search for the first block above blk, then merge with the neighbours.
    let lo = 0;
    let hi = this.freeList.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.freeList[mid]!.base < blk.base) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.freeList[lo - 1];
    const next = this.freeList[lo];
    if (prev && prev.base + prev.size === blk.base) {
      prev.size += blk.size;
      if (next && prev.base + prev.size === next.base) {
        prev.size += next.size;
        this.freeList.splice(lo, 1);
      }
    } else if (next && blk.base + blk.size === next.base) {
      next.base = blk.base;
      next.size += blk.size;
    } else {
      this.freeList.splice(lo, 0, blk);
    }
  }
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
