// The slow path's change log (slow-path-changes.ts) in a plain SharedArrayBuffer: one producer,
// one consumer, records of varying size wrapping across the end of a small ring.
import { describe, expect, it } from 'vitest';
import {
  ChangeLogReader,
  ChangeLogWriter,
  LOG_APPLIED,
  LOG_HEADER_BYTES,
  LOG_READ,
  LOG_WRITE,
  LOG_WRITTEN,
  type SlowPathChange,
} from '../../../src/dpu/net/slow-path-changes.js';
import type { ModelOp } from '../../../src/dpu/net/vpc-model-ops.js';

/** A log at `base` (a few words of something else before it: the header's words are base-relative). */
function makeLog(
  capacity: number,
  base = 128,
): { w: ChangeLogWriter; r: ChangeLogReader; i32: Int32Array; outside: () => number[] } {
  const buf = new SharedArrayBuffer(base + LOG_HEADER_BYTES + capacity + 64);
  const w = new ChangeLogWriter(buf, base, capacity);
  const r = new ChangeLogReader(buf, base, capacity);
  const u8 = new Uint8Array(buf);
  // The bytes around the log: never written.
  const outside = (): number[] => [...u8.subarray(0, base), ...u8.subarray(base + LOG_HEADER_BYTES + capacity)];
  return { w, r, i32: new Int32Array(buf, base, LOG_HEADER_BYTES / 4), outside };
}

/** Change number `i` (< 100000) whose JSON is `bytes` long (48 or more): its record takes 4 + bytes, 4-aligned. */
function change(i: number, bytes = 48): SlowPathChange {
  const name = `p${String(i).padStart(5, '0')}-`;
  const base = JSON.stringify({ model: { op: 'deletePort', args: [name] } }).length;
  const op: ModelOp = { op: 'deletePort', args: [name + 'x'.repeat(bytes - base)] };
  return { model: op };
}

function drainAll(r: ChangeLogReader): SlowPathChange[] {
  const got: SlowPathChange[] = [];
  r.drain((c) => got.push(c));
  return got;
}

