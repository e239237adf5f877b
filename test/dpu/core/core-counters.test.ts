import { describe, expect, it } from 'vitest';
import { COUNTER_NAMES, CounterWriter, readCounters } from '../../../src/dpu/core/core-counters.js';

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
    expect(i32[64 >> 2]).toBe(1); // one flush: version 1, block 1 live
    const w2 = new CounterWriter(i32, 64); // a restarted core continues the totals
    expect(w2.values[0]).toBe(2 ** 40 + 12345);
  });

  it('a reader is never blocked by a writer stopped in the middle of a flush', () => {
    const i32 = new Int32Array(new SharedArrayBuffer(1024));
    const w = new CounterWriter(i32, 64);
    w.values[0] = 10;
    w.flush();
    // A writer preempted mid-flush: it has written half of the inactive block, not published it.
    i32[(64 >> 2) + 2 + 0 * 18] = 99; // block 0 (inactive), passes lo
    expect(readCounters(i32, 64).passes).toBe(10);
    w.values[0] = 11;
    w.flush();
    expect(readCounters(i32, 64).passes).toBe(11);
  });
});
