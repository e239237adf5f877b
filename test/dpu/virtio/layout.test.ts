import { describe, expect, it } from 'vitest';
import * as ring from '../../../src/common/virtio/ring-layout.js';
import * as lb from '../../../src/dpu/virtio/loopback-device.js';
import * as q from '../../../src/dpu/virtio/queue-state.js';
import * as wb from '../../../src/dpu/virtio/work-budget.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { familyKernel, instantiate } from '../../helpers/kernels.js';

describe('virtio layouts: TS mirrors equal the Wasm exports of the same name', () => {
  const exports = instantiate(familyKernel('virtio'), new HostMemory({ sizeBytes: 1 << 20 }).memory).exports;
  const check = (mod: Record<string, unknown>): number => {
    let n = 0;
    for (const [name, value] of Object.entries(mod)) {
      const g = exports[name];
      if (typeof value !== 'number' || !(g instanceof WebAssembly.Global)) continue;
      expect(Number(g.value) >>> 0, name).toBe(value >>> 0);
      n++;
    }
    return n;
  };

  it('ring layout and feature bits', () => {
    expect(check(ring)).toBeGreaterThanOrEqual(28);
  });

  it('queue state, burst buffer and loopback state', () => {
    expect(check(q)).toBeGreaterThanOrEqual(50);
    expect(check(lb)).toBe(15);
  });

  it('work budget and chain cursor blocks', () => {
    expect(check(wb)).toBe(12);
  });
});
