import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GMAP_BYTES, gpaToHost, readGuestMap, writeGuestMap, type GuestSlot } from '../../src/common/gpa.js';
import { HostMemory } from '../../src/memory/host-memory.js';
import { familyKernel, instantiate } from '../helpers/kernels.js';
import { GMAP_COUNT } from '../../src/generated/common.js';

const U64 = (1n << 64n) - 1n;

describe('GPA translation: the Wasm implementation and the TS one agree', () => {
  const mem = new HostMemory({ sizeBytes: 1 << 20 });
  const map = mem.allocState({
    name: 'gmap',
    owner: 'test',
    kind: 'device-state',
    magic: 'GMAP',
    layoutVersion: 1,
    payloadBytes: GMAP_BYTES,
  });
  const wasmTranslate = instantiate(familyKernel('core'), mem.memory).exports['core_gpa_to_host'] as (
    m: number,
    g: bigint,
    l: bigint,
  ) => number;

  const translateBoth = (slots: GuestSlot[], g: bigint, l: bigint): [number, number] => {
    writeGuestMap(mem.view, map.base, slots);
    return [wasmTranslate(map.base, g, l) >>> 0, gpaToHost(slots, g, l)];
  };

  // Slots as a host would write them: hostBase + size fits in wasm32.
  const slotArb = fc
    .record({ gpaStart: fc.bigInt(0n, U64), size: fc.bigInt(1n, 1n << 32n), hostBase: fc.nat(0xffff_f000) })
    .map(({ gpaStart, size, hostBase }) => {
      const sizeBytes = size > BigInt(2 ** 32 - hostBase) ? BigInt(2 ** 32 - hostBase) : size;
      return { gpaStart, sizeBytes: sizeBytes === 0n ? 1n : sizeBytes, hostBase };
    });

  it('on random maps and ranges, biased to slot edges and u64 wrap-around', () => {
    fc.assert(
      fc.property(
        fc.array(slotArb, { minLength: 1, maxLength: 8 }),
        fc.nat(7),
        fc.bigInt(-2n, 2n),
        fc.oneof(fc.bigInt(0n, 4n), fc.bigInt(0n, U64), fc.constant(U64)),
        fc.boolean(),
        (slots, pick, delta, len, nearEnd) => {
          const s = slots[pick % slots.length]!;
          const edge = nearEnd ? s.gpaStart + s.sizeBytes : s.gpaStart;
          const g = (edge + delta) & U64;
          const [w, t] = translateBoth(slots, g, len);
          expect(w).toBe(t);
        },
      ),
      { numRuns: 3000, seed: 0x51a7 },
    );
  });

  it('accepts exactly the ranges wholly inside a slot', () => {
    const slots: GuestSlot[] = [{ gpaStart: 0x1000n, sizeBytes: 0x2000n, hostBase: 0x10_0000 }];
    expect(translateBoth(slots, 0x1000n, 0x2000n)).toEqual([0x10_0000, 0x10_0000]);
    expect(translateBoth(slots, 0x2fffn, 1n)).toEqual([0x10_1fff, 0x10_1fff]);
    expect(translateBoth(slots, 0x2fffn, 2n)).toEqual([0, 0]); // one byte past the end
    expect(translateBoth(slots, 0x3000n, 0n)).toEqual([0, 0]); // zero-length must still start inside
    expect(translateBoth(slots, 0xfffn, 1n)).toEqual([0, 0]); // below the slot
    expect(translateBoth(slots, 0x1800n, U64)).toEqual([0, 0]); // gpa + len overflows u64
    expect(translateBoth(slots, U64, 1n)).toEqual([0, 0]);
  });

  it('clamps a corrupt slot count instead of walking off the map', () => {
    const slots: GuestSlot[] = [{ gpaStart: 0n, sizeBytes: 0x1000n, hostBase: 0x20_0000 }];
    writeGuestMap(mem.view, map.base, slots);
    mem.view.setUint32(map.base + GMAP_COUNT, 0xffff_ffff, true);
    expect(readGuestMap(mem.view, map.base)).toHaveLength(8);
    expect(wasmTranslate(map.base, 0x10n, 4n) >>> 0).toBe(0x20_0010);
  });
});
