import { ErrorCode, QingtianError } from '../../common/errors.js';

/**
 * An IPv4 prefix as the flow APIs take it. IPv4 addresses are u32 numbers (a.b.c.d = a << 24 | ...),
 * IPv6 addresses bigints (128 bits, first group highest).
 */
export interface Prefix4 {
  /** The address, a u32; bits past `length` are ignored. */
  addr: number;
  /** Prefix length, 0..32. */
  length: number;
}

/** An IPv6 prefix. */
export interface Prefix6 {
  /** The address, a bigint below 2^128 (first group highest); bits past `length` are ignored. */
  addr: bigint;
  /** Prefix length, 0..128. */
  length: number;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function bad(field: string, what: string, got: unknown): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${what}, got ${JSON.stringify(got)}`, {
    field,
    got,
  });
}

/** 'a.b.c.d' → u32; throws QT_INVALID_ARGUMENT naming `field`. */
export function parseIPv4(text: string, field = 'address'): number {
  const m = V4.exec(text);
  if (!m) throw bad(field, 'a dotted-quad IPv4 address', text);
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) throw bad(field, 'a dotted-quad IPv4 address (octets 0..255)', text);
    v = v * 256 + o;
  }
  return v;
}

/** u32 → 'a.b.c.d'. */
export function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** 'a.b.c.d/len' → Prefix4 (length 0..32). */
export function parsePrefix4(text: string, field = 'prefix'): Prefix4 {
  const slash = text.indexOf('/');
  const addr = parseIPv4(slash < 0 ? text : text.slice(0, slash), field);
  const length = slash < 0 ? 32 : Number(text.slice(slash + 1));
  if (!Number.isInteger(length) || length < 0 || length > 32 || (slash >= 0 && !/^\d+$/.test(text.slice(slash + 1)))) {
    throw bad(field, 'a prefix length in [0, 32]', text);
  }
  return { addr, length };
}

/** A Prefix4 or its text form, checked: addr a u32, length an integer in [0, 32]. */
export function toPrefix4(p: unknown, field: string): Prefix4 {
  if (typeof p === 'string') return parsePrefix4(p, field);
  if (typeof p === 'object' && p !== null) {
    const { addr, length } = p as Record<string, unknown>;
    if (typeof addr !== 'number' || !Number.isInteger(addr) || addr < 0 || addr > 0xffffffff)
      throw bad(`${field}.addr`, 'an integer in [0, 4294967295]', addr);
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > 32)
      throw bad(`${field}.length`, 'an integer in [0, 32]', length);
    return { addr, length };
  }
  throw bad(field, "a prefix ('a.b.c.d/len' or { addr, length })", p);
}

/** Netmask of a prefix length (0..32) as a u32. */
export function mask4(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** IPv6 text (RFC 4291 §2.2 forms, including '::' and a trailing dotted quad) → bigint. */
export function parseIPv6(text: string, field = 'address'): bigint {
  const fail = (): QingtianError => bad(field, 'an IPv6 address', text);
  if (!/^[0-9a-fA-F:.]+$/.test(text)) throw fail();
  let s = text;
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    const v4 = parseIPv4(s.slice(lastColon + 1), field);
    tail = [v4 >>> 16, v4 & 0xffff];
    const front = s.slice(0, lastColon + 1);
    s = front.endsWith('::') ? front : front.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) throw fail();
  const groups = (h: string): number[] =>
    h === ''
      ? []
      : h.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw fail();
          return parseInt(g, 16);
        });
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + rest.length + tail.length;
  let all: number[];
  if (halves.length === 2) {
    if (total > 7) throw fail();
    all = [...head, ...new Array<number>(8 - total).fill(0), ...rest, ...tail];
  } else {
    if (total !== 8) throw fail();
    all = [...head, ...tail];
  }
  let v = 0n;
  for (const g of all) v = (v << 16n) | BigInt(g);
  return v;
}

/** bigint → IPv6 text: eight lowercase hex groups, no '::' compression (`2001:db8:0:0:0:0:0:1`). */
export function formatIPv6(v: bigint): string {
  const g: string[] = [];
  for (let i = 7; i >= 0; i--) g.push(((v >> BigInt(i * 16)) & 0xffffn).toString(16));
  return g.join(':');
}

/** 'addr/len' → Prefix6 (length 0..128). */
export function parsePrefix6(text: string, field = 'prefix'): Prefix6 {
  const slash = text.indexOf('/');
  const addr = parseIPv6(slash < 0 ? text : text.slice(0, slash), field);
  const lenText = slash < 0 ? '128' : text.slice(slash + 1);
  const length = Number(lenText);
  if (!/^\d+$/.test(lenText) || length > 128) throw bad(field, 'a prefix length in [0, 128]', text);
  return { addr, length };
}

export function toPrefix6(p: unknown, field: string): Prefix6 {
  if (typeof p === 'string') return parsePrefix6(p, field);
  if (typeof p === 'object' && p !== null) {
    const { addr, length } = p as Record<string, unknown>;
    if (typeof addr !== 'bigint' || addr < 0n || addr >> 128n !== 0n)
      throw bad(`${field}.addr`, 'a bigint in [0, 2^128)', addr);
    if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > 128)
      throw bad(`${field}.length`, 'an integer in [0, 128]', length);
    return { addr, length };
  }
  throw bad(field, "a prefix ('addr/len' or { addr, length })", p);
}
