import { describe, expect, it } from 'vitest';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { readFileSync } from 'node:fs';
import { releaseFile } from '../../../src/common/package-paths.js';
import { familyKernel, instantiate } from '../../helpers/kernels.js';

type Fn = (...a: number[]) => number;

/** The virtio module's hot-swap self-test (assembly/virtio/self-test.ts) on shadow data. */
describe('virtio qt_self_test', () => {
  const memory = new HostMemory({ sizeBytes: 4 << 20 });
  const scratch = memory.alloc({ name: 'shadow', owner: 'test', kind: 'core-scratch', sizeBytes: 64 << 10 });

  const modules: [string, () => Uint8Array][] = [
    ['virtio 1.0.0', () => familyKernel('virtio')],
    ['virtio 1.1.0 (release)', () => readFileSync(releaseFile('virtio', '1.1.0'))],
  ];
  for (const [what, moduleBytes] of modules) {
    it(`${what}: passes once qt_init bound its version; refuses a scratch area that is too small`, () => {
      const x = instantiate(moduleBytes(), memory.memory).exports;
      expect((x['qt_self_test'] as Fn)(scratch.base, scratch.sizeBytes)).toBe(-13); // version not bound yet
      expect((x['qt_init'] as Fn)(0, 1)).toBe(0);
      expect((x['qt_self_test'] as Fn)(scratch.base, scratch.sizeBytes)).toBe(0);
      expect((x['qt_self_test'] as Fn)(scratch.base, 4096)).toBe(-1);
      const bytes = Number((x['QT_SELF_TEST_BYTES'] as WebAssembly.Global).value);
      expect(bytes).toBeLessThanOrEqual(scratch.sizeBytes);
      // The stamped responses it checked carry its own version.
      const version = Number((x['QT_VERSION'] as WebAssembly.Global).value);
      expect(memory.view.getUint32(scratch.base + 16384 + 8192 + 8, true)).toBe(version);
    });
  }

  it('stays inside its scratch area', () => {
    const guard = memory.alloc({ name: 'guard', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    memory.u8.fill(0xa5, guard.base, guard.base + guard.sizeBytes);
    const x = instantiate(familyKernel('virtio'), memory.memory).exports;
    (x['qt_init'] as Fn)(0, 1);
    const small = memory.alloc({ name: 'shadow2', owner: 'test', kind: 'core-scratch', sizeBytes: 32 << 10 });
    expect((x['qt_self_test'] as Fn)(small.base, small.sizeBytes)).toBe(0);
    expect(memory.u8.subarray(guard.base, guard.base + guard.sizeBytes).every((b) => b === 0xa5)).toBe(true);
  });
});
