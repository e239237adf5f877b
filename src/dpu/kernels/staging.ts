import type { KernelRuntime } from './kernel-runtime.js';

const OWNER = 'staging';
const MIN_BYTES = 1 << 20;

/**
 * A scratch area in a runtime's memory for the copying (Uint8Array) forms of the kernel library
 * APIs: user arrays live in the JS heap, kernels see only host memory, so inputs are copied in
 * and outputs copied out. One per runtime; it grows (to a power of two) and never shrinks. Calls
 * are synchronous, so one area per runtime (per thread) is enough: nobody else uses it between
 * a call's copy-in and copy-out.
 */
export class StagingArea {
  private base = 0;
  private size = 0;
  private regionId = -1;

  constructor(private readonly runtime: KernelRuntime) {}

  /** Base address of at least `bytes` of scratch, 64-byte aligned. Contents are unspecified. */
  reserve(bytes: number): number {
    if (bytes <= this.size) return this.base;
    const mem = this.runtime.memory;
    if (this.regionId >= 0) mem.free(this.regionId, OWNER);
    const size = Math.max(MIN_BYTES, 2 ** Math.ceil(Math.log2(bytes)));
    const region = mem.alloc({ name: 'staging', owner: OWNER, kind: 'core-scratch', sizeBytes: size });
    this.base = region.base;
    this.size = region.sizeBytes;
    this.regionId = region.id;
    return this.base;
  }
}

const areas = new WeakMap<KernelRuntime, StagingArea>();

export function stagingFor(runtime: KernelRuntime): StagingArea {
  let a = areas.get(runtime);
  if (!a) {
    a = new StagingArea(runtime);
    areas.set(runtime, a);
  }
  return a;
}

/** Rounds up to the next multiple of 64 (a cache line: shards staged side by side never share one). */
export function align64(n: number): number {
  return (n + 63) & ~63;
}

/** The address of a Uint8Array when it is a view over `memory` (no copy needed), else -1. */
export function addressIn(memory: WebAssembly.Memory, a: Uint8Array): number {
  return a.buffer === memory.buffer ? a.byteOffset : -1;
}
