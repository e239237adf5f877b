import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/common/package-paths.js';
import { fourcc } from '../../src/common/region-header.js';
import { inspectKernel } from '../../src/common/kernel-image.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { GMAP_MAGIC } from '../../src/generated/common.js';
import { familyKernel } from '../helpers/kernels.js';

describe('kernel modules', () => {
  const mem = new HostMemory({ sizeBytes: 1 << 20 });

  it('a magic is four ASCII characters, little-endian, as the kernels declare them', () => {
    expect(fourcc('GMAP')).toBe(GMAP_MAGIC);
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
