import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier, parseClassBench } from '../../../src/index.js';
import { HostMemory, LoaderRuntime, ruleMatches } from '../../../src/internals.js';
import { generateClassBench, generateTrace } from '../../../src/dpu/flow/classbench-gen.js';
import { generateRoutes4 } from '../../../src/dpu/flow/route-gen.js';

const seed = parseClassBench(readFileSync(join(__dirname, '..', '..', 'fixtures', 'acl1_1k'), 'utf8'));

describe('ClassBench-shaped generator', () => {
  const { rules } = generateClassBench(seed, 10_000, 42);

  it('is seeded, reaches the size, and keeps the seed structure', () => {
    expect(rules).toHaveLength(10_000);
    expect(generateClassBench(seed, 500, 42).rules).toEqual(generateClassBench(seed, 500, 42).rules);
    const pairs = new Set(seed.map((r) => `${r.srcLen}-${r.dstLen}`));
    expect(rules.every((r) => pairs.has(`${r.srcLen}-${r.dstLen}`))).toBe(true);
    const protos = new Set(seed.map((r) => `${r.protoValue}/${r.protoMask}`));
    expect(rules.every((r) => protos.has(`${r.protoValue}/${r.protoMask}`))).toBe(true);
    // Like ClassBench: specific rules first, port-wildcard rules towards the end.
    const wild = (r: (typeof rules)[number]): boolean =>
      r.spLo === 0 && r.spHi === 65535 && r.dpLo === 0 && r.dpHi === 65535;
    const firstHalf = rules.slice(0, 5000).filter(wild).length;
    const secondHalf = rules.slice(5000).filter(wild).length;
    expect(secondHalf).toBeGreaterThan(firstHalf * 2);
    expect(rules.map((r) => r.priority)).toEqual(rules.map((_, i) => i));
  });

  it('the classifier agrees with a linear scan on a 10k-rule generated set', () => {
    const c = new Classifier({ runtime: new LoaderRuntime(new HostMemory({ sizeBytes: 32 << 20 })), capacity: 16384 });
    try {
      for (const r of rules) c.insertNormal(r);
      const trace = generateTrace(rules, 3000, 9);
      const got = c.classify(trace);
      for (let i = 0; i < 3000; i++) {
        const h = trace.subarray(i * 5, i * 5 + 5);
        expect(got[i]).toBe(rules.findIndex((r) => ruleMatches(r, h[0]!, h[1]!, h[2]!, h[3]!, h[4]!)));
      }
    } finally {
      c.dispose();
    }
  });
});

describe('BGP-like route generator', () => {
  it('is seeded, unique, and mostly /24 with many /16–/23', () => {
    const routes = generateRoutes4(50_000, 1);
    expect(generateRoutes4(1000, 1)).toEqual(generateRoutes4(1000, 1));
    expect(new Set(routes.map((r) => `${r.addr}/${r.length}`)).size).toBe(50_000);
    const share = (f: (l: number) => boolean): number => routes.filter((r) => f(r.length)).length / routes.length;
    expect(share((l) => l === 24)).toBeGreaterThan(0.55);
    expect(share((l) => l >= 16 && l <= 23)).toBeGreaterThan(0.3);
    expect(share((l) => l > 24)).toBeGreaterThan(0.005);
  });
});
