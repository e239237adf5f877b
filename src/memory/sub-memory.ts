import { scrub } from './scrub.js';
import type { AllocRequest, HostMemoryApi, Region, StateAllocRequest, StateRegion } from '../common/host-memory-api.js';
import { fourcc, HDR_BYTES, writeHeader } from '../common/region-header.js';
import { RegionAllocator } from './region-allocator.js';

/**
 * Host memory as seen from a worker thread that was handed one region of it: the same shared
 * WebAssembly.Memory (so addresses are host addresses), with allocations carved from inside
 * [base, base + sizeBytes) by an allocator of its own. The region allocator of the host lives on
 * the main thread; a worker that needs state and buffers of its own (an I/O worker, its kernels'
 * tables) asks the main thread for one arena and allocates inside it without messaging.
 */
export class SubMemory implements HostMemoryApi {
  readonly sizeBytes: number;
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly view: DataView;
  private readonly allocator: RegionAllocator;

  constructor(
    readonly memory: WebAssembly.Memory,
    /** Page-aligned host address of the arena. */
    readonly arenaBase: number,
    /** Page multiple. */
    readonly arenaBytes: number,
  ) {
    const buf = memory.buffer as unknown as SharedArrayBuffer;
    this.sizeBytes = buf.byteLength;
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.view = new DataView(buf);
    this.allocator = new RegionAllocator(arenaBase + arenaBytes, arenaBase);
  }

  alloc(req: AllocRequest): Region {
    return this.allocator.alloc(req);
  }

  allocState(req: StateAllocRequest): StateRegion {
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

  /** The live region of this arena that holds `address`, if any. */
  regionAt(address: number): Region | undefined {
    return this.allocator.regionAt(address);
  }

  /** Frees a region and scrubs it, so that the next allocation starts zeroed as in HostMemory. */
  free(region: Region | number, owner: string): void {
    const freed = this.allocator.free(typeof region === 'number' ? region : region.id, owner);
    scrub(this.u8, freed.base, freed.base + freed.sizeBytes);
  }
}