describe('slow-path change log', () => {
  it('hands the consumer every record in order, with its content', () => {
    const { w, r } = makeLog(4096);
    const sent: SlowPathChange[] = [
      { model: { op: 'createVpc', args: [{ name: 'blue', cidr: '198.19.0.0/16' }] } },
      { addPort: { port: 3, base: 0x10000, capacity: 256 } },
      { model: { op: 'removeRule', args: ['echo', 7] } },
      { removePort: 3 },
      { model: { op: 'deleteVpc', args: ['blué ✓'] } },
    ];
    expect(r.pending()).toBe(false);
    for (const c of sent) expect(w.tryAppend(c)).toBe(true);
    expect(r.pending()).toBe(true);
    expect(w.written).toBe(5);
    expect(w.applied).toBe(0);
    expect(drainAll(r)).toEqual(sent);
    expect(r.pending()).toBe(false);
    expect(w.applied).toBe(5);
    // Nothing more: a second drain applies nothing.
    expect(r.drain(() => expect.fail('no change waits'))).toBe(0);
  });

  it('wraps across the end of a 256-byte ring thousands of times without losing or corrupting a record', () => {
    const { w, r, i32, outside } = makeLog(256);
    const queue: SlowPathChange[] = [];
    let next = 0;
    let taken = 0;
    let wraps = 0;
    // A small pseudo-random sequence of sizes: records from ~44 to 128 bytes, batches of 1 to 4.
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    for (let round = 0; round < 3000; round++) {
      const batch = 1 + rand(4);
      for (let k = 0; k < batch; k++) {
        const c = change(next, 48 + rand(77));
        const before = i32[LOG_WRITE]! & 255;
        if (!w.tryAppend(c)) break;
        if ((i32[LOG_WRITE]! & 255) <= before) wraps++;
        queue.push(c);
        next++;
      }
      r.drain((c) => {
        expect(c).toEqual(queue.shift());
        taken++;
      });
      expect(queue).toHaveLength(0);
    }
    expect(taken).toBe(next);
    expect(next).toBeGreaterThan(3000);
    expect(wraps).toBeGreaterThan(1000);
    expect(w.written).toBe(next);
    expect(w.applied).toBe(next);
    expect(i32[LOG_WRITTEN]).toBe(next);
    expect(i32[LOG_APPLIED]).toBe(next);
    expect(i32[LOG_READ]).toBe(i32[LOG_WRITE]);
    expect(outside().every((b) => b === 0)).toBe(true);
  });

  it('keeps the positions right as they wrap past 2^31 and 2^32', () => {
    const { w, r, i32 } = makeLog(256);
    // Both ends start near the top of the i32 range: the positions are modulo 2^32.
    i32[LOG_WRITE] = i32[LOG_READ] = 0x7fffff00 | 0;
    for (let i = 0; i < 200; i++) {
      expect(w.tryAppend(change(i, 48 + (i % 77)))).toBe(true);
      expect(drainAll(r)).toEqual([change(i, 48 + (i % 77))]);
    }
    i32[LOG_WRITE] = i32[LOG_READ] = 0xffffff00 | 0;
    for (let i = 0; i < 200; i++) {
      expect(w.tryAppend(change(i, 48 + (i % 77)))).toBe(true);
      expect(drainAll(r)).toEqual([change(i, 48 + (i % 77))]);
    }
  });

  it('refuses a record when the ring is full (hasRoom says so first) and writes nothing; takes it again once drained', () => {
    const { w, r, i32 } = makeLog(256);
    let n = 0;
    while (w.hasRoom(change(n, 88))) {
      expect(w.tryAppend(change(n, 88))).toBe(true);
      n++;
    }
    expect(n).toBeGreaterThan(1);
    const header = Array.from(i32);
    const bytes = new Uint8Array(i32.buffer).slice();
    expect(w.tryAppend(change(n, 88))).toBe(false);
    // A refused append left the header and the ring as they were.
    expect(Array.from(i32)).toEqual(header);
    expect(new Uint8Array(i32.buffer)).toEqual(bytes);
    expect(w.written).toBe(n);
    const got = drainAll(r);
    expect(got.slice(0, n)).toEqual(Array.from({ length: n }, (_, i) => change(i, 88)));
    expect(w.hasRoom(change(n + 1, 88))).toBe(true);
    expect(w.tryAppend(change(n + 1, 88))).toBe(true);
    expect(drainAll(r)).toEqual([change(n + 1, 88)]);
  });

  it('refuses a record that would cross the end while the wrap leaves too little room', () => {
    const { w, r, i32 } = makeLog(256);
    expect(w.tryAppend(change(0, 104))).toBe(true);
    drainAll(r);
    expect(i32[LOG_WRITE]).toBe(108);
    const mid = change(1, 104);
    expect(w.tryAppend(mid)).toBe(true); // [108, 216): fits before the end
    const before = Array.from(i32);
    const ring = new Uint8Array(i32.buffer).slice();
    // 40 bytes to skip at the end, then 112 from 0: 152 more, with 148 free.
    const big = change(2, 108);
    expect(w.tryAppend(big)).toBe(false);
    expect(Array.from(i32)).toEqual(before);
    expect(new Uint8Array(i32.buffer)).toEqual(ring);
    expect(drainAll(r)).toEqual([mid]);
    expect(w.tryAppend(big)).toBe(true);
    expect(drainAll(r)).toEqual([big]);
  });

  it('throws RangeError for a record larger than half the log, writing nothing', () => {
    const { w, r } = makeLog(256);
    expect(() => w.tryAppend(change(0, 300))).toThrow(RangeError);
    expect(() => w.tryAppend(change(0, 125))).toThrow(/125 bytes: larger than half the log \(124 bytes at most\)/);
    expect(w.written).toBe(0);
    expect(r.pending()).toBe(false);
  });

  it('an empty ring takes the largest record it accepts, wherever its positions stand', () => {
    const { w, r, i32 } = makeLog(256);
    // The largest change tryAppend does not refuse outright.
    const fits = (bytes: number): boolean => {
      try {
        w.tryAppend(change(0, bytes));
      } catch {
        return false;
      }
      drainAll(r);
      return true;
    };
    let bytes = 48;
    while (fits(bytes + 1)) bytes++;
    const largest = change(0, bytes);
    for (let at = 0; at < 256; at += 4) {
      i32[LOG_WRITE] = i32[LOG_READ] = at;
      expect(w.tryAppend(largest), `empty ring at offset ${at}, a record of ${bytes} bytes`).toBe(true);
      expect(drainAll(r)).toEqual([largest]);
    }
  });

  it('counts a change whose apply throws as applied, rethrows, and goes on with the next drain', () => {
    const { w, r } = makeLog(1024);
    for (let i = 0; i < 3; i++) expect(w.tryAppend(change(i))).toBe(true);
    const seen: SlowPathChange[] = [];
    expect(() =>
      r.drain((c) => {
        seen.push(c);
        if (seen.length === 2) throw new Error('replica refused');
      }),
    ).toThrow('replica refused');
    expect(seen).toEqual([change(0), change(1)]);
    // The refused change is not retried; the one after it is still there.
    expect(w.applied).toBe(2);
    expect(r.pending()).toBe(true);
    expect(drainAll(r)).toEqual([change(2)]);
    expect(w.applied).toBe(3);
    expect(w.written).toBe(3);
  });
});
