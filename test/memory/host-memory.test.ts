import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../src/common/errors.js';
import { checkHeader, fourcc, HDR_BYTES } from '../../src/common/region-header.js';
import { HostMemory } from '../../src/memory/host-memory.js';

describe('HostMemory', () => {
  it('is one shared WebAssembly.Memory of the requested size that cannot grow', () => {
    const m = new HostMemory({ sizeBytes: 4 << 20 });
    expect(m.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(m.memory.buffer.byteLength).toBe(4 << 20);
    expect(() => m.memory.grow(1)).toThrow(RangeError);
    expect(m.u8.length).toBe(4 << 20);
  });

  it('rejects sizes that are not whole Wasm pages or exceed wasm32', () => {
    for (const sizeBytes of [1000, 0, 2 ** 32 + 65536, 512 * 1024]) {
      try {
        new HostMemory({ sizeBytes });
        throw new Error('accepted');
      } catch (e) {
        expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
        expect((e as Error).message).toMatch(
          /^HostMemory options\.sizeBytes: expected a multiple of 65536 in \[1048576, 4294967296\]/,
        );
      }
    }
  });

  it('state regions start with a header (magic, layout version, size, kind)', () => {
    const m = new HostMemory({ sizeBytes: 2 << 20 });
    const r = m.allocState({
      name: 'dev',
      owner: 'vm1',
      kind: 'device-state',
      magic: 'VQST',
      layoutVersion: 3,
      payloadBytes: 100,
    });
    expect(r.payload).toBe(r.base + HDR_BYTES);
    expect(r.sizeBytes).toBe(4096);
    checkHeader(m.view, r.base, fourcc('VQST'), 3, 4096);
    expect(m.view.getUint32(r.base + 12, true)).toBe(2); // kind code of device-state
    expect(() => checkHeader(m.view, r.base, fourcc('VQST'), 4, 64)).toThrow(
      /expected magic 0x54535156 layout 4 .* found magic 0x54535156 layout 3 size 4096/,
    );
  });

  it('hands out zeroed memory: a freed region is scrubbed before anyone gets it again', () => {
    const m = new HostMemory({ sizeBytes: 2 << 20 });
    const a = m.alloc({ name: 'a', owner: 'vm1', kind: 'guest-ram', sizeBytes: 65536 });
    m.u8.fill(0xab, a.base, a.base + a.sizeBytes);
    m.free(a, 'vm1');
    const b = m.alloc({ name: 'b', owner: 'vm2', kind: 'guest-ram', sizeBytes: 65536 });
    expect(b.base).toBe(a.base);
    expect(m.u8.subarray(b.base, b.base + b.sizeBytes).every((x) => x === 0)).toBe(true);
  });

  it('never hands out the low 64 KiB (address 0 means "no address" to kernels)', () => {
    const m = new HostMemory({ sizeBytes: 1 << 20 });
    const r = m.alloc({ name: 'x', owner: 'o', kind: 'core-scratch', sizeBytes: 4096 });
    expect(r.base).toBeGreaterThanOrEqual(65536);
    expect(m.stats().reservedBytes).toBe(65536);
  });
});
