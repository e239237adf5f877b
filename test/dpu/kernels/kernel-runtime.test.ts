import { describe, expect, it } from 'vitest';
import { defaultRuntime } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';

describe('kernel runtime', () => {
  it('loads a kernel family once and caches it', () => {
    const rt = new LoaderRuntime(new HostMemory({ sizeBytes: 4 << 20 }));
    const a = rt.kernel('core');
    expect(rt.kernel('core')).toBe(a);
    expect(a.info.name).toBe('core');
  });

  it('the default runtime is one private memory, created on first use', () => {
    const rt = defaultRuntime();
    expect(defaultRuntime()).toBe(rt);
    expect(rt.memory.sizeBytes).toBe(1 << 30);
    expect(rt.kernel('core').fn<(m: number, g: bigint, l: bigint) => number>('core_gpa_to_host')).toBeTypeOf(
      'function',
    );
  });
});
