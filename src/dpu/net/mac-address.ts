import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Prng } from '../../common/prng.js';

/**
 * Ethernet MAC addresses as the network API takes them: text 'aa:bb:cc:dd:ee:ff' (or with '-'),
 * held inside as a 48-bit integer (first octet highest) so that tables key on a number.
 */
const MAC_TEXT =
  /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/;

export const BROADCAST_MAC = 0xffff_ffff_ffff;

/** 'aa:bb:cc:dd:ee:ff' → 48-bit number; QT_INVALID_ARGUMENT naming `field` otherwise. */
export function parseMac(text: unknown, field = 'mac'): number {
  const m = typeof text === 'string' ? MAC_TEXT.exec(text) : null;
  if (!m) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${field}: expected a MAC address 'aa:bb:cc:dd:ee:ff', got ${JSON.stringify(text)}`,
      { field, got: text },
    );
  }
  let v = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

export function formatMac(mac: number): string {
  const out: string[] = [];
  for (let i = 5; i >= 0; i--) out.push((Math.floor(mac / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, '0'));
  return out.join(':');
}

/** The group bit (I/G) of the first octet: broadcast and multicast addresses. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 2 ** 40) & 1) === 1;
}

/** Reads a MAC from 6 bytes at `at`. */
export function readMac(b: Uint8Array, at: number): number {
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + b[at + i]!;
  return v;
}

/** Writes a MAC as 6 bytes at `at`. */
export function writeMac(b: Uint8Array, at: number, mac: number): void {
  for (let i = 0; i < 6; i++) b[at + i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
}

/**
 * A locally administered unicast MAC (first octet x2, x6, xA or xE: bit 1 set, bit 0 clear) from
 * the seeded PRNG, so that generated ports are reproducible for a given seed.
 */
export function randomLocalMac(prng: Prng): number {
  const hi = (prng.u32() & 0xfeff) | 0x0200;
  return hi * 2 ** 32 + prng.u32();
}
