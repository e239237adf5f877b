import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../../src/common/package-paths.js';
import { relaxedSimdSupported } from '../../../src/index.js';
import { inspectKernel } from '../../../src/internals.js';

describe('built kernel families', () => {
  it('every module in build/kernels passes the loader (no data segments, no start function, declared ABI)', () => {
    const dir = join(packageRoot(), 'build', 'kernels');
    const files = readdirSync(dir).filter((f) => f.endsWith('.wasm'));
    expect(files).toEqual(expect.arrayContaining(['core.wasm', 'ec.wasm', 'ec-rlx.wasm', 'dif.wasm', 'dif-rlx.wasm']));
    for (const f of files) {
      if (f.endsWith('-rlx.wasm') && !relaxedSimdSupported()) continue;
      const { info } = inspectKernel(readFileSync(join(dir, f)), 65536, f);
      expect(info.name, f).toBe(f.slice(0, -'.wasm'.length));
    }
  });
});
