import { describe, expect, it } from 'vitest';
import { Classifier } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';

const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 32 << 20 }));

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return `${(e as { code: string }).code} ${(e as Error).message}`;
  }
  return 'no error';
}

// src, dst, sport, dport, proto
const ssh = [0x0a000001, 0xc0a80001, 40000, 22, 6];
const web = [0x0b000001, 0xc0a80001, 40000, 443, 6];

describe('classifier rules fail closed', () => {
  it('a misspelt rule is refused, naming the key, and changes nothing', () => {
    const c = new Classifier({ runtime, capacity: 8 });
    try {
      expect(
        refusal(() => c.insert({ source: '10.0.0.0/8', dport: [22, 22], protocol: 6, priority: 5 } as never)),
      ).toBe(
        "QT_INVALID_ARGUMENT rule: unknown key 'source' (accepted: any, src, dst, srcPorts, dstPorts, proto, priority)",
      );
      expect(refusal(() => c.insert({ src: '10.0.0.0/8', proto: { value: 6, mask: 255, maks: 1 } } as never))).toMatch(
        /^QT_INVALID_ARGUMENT rule\.proto: unknown key 'maks'/,
      );
      expect(refusal(() => c.insert({ src: { addr: 0x0a000000, len: 8 } } as never))).toMatch(
        /^QT_INVALID_ARGUMENT rule\.src: unknown key 'len' \(accepted: addr, length\)/,
      );
      expect(c.size).toBe(0);
      expect(Array.from(c.classify(Uint32Array.from([...ssh, ...web])))).toEqual([-1, -1]);
    } finally {
      c.dispose();
    }
  });

  it('a rule that matches everything must say any: true', () => {
    const c = new Classifier({ runtime, capacity: 8 });
    try {
      for (const r of [
        {},
        { priority: 3 },
        { src: '0.0.0.0/0' },
        { srcPorts: [0, 65535] },
        { proto: { value: 0, mask: 0 } },
      ])
        expect(
          refusal(() => c.insert(r as never)),
          JSON.stringify(r),
        ).toMatch(/^QT_INVALID_ARGUMENT rule: this rule matches every packet; write \{ any: true, priority \}/);
      expect(refusal(() => c.insert({ any: true, dstPorts: [22, 22] }))).toBe(
        "QT_INVALID_ARGUMENT rule: 'any: true' matches every packet and takes no match field, got dstPorts",
      );
      expect(refusal(() => c.insert({ any: false } as never))).toMatch(
        /^QT_INVALID_ARGUMENT rule\.any: expected true or nothing, got false/,
      );
      expect(c.size).toBe(0);
      const sshId = c.insert({ src: '10.0.0.0/8', dstPorts: [22, 22], proto: 6, priority: 5 });
      const all = c.insert({ any: true, priority: 100 });
      expect(Array.from(c.classify(Uint32Array.from([...ssh, ...web])))).toEqual([sshId, all]);
      expect(c.rule(all)).toMatchObject({ srcLen: 0, dstLen: 0, spLo: 0, spHi: 65535, protoMask: 0, priority: 100 });
    } finally {
      c.dispose();
    }
  });
});
