import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { NormalRule } from './classifier-rule.js';
import { formatIPv4, mask4, parseIPv4 } from './ip-address.js';

/**
 * ClassBench filter sets and header traces (Taylor & Turner, "ClassBench: a packet
 * classification benchmark", IEEE/ACM ToN 2007).
 *
 * Rule line:  @src/len <TAB> dst/len <TAB> splo : sphi <TAB> dplo : dphi <TAB> 0xPP/0xMM <TAB> flags/mask
 * Line order is priority: the first rule has priority 0 (highest). The flags field is checked
 * for form and then ignored (classification is on the 5-tuple).
 * Trace line: src dst sport dport proto [flags [ruleIdx]] as decimal integers.
 */

const RULE =
  /^@(\d+\.\d+\.\d+\.\d+)\/(\d+)\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)\s+(\d+)\s*:\s*(\d+)\s+(\d+)\s*:\s*(\d+)\s+0x([0-9a-fA-F]{1,2})\/0x([0-9a-fA-F]{1,2})(?:\s+0x[0-9a-fA-F]{1,4}\/0x[0-9a-fA-F]{1,4})?\s*$/;

function lineError(line: number, text: string, why: string): QingtianError {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return new QingtianError(ErrorCode.BadFormat, `ClassBench line ${line}: ${why}: ${JSON.stringify(shown)}`, { line });
}

/** Parses a filter set; rule i (0-based, in file order) gets priority i. Blank lines are skipped. */
export function parseClassBench(text: string): NormalRule[] {
  const rules: NormalRule[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    const m = RULE.exec(raw);
    if (!m) throw lineError(i + 1, raw, 'expected "@src/len dst/len lo : hi lo : hi 0xPP/0xMM flags/mask"');
    let src: number;
    let dst: number;
    try {
      src = parseIPv4(m[1]!, 'src');
      dst = parseIPv4(m[3]!, 'dst');
    } catch {
      throw lineError(i + 1, raw, 'an address octet is above 255');
    }
    const srcLen = Number(m[2]);
    const dstLen = Number(m[4]);
    if (srcLen > 32 || dstLen > 32)
      throw lineError(i + 1, raw, `prefix length ${Math.max(srcLen, dstLen)} is above 32`);
    const [spLo, spHi, dpLo, dpHi] = [m[5], m[6], m[7], m[8]].map(Number) as [number, number, number, number];
    if (spHi > 65535 || dpHi > 65535 || spLo > 65535 || dpLo > 65535)
      throw lineError(i + 1, raw, 'a port is above 65535');
    if (spLo > spHi) throw lineError(i + 1, raw, `source port range ${spLo} : ${spHi} has low > high`);
    if (dpLo > dpHi) throw lineError(i + 1, raw, `destination port range ${dpLo} : ${dpHi} has low > high`);
    const protoMask = parseInt(m[10]!, 16);
    rules.push({
      srcAddr: (src & mask4(srcLen)) >>> 0,
      srcLen,
      dstAddr: (dst & mask4(dstLen)) >>> 0,
      dstLen,
      spLo,
      spHi,
      dpLo,
      dpHi,
      protoValue: parseInt(m[9]!, 16) & protoMask,
      protoMask,
      priority: rules.length,
    });
  }
  return rules;
}

/** One rule in ClassBench form (flags written as wildcard). */
export function formatClassBenchRule(r: NormalRule): string {
  const hex = (v: number): string => `0x${v.toString(16).toUpperCase().padStart(2, '0')}`;
  return `@${formatIPv4(r.srcAddr)}/${r.srcLen}\t${formatIPv4(r.dstAddr)}/${r.dstLen}\t${r.spLo} : ${r.spHi}\t${r.dpLo} : ${r.dpHi}\t${hex(r.protoValue)}/${hex(r.protoMask)}\t0x0000/0x0000\t`;
}

/** Parses a header trace into 5 u32 words per header (src, dst, sport, dport, proto). */
export function parseTrace(text: string): Uint32Array {
  const lines = text.split('\n');
  const out = new Uint32Array(lines.length * 5);
  let n = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const f = raw.split(/\s+/);
    if (f.length < 5 || !f.slice(0, 5).every((x) => /^\d+$/.test(x)))
      throw lineError(i + 1, raw, 'expected "src dst sport dport proto [flags [rule]]" as integers');
    const [src, dst, sp, dp, pr] = f.slice(0, 5).map(Number) as [number, number, number, number, number];
    if (src > 0xffffffff || dst > 0xffffffff || sp > 65535 || dp > 65535 || pr > 255)
      throw lineError(i + 1, raw, 'a field is out of range');
    out.set([src, dst, sp, dp, pr], n * 5);
    n++;
  }
  return out.slice(0, n * 5);
}
