import { z } from 'zod';
import type { AllocRequest, HostMemoryApi, Region, StateAllocRequest, StateRegion } from '../common/host-memory-api.js';
import { fourcc, writeHeader } from '../common/region-header.js';
import { HDR_BYTES } from '../generated/common.js';
import { REGION_KIND_NAMES } from '../common/region-kind.js';
import { intIn, multipleIn, nameString, oneOf, parseArgs } from '../common/validate.js';
import { adviseHugePages, hugePagesOff, type HugePageStatus } from './huge-pages.js';
import { PAGE_BYTES, RegionAllocator, type AllocatorStats } from './region-allocator.js';

const WASM_PAGE = 65536;
const MIB = 1 << 20;
/** wasm32 addresses 4 GiB at most. */
export const MAX_HOST_MEMORY_BYTES = 4 * 1024 * MIB;
export const DEFAULT_HOST_MEMORY_BYTES = 1024 * MIB;

export interface HostMemoryOptions {
  /** Size of host physical memory: a multiple of 64 KiB in [1 MiB, 4 GiB]. Default 1 GiB. */
  sizeBytes?: number | undefined;
  /**
   * Back the memory with 2 MiB transparent huge pages (madvise through the native helper built
   * at install; Linux). Default true. Without the helper, or with THP off, the memory stays on
   * 4 KiB pages and `hugePages` says why.
   */
  hugePages?: boolean | undefined;
}

const optionsSchema = z
  .object({
    sizeBytes: multipleIn(WASM_PAGE, MIB, MAX_HOST_MEMORY_BYTES).optional(),
    hugePages: z.boolean().optional(),
  })
  .optional();

const stateSchema = z.object({
  name: nameString(64),
  owner: nameString(64),
  kind: oneOf(REGION_KIND_NAMES),
  magic: z.union([z.string().regex(/^[\x20-\x7e]{4}$/), intIn(0, 0xffffffff)], {
    error: 'four ASCII characters or a u32',
  }),
  layoutVersion: intIn(0, 0xffffffff),
  payloadBytes: intIn(0, MAX_HOST_MEMORY_BYTES - HDR_BYTES),
});

/**
 * Host physical memory: one shared WebAssembly.Memory that every thread (main, guest workers,
 * DPU cores) maps, plus the region allocator that hands it out.
 *
 * The memory is created at its final size (initial = maximum), so it never grows and views over
 * it never go stale. Memory starts zeroed and every freed region is scrubbed, so each
 * allocation is zero-filled without paying for it at allocation time.
 */
export class HostMemory implements HostMemoryApi {
  readonly memory: WebAssembly.Memory;
  readonly sizeBytes: number;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly view: DataView;
  /** Whether the memory is on 2 MiB pages, and why (not). */
  readonly hugePages: HugePageStatus;
  private readonly allocator: RegionAllocator;

  constructor(options?: HostMemoryOptions) {
    const opts = parseArgs(optionsSchema, options, 'HostMemory options');
    this.sizeBytes = opts?.sizeBytes ?? DEFAULT_HOST_MEMORY_BYTES;
    const pages = this.sizeBytes / WASM_PAGE;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const buf = this.memory.buffer as unknown as SharedArrayBuffer;
    // Before anything touches the memory: pages faulted in afterwards come as 2 MiB ones.
    this.hugePages = opts?.hugePages === false ? hugePagesOff() : adviseHugePages(buf);
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.view = new DataView(buf);
    this.allocator = new RegionAllocator(this.sizeBytes);
  }

  alloc(req: AllocRequest): Region {
    return this.allocator.alloc(req);
  }

  /** Allocates a region and writes its state header; the payload starts HDR_BYTES in. */
  allocState(request: StateAllocRequest): StateRegion {
    const req = parseArgs(stateSchema, request, 'allocState');
    const magic = typeof req.magic === 'string' ? fourcc(req.magic) : req.magic;
    const region = this.allocator.alloc({
      name: req.name,
      owner: req.owner,
      kind: req.kind,
      sizeBytes: HDR_BYTES + req.payloadBytes,
    });
    writeHeader(this.view, region.base, {
      magic,
      layoutVersion: req.layoutVersion,
      sizeBytes: region.sizeBytes,
      kind: region.kind,
    });
    return Object.freeze({ ...region, magic, layoutVersion: req.layoutVersion, payload: region.base + HDR_BYTES });
  }

  free(region: Region | number, owner: string): void {
    const freed = this.allocator.free(typeof region === 'number' ? region : region.id, owner);
    this.u8.fill(0, freed.base, freed.base + freed.sizeBytes);
  }

  regions(): Region[] {
    return this.allocator.list();
  }

  region(id: number): Region | undefined {
    return this.allocator.get(id);
  }

  stats(): AllocatorStats {
    return this.allocator.stats();
  }
}

export { PAGE_BYTES };
