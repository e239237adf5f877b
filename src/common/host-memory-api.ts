import type { RegionKind } from './region-kind.js';

/** A named, page-aligned piece of host memory. `base` is an offset into the shared memory. */
export interface Region {
  readonly id: number;
  readonly name: string;
  readonly owner: string;
  readonly kind: RegionKind;
  readonly base: number;
  readonly sizeBytes: number;
}

/** A region that starts with a state header; the payload follows it at `payload`. */
export interface StateRegion extends Region {
  readonly magic: number;
  readonly layoutVersion: number;
  readonly payload: number;
}

export interface AllocRequest {
  name: string;
  owner: string;
  kind: RegionKind;
  sizeBytes: number;
  /** Power of two, at least the page size (4096). Default: 4096. */
  alignBytes?: number | undefined;
  /** Place the region exactly here (page-aligned, and free); for callers that lay memory out themselves. */
  atBase?: number | undefined;
}

export interface StateAllocRequest {
  name: string;
  owner: string;
  kind: RegionKind;
  /** Four ASCII characters or the u32 they pack to. */
  magic: string | number;
  layoutVersion: number;
  /** Bytes after the header; the region is rounded up to whole pages. */
  payloadBytes: number;
}

/**
 * What the DPU side needs from host memory. HostMemory (src/memory/host-memory.ts) implements
 * it; dpu code takes this interface, never the class (only defaultRuntime() constructs one).
 */
export interface HostMemoryApi {
  readonly memory: WebAssembly.Memory;
  readonly sizeBytes: number;
  /** Views over the whole memory. It never grows (initial = maximum), so they stay valid. */
  readonly u8: Uint8Array;
  readonly i32: Int32Array;
  readonly view: DataView;
  alloc(req: AllocRequest): Region;
  allocState(req: StateAllocRequest): StateRegion;
  free(region: Region | number, owner: string): void;
}
