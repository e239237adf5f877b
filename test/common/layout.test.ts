import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as gpa from '../../src/common/gpa.js';
import { packageRoot } from '../../src/common/package-paths.js';
import * as hdr from '../../src/common/region-header.js';
import { inspectKernel } from '../../src/common/kernel-image.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { familyKernel, instantiate } from '../helpers/kernels.js';

describe('layouts shared by AssemblyScript and TypeScript have one source of truth', () => {
  const mem = new HostMemory({ sizeBytes: 1 << 20 });
  const core = instantiate(familyKernel('core'), mem.memory).exports;
  const value = (n: string): number => Number((core[n] as WebAssembly.Global).value);

  it('state region header offsets match assembly/common/header.ts', () => {
    for (const k of ['HDR_MAGIC', 'HDR_LAYOUT_VERSION', 'HDR_SIZE_BYTES', 'HDR_KIND', 'HDR_BYTES'] as const) {
      expect(hdr[k], k).toBe(value(k));
    }
  });

  it('guest memory map layout matches assembly/common/gpa.ts', () => {
    for (const k of [
      'GMAP_COUNT',
      'GMAP_DIRTY_LOG',
      'GMAP_DIRTY_PAGES',
      'GMAP_SLOTS',
      'GMAP_SLOT_BYTES',
      'GMAP_MAX_SLOTS',
      'GMAP_SLOT_GPA',
      'GMAP_SLOT_SIZE',
      'GMAP_SLOT_HOST',
      'GMAP_LAYOUT',
    ] as const) {
      expect(gpa[k], k).toBe(value(k));
    }
    expect(gpa.GMAP_MAGIC).toBe(value('GMAP_MAGIC') >>> 0);
    expect(hdr.fourcc('GMAP')).toBe(gpa.GMAP_MAGIC);
  });

  it('every built kernel family passes the loader checks and is named after its folder', () => {
    const families = readdirSync(join(packageRoot(), 'assembly')).filter(
      (f) => f !== 'common' && statSync(join(packageRoot(), 'assembly', f)).isDirectory(),
    );
    expect(families.length).toBeGreaterThan(0);
    for (const f of families) {
      const { info } = inspectKernel(familyKernel(f), mem.sizeBytes / 65536, f);
      expect(info.name).toBe(f);
      expect(info.abi).toBe(1);
    }
  });
});
