import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../src/common/errors.js';
import { decodeName, encodeName, inspectKernel } from '../../src/common/kernel-image.js';
import { KernelLoader } from '../../src/dpu/kernels/kernel-loader.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { familyKernel, testKernel } from '../helpers/kernels.js';
import { extraImportModule, ownMemoryModule, unsharedMemoryModule } from '../helpers/wasm-bytes.js';

const PAGES = 64;

function refusal(bytes: Uint8Array): string {
  try {
    inspectKernel(bytes, PAGES, 'm');
  } catch (e) {
    expect(isQingtianError(e, 'QT_KERNEL_REJECTED'), String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('module was accepted');
}

describe('kernel modules: the loader enforces the kernel rules', () => {
  it('reads name, version, ABI, state layout and table size from the exports', () => {
    const { info } = inspectKernel(testKernel('probe-v2'), PAGES);
    expect(info).toMatchObject({ name: 'probe', version: '2.0.0', abi: 1, stateLayout: 1, tablesBytes: 65536 });
    expect(info.functions).toEqual(['probe_run']);
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('refuses a module with a data segment, saying where it would write', () => {
    expect(refusal(testKernel('bad-data'))).toMatch(/has data segments \(\d+ B at 0x[0-9a-f]+/);
  });

  it('refuses an unsupported ABI and missing declaration exports', () => {
    expect(refusal(testKernel('bad-abi'))).toBe('kernel m: ABI version 99; this runtime speaks ABI 1');
    expect(refusal(testKernel('no-init'))).toBe('kernel m: missing exports: qt_init');
  });

  it('refuses a module that does not import the shared host memory', () => {
    expect(refusal(ownMemoryModule())).toMatch(/defines its own memory/);
    expect(refusal(unsharedMemoryModule())).toMatch(/imports a non-shared memory/);
    expect(refusal(extraImportModule())).toMatch(
      /imports env\.abort \(function\); a kernel may import only env\.memory/,
    );
  });

  it('refuses bytes that are not Wasm', () => {
    expect(refusal(new Uint8Array([1, 2, 3, 4]))).toMatch(/not a valid WebAssembly module/);
  });

  it('a refused load changes nothing in host memory', () => {
    const host = new HostMemory({ sizeBytes: 4 << 20 });
    const loader = new KernelLoader(host);
    const before = host.stats();
    for (const bad of [testKernel('bad-data'), testKernel('bad-abi'), ownMemoryModule()]) {
      expect(() => loader.load(bad)).toThrow();
    }
    expect(host.stats()).toEqual(before);
    expect(loader.list()).toHaveLength(0);
  });

  it('packs and unpacks QT_NAME', () => {
    expect(decodeName(encodeName('core'))).toBe('core');
    expect(encodeName('core')).toBe(0x65726f63n);
  });

  it('places each loaded version in its own image slot and table region', () => {
    const host = new HostMemory({ sizeBytes: 4 << 20 });
    const loader = new KernelLoader(host);
    const v1 = loader.load(testKernel('probe-v1'));
    const v2 = loader.load(testKernel('probe-v2'));
    const spans = [v1.image, v1.tables!, v2.image, v2.tables!].map((r) => [r.base, r.base + r.sizeBytes] as const);
    for (let i = 0; i < spans.length; i++)
      for (let j = i + 1; j < spans.length; j++)
        expect(spans[i]![1] <= spans[j]![0] || spans[j]![1] <= spans[i]![0]).toBe(true);
    // Tables were built by qt_init on load: word i = i * mul + add, per version.
    expect(host.view.getUint32(v1.tables!.payload + 4 * 5, true)).toBe((5 * 2654435761 + 0x1111) >>> 0);
    expect(host.view.getUint32(v2.tables!.payload + 4 * 5, true)).toBe(5 * 40503 + 7);
    const imageId = v1.image.id;
    loader.unload(v1);
    expect(host.region(imageId)).toBeUndefined();
    // The unloaded version: identity readable, everything that reaches freed memory QT_DISPOSED.
    expect(v1.info.name).toBe('probe');
    for (const use of [
      () => v1.image,
      () => v1.tables,
      () => v1.instance,
      () => v1.fn('qt_init'),
      () => v1.constant('QT_ABI'),
      () => v1.entryIndex('qt_init'),
    ])
      expect(use).toThrow(expect.objectContaining({ code: 'QT_DISPOSED' }));
    expect(host.view.getUint32(v2.tables!.payload + 4 * 5, true)).toBe(5 * 40503 + 7);
    expect(() => loader.load(familyKernel('core'))).not.toThrow();
  });
});
