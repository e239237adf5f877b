import { ErrorCode, QingtianError } from '../../common/errors.js';
import { mask4, toPrefix4, type Prefix4 } from './ip-address.js';

/**
 * A classifier rule on the IPv4 5-tuple. Every field is optional: an absent field matches
 * anything. Lower `priority` wins; equal priorities go to the lower rule id.
 */
export interface ClassifierRule {
  /** Source prefix: 'a.b.c.d/len' or { addr, length }. */
  src?: string | Prefix4 | undefined;
  /** Destination prefix: 'a.b.c.d/len' or { addr, length }. */
  dst?: string | Prefix4 | undefined;
  /** Inclusive source port range [lo, hi], 0 <= lo <= hi <= 65535. */
  srcPorts?: readonly [number, number] | undefined;
  /** Inclusive destination port range [lo, hi], 0 <= lo <= hi <= 65535. */
  dstPorts?: readonly [number, number] | undefined;
  /** IP protocol: an exact value 0..255, or { value, mask } (mask 0 = any). */
  proto?: number | { value: number; mask: number } | undefined;
  /** 0..2^32-1; default: after every rule inserted so far. */
  priority?: number | undefined;
}

/** The checked, flat form of a {@link ClassifierRule} every layer below the API uses (and parseClassBench returns). */
export interface NormalRule {
  /** Source address, a u32 (bits past `srcLen` zero). */
  srcAddr: number;
  /** Source prefix length, 0..32 (0: any). */
  srcLen: number;
  /** Destination address, a u32 (bits past `dstLen` zero). */
  dstAddr: number;
  /** Destination prefix length, 0..32. */
  dstLen: number;
  /** Lowest source port matched, 0..65535. */
  spLo: number;
  /** Highest source port matched, spLo..65535. */
  spHi: number;
  /** Lowest destination port matched. */
  dpLo: number;
  /** Highest destination port matched. */
  dpHi: number;
  /** Protocol value, compared under `protoMask`. */
  protoValue: number;
  /** Protocol mask, 0..255 (0: any protocol). */
  protoMask: number;
  /** 0..2^32 − 1; lower wins. */
  priority: number;
}

function bad(field: string, what: string, got: unknown): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${what}, got ${JSON.stringify(got)}`, {
    field,
    got,
  });
}

function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function ports(v: unknown, field: string): [number, number] {
  if (v === undefined) return [0, 65535];
  if (!Array.isArray(v) || v.length !== 2) throw bad(field, 'a port range [lo, hi]', v);
  const [lo, hi] = v as unknown[];
  if (!isInt(lo, 0, 65535)) throw bad(`${field}[0]`, 'an integer in [0, 65535]', lo);
  if (!isInt(hi, 0, 65535)) throw bad(`${field}[1]`, 'an integer in [0, 65535]', hi);
  if (lo > hi) throw bad(field, 'a range with lo <= hi', v);
  return [lo, hi];
}

/** Checks a rule at the API boundary; the message names the field and the accepted range. */
export function normalizeRule(rule: unknown, defaultPriority: number, where = 'rule'): NormalRule {
  if (typeof rule !== 'object' || rule === null) throw bad(where, 'a rule object', rule);
  const r = rule as Record<string, unknown>;
  const src = r['src'] === undefined ? { addr: 0, length: 0 } : toPrefix4(r['src'], `${where}.src`);
  const dst = r['dst'] === undefined ? { addr: 0, length: 0 } : toPrefix4(r['dst'], `${where}.dst`);
  const [spLo, spHi] = ports(r['srcPorts'], `${where}.srcPorts`);
  const [dpLo, dpHi] = ports(r['dstPorts'], `${where}.dstPorts`);
  let protoValue = 0;
  let protoMask = 0;
  const p = r['proto'];
  if (typeof p === 'number') {
    if (!isInt(p, 0, 255)) throw bad(`${where}.proto`, 'an integer in [0, 255]', p);
    protoValue = p;
    protoMask = 0xff;
  } else if (typeof p === 'object' && p !== null) {
    const { value, mask } = p as Record<string, unknown>;
    if (!isInt(value, 0, 255)) throw bad(`${where}.proto.value`, 'an integer in [0, 255]', value);
    if (!isInt(mask, 0, 255)) throw bad(`${where}.proto.mask`, 'an integer in [0, 255]', mask);
    protoValue = value & mask;
    protoMask = mask;
  } else if (p !== undefined) {
    throw bad(`${where}.proto`, 'an integer in [0, 255] or { value, mask }', p);
  }
  const priority = r['priority'] === undefined ? defaultPriority : r['priority'];
  if (!isInt(priority, 0, 0xffffffff)) throw bad(`${where}.priority`, 'an integer in [0, 4294967295]', priority);
  return {
    srcAddr: (src.addr & mask4(src.length)) >>> 0,
    srcLen: src.length,
    dstAddr: (dst.addr & mask4(dst.length)) >>> 0,
    dstLen: dst.length,
    spLo,
    spHi,
    dpLo,
    dpHi,
    protoValue,
    protoMask,
    priority,
  };
}

/** Does `rule` match the header (src, dst, sport, dport, proto)? The reference semantics. */
export function ruleMatches(r: NormalRule, src: number, dst: number, sp: number, dp: number, proto: number): boolean {
  return (
    (src & mask4(r.srcLen)) >>> 0 === r.srcAddr &&
    (dst & mask4(r.dstLen)) >>> 0 === r.dstAddr &&
    sp >= r.spLo &&
    sp <= r.spHi &&
    dp >= r.dpLo &&
    dp <= r.dpHi &&
    (proto & r.protoMask) === r.protoValue
  );
}
