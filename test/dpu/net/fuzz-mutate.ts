// The malformations of the network fuzz tests: one seeded mutation of a well-formed frame.
import type { Prng } from '../../../src/common/prng.js';
import { concat } from './frames.js';

/**
 * One of: truncation (headers included), flipped header bytes, IPv4 length/IHL nonsense, a VLAN
 * stack of 1-5 tags, fragment offsets and MF, bogus IP options, L4 length fields, random bytes
 * after the Ethernet header, oversize or undersize frames.
 */
export function mutate(r: Prng, base: Uint8Array): Uint8Array {
  let f: Uint8Array = base.slice();
  const kind = r.below(9);
  switch (kind) {
    case 0: // truncate anywhere, headers included
      f = f.slice(0, r.below(f.length + 1));
      break;
    case 1: // flip bytes in the headers
      for (let i = r.below(4) + 1; i > 0; i--) f[r.below(Math.min(f.length, 80))] = r.below(256);
      break;
    case 2: // IPv4 total length / IHL nonsense
      if (f[12] === 8 && f[13] === 0) {
        f[14] = 0x40 | r.below(16);
        f[16] = r.below(256);
        f[17] = r.below(256);
      }
      break;
    case 3: {
      // a VLAN stack of 1-5 tags
      const n = r.below(5) + 1;
      const tags = Array.from({ length: n }, () => [
        r.below(2) ? 0x81 : 0x88,
        r.below(2) ? 0x00 : 0xa8,
        r.below(16),
        r.below(256),
      ]).flat();
      f = concat(f.subarray(0, 12), tags, f.subarray(12));
      break;
    }
    case 4: // fragments: offset and MF
      if (f.length > 22) {
        f[20] = r.below(256) & 0x3f;
        f[21] = r.below(256);
      }
      break;
    case 5: // bogus IP options: IHL up to 15 with garbage after the header
      if (f.length > 34) {
        f[14] = 0x40 | (6 + r.below(10));
        for (let i = 34; i < Math.min(f.length, 74); i++) f[i] = r.below(256);
      }
      break;
    case 6: // L4 length fields: UDP length, TCP data offset
      if (f.length > 40) {
        f[38] = r.below(256);
        f[39] = r.below(256);
        f[46] = r.below(256);
      }
      break;
    case 7: // random bytes after a valid Ethernet header
      for (let i = 14; i < f.length; i++) f[i] = r.below(256);
      f = f.slice(0, 14 + r.below(120));
      break;
    default: // oversize or undersize frames
      f = r.below(2) ? new Uint8Array(1515 + r.below(100)) : f.slice(0, r.below(14));
  }
  return f;
}
