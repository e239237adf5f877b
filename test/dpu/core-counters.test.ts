import { describe, expect, it } from 'vitest';
import { COUNTER_NAMES, CounterWriter, readCounters } from '../../src/dpu/core-counters.js';

describe('core counters', () => {
  it('carry 64-bit values through the u32 pairs and resume from what is in memory', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(1024));
    const w = new CounterWriter(i32, 64);
    w.values[0] = 2 ** 40 + 12345;
    w.values[COUNTER_NAMES.length - 1] = 2 ** 32 - 1;
    w.flush();
    const r = readCounters(i32, 64);
    expect(r.passes).toBe(2 ** 40 + 12345);
    expect(r.eventsDropped).toBe(2 ** 32 - 1);
    expect(i32[64 >> 2]! % 2).toBe(0);
    const w2 = new CounterWriter(i32, 64); // a restarted core continues the totals
    expect(w2.values[0]).toBe(2 ** 40 + 12345);
  });
});
