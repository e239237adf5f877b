import { describe, expect, it } from 'vitest';
import { scrub } from '../../src/memory/scrub.js';

describe('scrub', () => {
  it('zeroes every byte of the range, in chunks that were dirty or clean, and nothing outside it', () => {
    const u8 = new Uint8Array(5 * 65536).fill(0);
    const start = 1000;
    const end = 4 * 65536 + 77;
    for (const at of [start, 65535, 65536, 3 * 65536 + 5, end - 1]) u8[at] = 0xa5;
    u8[start - 1] = 1;
    u8[end] = 2;
    scrub(u8, start, end);
    expect(u8.subarray(start, end).every((b) => b === 0)).toBe(true);
    expect(u8[start - 1]).toBe(1);
    expect(u8[end]).toBe(2);
  });

  it('works on a view that does not start at its buffer’s first byte', () => {
    const buf = new Uint8Array(3 * 65536).fill(7);
    const view = buf.subarray(100);
    scrub(view, 0, 65536 + 3);
    expect(buf[99]).toBe(7);
    expect(view.subarray(0, 65536 + 3).every((b) => b === 0)).toBe(true);
    expect(view[65536 + 3]).toBe(7);
  });
});
