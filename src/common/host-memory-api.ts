import type { RegionKind } from './region-kind.js';

/** A named, page-aligned piece of host memory. `base` is an offset into the shared memory. */
export interface Region {
  /** Unique while the region lives; ids are not reused. */
  readonly id: number;
  /** For people: statistics and error messages name it (at most 64 characters). */
  readonly name: string;
  /** Who may free it (at most 64 characters). */
  readonly owner: string;
  /** What it holds. */
  readonly kind: RegionKind;
  /** Its address: a byte offset into host memory, page-aligned (4096), never below 64 KiB. */
  readonly base: number;
  /** Its size: a whole number of 4 KiB pages. */
  readonly sizeBytes: number;
}

/** A region that starts with a state header; the payload follows it at `payload`. */
export interface StateRegion extends Region {
  /** The u32 magic in the header (four ASCII characters, little-endian: `'CORE'`). */
  readonly magic: number;
  /** The layout version in the header: a kernel refuses a state of another layout. */
  readonly layoutVersion: number;
  /** Address of the payload: `base + 64`. */
  readonly payload: number;
}

/** What {@link HostMemoryApi.alloc} is asked for. */
export interface AllocRequest {
  /** The region's name: 1 to 64 characters. */
  name: string;
  /** Its owner, the only one who may free it: 1 to 64 characters. */
  owner: string;
  /** What it will hold. */
  kind: RegionKind;
  /** Bytes wanted, at least 1; rounded up to whole 4 KiB pages. */
  sizeBytes: number;
  /** Alignment: a power of two in [4096, 2^30]. Default 4096. */
  alignBytes?: number | undefined;
  /** Place the region exactly here (page-aligned, and free); for callers that lay memory out themselves. */
  atBase?: number | undefined;
}

/** What {@link HostMemoryApi.allocState} is asked for. */
export interface StateAllocRequest {
  /** The region's name: 1 to 64 characters. */
  name: string;
  /** Its owner, the only one who may free it: 1 to 64 characters. */
  owner: string;
  /** What it will hold. */
  kind: RegionKind;
  /** Four ASCII characters or the u32 they pack to (little-endian). */
  magic: string | number;
  /** The state's layout version, a u32: kernels refuse a state of another. */
  layoutVersion: number;
  /** Bytes after the 64-byte header; the region is rounded up to whole pages. */
  payloadBytes: number;
}

/**
 * What the DPU side needs from host memory. HostMemory (src/memory/host-memory.ts) implements
 * it; dpu code takes this interface, never the class (only defaultRuntime() constructs one).
 */
export interface HostMemoryApi {
  /** The shared memory (initial = maximum: it never grows). */
  readonly memory: WebAssembly.Memory;
  /** Its size in bytes. */
  readonly sizeBytes: number;
  /** Bytes view over the whole memory. It never grows, so the views stay valid. */
  readonly u8: Uint8Array;
  /** 32-bit view, for `Atomics` (index = address / 4). */
  readonly i32: Int32Array;
  /** DataView over the whole memory. */
  readonly view: DataView;
  /** Allocates a zero-filled, page-aligned region. */
  alloc(req: AllocRequest): Region;
  /** Allocates a region that starts with a 64-byte state header. */
  allocState(req: StateAllocRequest): StateRegion;
  /** Frees (and scrubs) a region; only its owner may. */
  free(region: Region | number, owner: string): void;
}
