import type { Region } from '../../common/host-memory-api.js';
import type { RegionKind } from '../../common/region-kind.js';
import { RegionAllocator } from '../../memory/region-allocator.js';
import { scrub } from '../../memory/scrub.js';

/**
 * The host memory the control plane granted the host agent in its hello: the agent carves guest
 * RAM and VM control pages out of it (first fit, 64 KiB-aligned RAM) and scrubs every region it
 * frees, so whatever a guest left behind never reaches the next one. Regions are in host
 * addresses (the grant's base added).
 */
export class AgentPool {
  private readonly alloc: RegionAllocator;

  constructor(
    private readonly u8: Uint8Array,
    readonly base: number,
    readonly bytes: number,
  ) {
    this.alloc = new RegionAllocator(bytes, 0);
  }

  /** A zeroed region of `sizeBytes` (rounded up to pages), or null when the pool has no room. */
  take(name: string, owner: string, kind: RegionKind, sizeBytes: number, alignBytes = 4096): Region | null {
    try {
      const r = this.alloc.alloc({ name, owner, kind, sizeBytes, alignBytes });
      return { ...r, base: r.base + this.base };
    } catch {
      return null;
    }
  }

  /** Scrubs and frees a region taken from this pool. */
  give(region: Region, owner: string): void {
    scrub(this.u8, region.base, region.base + region.sizeBytes);
    this.alloc.free(region.id, owner);
  }

  stats(): { totalBytes: number; usedBytes: number; freeBytes: number; regions: number } {
    const s = this.alloc.stats();
    return { totalBytes: s.totalBytes, usedBytes: s.usedBytes, freeBytes: s.freeBytes, regions: s.regionCount };
  }
}
