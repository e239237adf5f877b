import { describe, expect, it } from 'vitest';
import { CcFlowTable, type CcEvent } from '../../src/index.js';
import { lawDefaults } from '../../src/dpu/cc/law-defaults.js';
import { HostMemory, LoaderRuntime } from '../../src/internals.js';

const mem = new HostMemory({ sizeBytes: 128 << 20 });
const runtime = new LoaderRuntime(mem);

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect((e as Error).name).toBe('QingtianError');
    return `${(e as { code: string }).code} ${(e as Error).message}`;
  }
  return 'no error';
}

const accounting = (): unknown => {
  const s = mem.stats();
  return { used: s.usedBytes, regions: s.regionCount, byOwner: s.byOwner };
};

describe('CcFlowTable fails closed', () => {
  it('a refused table allocates nothing (prototype keys, bad or foreign parameters)', () => {
    new CcFlowTable({ law: 'ldcp', flows: 1, runtime }).dispose(); // the kernel is loaded once, up front
    const before = accounting();
    const cases: [unknown, RegExp][] = [
      [{ law: 'toString', flows: 100_000 }, /^QT_INVALID_ARGUMENT CcFlowTable options\.law: expected one of 'ldcp', /],
      [{ law: 'constructor', flows: 4 }, /options\.law: expected one of/],
      [
        { law: 'ldcp', flows: 100_000, params: { P_BOGUS: 1 } },
        /params: unknown key 'P_BOGUS' for law 'ldcp' \(accepted: P_LDCP_ALPHA/,
      ],
      [{ law: 'ldcp', flows: 4, params: { P_DCQCN_G: 1 } }, /unknown key 'P_DCQCN_G' for law 'ldcp'/],
      [
        { law: 'ldcp', flows: 4, params: { P_LDCP_ALPHA: NaN } },
        /params\.P_LDCP_ALPHA: expected a finite number, got NaN/,
      ],
      [{ law: 'ldcp', flows: 4, lineBps: -1 }, /lineBps: expected a finite rate > 0, bit\/s, got -1/],
      [{ law: 'ldcp', flows: 4, flow: 3 }, /unknown key 'flow'/],
    ];
    for (const [o, re] of cases)
      expect(refusal(() => new CcFlowTable({ ...(o as object), runtime } as never))).toMatch(re);
    expect(accounting()).toEqual(before);
  });

  it('every law starts from its documented defaults, so a table without params reacts to marks', () => {
    const mark: CcEvent[] = Array.from({ length: 8 }, (_, i) => ({
      flow: 0,
      kind: 'ack',
      nowPs: (i + 1) * 1e6,
      ece: true,
      acked: 4,
    }));
    for (const law of ['ldcp', 'dcqcn', 'hpcc', 'swift', 'dctcp'] as const) {
      const bare = new CcFlowTable({ law, flows: 1, runtime });
      const spelled = new CcFlowTable({ law, flows: 1, runtime, params: lawDefaults(law, 162_500, 1000) });
      try {
        for (const t of [bare, spelled]) t.process(mark);
        expect([bare.windowBytes(0), bare.rateBps(0)], law).toEqual([spelled.windowBytes(0), spelled.rateBps(0)]);
      } finally {
        bare.dispose();
        spelled.dispose();
      }
    }
    const ldcp = new CcFlowTable({ law: 'ldcp', flows: 1, runtime });
    try {
      const w0 = ldcp.windowBytes(0);
      ldcp.process(mark);
      expect(ldcp.windowBytes(0)).toBeLessThan(w0); // beta = 0.5 per marked packet
    } finally {
      ldcp.dispose();
    }
  });

  it('a burst of events is checked whole before any is applied', () => {
    const t = new CcFlowTable({ law: 'ldcp', flows: 2, runtime });
    try {
      const w = t.windowBytes(0);
      const events = [
        { flow: 0, kind: 'ack', nowPs: 1e6, ece: true, acked: 4 },
        { flow: 0, kind: 'ack', nowPs: NaN },
      ] as CcEvent[];
      expect(refusal(() => t.process(events))).toBe(
        'QT_INVALID_ARGUMENT CcFlowTable.process: events[1].nowPs: expected a time in ps, a finite number >= 0, got NaN',
      );
      expect(refusal(() => t.process([{ flow: 0, kind: 'ack', nowPs: 1, ecn: true } as never]))).toMatch(
        /events\[0\]: unknown key 'ecn' \(accepted: flow, kind, nowPs, ece, /,
      );
      expect(refusal(() => t.process([{ flow: 0, kind: 'nak', nowPs: 1 } as never]))).toMatch(
        /events\[0\]\.kind: expected 'ack' or 'timeout', got "nak"/,
      );
      expect(t.windowBytes(0)).toBe(w);
    } finally {
      t.dispose();
    }
  });
});
