import { scrub } from './scrub.js';
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
/** The largest host memory, 4 GiB: wasm32 addresses no more. */
export const MAX_HOST_MEMORY_BYTES = 4 * 1024 * MIB;
/** Host memory's default size, 1 GiB (address space; pages are committed when touched). */
export const DEFAULT_HOST_MEMORY_BYTES = 1024 * MIB;

/** Options of host memory (`HostOptions.memory`). */
export interface HostMemoryOptions {
  /** Size of host physical memory: a multiple of 64 KiB in [1 MiB, 4 GiB]. Default 1 GiB. */
  sizeBytes?: number | undefined;
  /**
   * Back the memory with 2 MiB transparent huge pages, as DPDK puts its memory on huge pages:
   * random lookups over tables of tens of MiB then stop paying a TLB miss each. Before anything
   * touches the memory, its 2 MiB-aligned part is advised (`madvise(MADV_HUGEPAGE)` through the
   * native helper `native/huge-pages`, built by `npm install`; Linux). Default true. Without the
   * helper, or with THP `never`, the memory stays on 4 KiB pages, nothing fails, and
   * `HostMemory.hugePages` says why.
   */
  hugePages?: boolean | undefined;
}

/** The schema of {@link HostMemoryOptions} (Host.boot composes it, so nested keys are checked up front). */
export const hostMemoryOptionsSchema = z
  .strictObject({
    sizeBytes: multipleIn(WASM_PAGE, MIB, MAX_HOST_MEMORY_BYTES).optional(),
    hugePages: z.boolean().optional(),
  })
  .optional();

const stateSchema = z.strictObject({
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
 * DPU cores) maps, plus the region allocator that hands it out (`host.memory`).
 *
 * The memory is created at its final size (initial = maximum), so it never grows and views over
 * it never go stale. Regions are page-aligned (4 KiB), named, owned and of a kind; the low 64 KiB
 * are never handed out (address 0 means "no address" to kernels). Memory starts zeroed and every
 * freed region is scrubbed, so each allocation is zero-filled without paying for it then.
 *
 * {@link Host} builds it (`host.memory`); `qingtian` exports its type, and constructing one directly is
 * unstable (`qingtian/internals`).
 */
export class HostMemory implements HostMemoryApi {
  /** The shared memory itself (initial = maximum: it never grows). */
  readonly memory: WebAssembly.Memory;
  /** Its size in bytes: a multiple of 64 KiB in [1 MiB, 4 GiB]. */
  readonly sizeBytes: number;
  /** Bytes view over the whole memory (stays valid: no growth). */
  readonly u8: Uint8Array;
  /** 32-bit view over the whole memory, for `Atomics` on doorbells and flags (index = address / 4). */
  readonly i32: Int32Array;
  /** DataView over the whole memory, for little-endian fields at any address. */
  readonly view: DataView;
  /** Whether the memory is on 2 MiB pages, and why (not). */
  readonly hugePages: HugePageStatus;
  private readonly allocator: RegionAllocator;

  /** Creates host memory of `options.sizeBytes` (default 1 GiB); `QT_INVALID_ARGUMENT` for a bad size. */
  constructor(options?: HostMemoryOptions) {
    const opts = parseArgs(hostMemoryOptionsSchema, options, 'HostMemory options');
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

  /**
   * Allocates a zero-filled region, first fit, page-granular (4 KiB). `QT_OUT_OF_MEMORY` names the
   * bytes requested, the largest free block and the free total.
   */
  alloc(req: AllocRequest): Region {
    return this.allocator.alloc(req);
  }

  /**
   * Allocates a region that starts with a 64-byte state header (`+0` u32 magic, `+4` u32 layout
   * version, `+8` u32 size, `+12` u32 kind, the rest zero); the payload starts 64 bytes in. Kernels
   * check the header before they touch the payload.
   */
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

  /**
   * Frees a region (or a region id) and scrubs it. Only its owner may: `QT_NOT_OWNER`,
   * `QT_DOUBLE_FREE` and `QT_UNKNOWN_REGION` otherwise.
   */
  free(region: Region | number, owner: string): void {
    const freed = this.allocator.free(typeof region === 'number' ? region : region.id, owner);
    scrub(this.u8, freed.base, freed.base + freed.sizeBytes);
  }

  /** The live region that holds `address`, if any. */
  regionAt(address: number): Region | undefined {
    return this.allocator.regionAt(address);
  }

  /** The live regions, in address order. */
  regions(): Region[] {
    return this.allocator.list();
  }

  /** The live region with this id, if any. */
  region(id: number): Region | undefined {
    return this.allocator.get(id);
  }

  /**
   * Totals, the largest free block, and bytes by kind and by owner (`owners` false: `byOwner`
   * left empty, for readers that do not use it; with thousands of regions it is most of the cost).
   */
  stats(owners = true): AllocatorStats {
    return this.allocator.stats(owners);
  }
}

export { PAGE_BYTES };
