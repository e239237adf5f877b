import { ErrorCode, QingtianError } from '../../common/errors.js';
import { describe, rejectUnknownKeys } from '../../common/validate.js';
import { mask4, toPrefix4, type Prefix4 } from './ip-address.js';

/**
 * A classifier rule on the IPv4 5-tuple. Lower `priority` wins; equal priorities go to the lower
 * rule id.
 *
 * A field left out matches anything, but a rule must narrow something: a rule that matches every
 * packet is written as such, `{ any: true, priority }`, and any other rule that would match every
 * packet (no match field, or only `0.0.0.0/0`, `[0, 65535]`, `{ value: 0, mask: 0 }`) is refused.
 * Unknown keys are refused too, so a misspelt field (`source`, `dport`, `protocol`) is an error,
 * never a silent wildcard.
 *
 * ```ts
 * c.insert({ src: '10.0.0.0/8', dstPorts: [22, 22], proto: 6, priority: 5 });
 * c.insert({ any: true, priority: 1000 }); // the default rule, explicitly
 * ```
 */
export interface ClassifierRule {
  /** `true`: this rule matches every packet (and then no match field may be given). */
  any?: true | undefined;
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
  return new QingtianError(ErrorCode.InvalidArgument, `${field}: expected ${what}, got ${describe(got)}`, {
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

/** The keys a {@link ClassifierRule} may have. */
export const RULE_KEYS = ['any', 'src', 'dst', 'srcPorts', 'dstPorts', 'proto', 'priority'] as const;
const MATCH_KEYS = ['src', 'dst', 'srcPorts', 'dstPorts', 'proto'] as const;

/** True when the rule matches every header (all fields wildcards). */
export function matchesAll(r: NormalRule): boolean {
  return (
    r.srcLen === 0 &&
    r.dstLen === 0 &&
    r.spLo === 0 &&
    r.spHi === 65535 &&
    r.dpLo === 0 &&
    r.dpHi === 65535 &&
    r.protoMask === 0
  );
}

/**
 * Checks a rule at the API boundary; the message names the field and the accepted range. Unknown
 * keys are refused, and a rule that matches every packet must say `any: true` (see
 * {@link ClassifierRule}).
 */
export function normalizeRule(rule: unknown, defaultPriority: number, where = 'rule'): NormalRule {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw bad(where, 'a rule object', rule);
  rejectUnknownKeys(rule, RULE_KEYS, where);
  const r = rule as Record<string, unknown>;
  const any = r['any'];
  if (any !== undefined && any !== true) throw bad(`${where}.any`, 'true or nothing', any);
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
    rejectUnknownKeys(p, ['value', 'mask'], `${where}.proto`);
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
  const n: NormalRule = {
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
  if (any === true) {
    const given = MATCH_KEYS.filter((k) => r[k] !== undefined);
    if (given.length > 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${where}: 'any: true' matches every packet and takes no match field, got ${given.join(', ')}`,
        { field: `${where}.any`, given },
      );
  } else if (matchesAll(n)) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: this rule matches every packet; write { any: true, priority } if that is meant, ` +
        `else give at least one narrowing field (${MATCH_KEYS.join(', ')})`,
      { field: where },
    );
  }
  return n;
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
