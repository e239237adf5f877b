import { describe, expect, it } from 'vitest';
import { Classifier, flowKey, FlowTable, PacketParser, RouteTable } from '../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../src/internals.js';

const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 64 << 20 }));

/** "CODE message" of a QingtianError; anything else thrown fails the test. */
function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    const err = e as { name?: string; code?: string; message: string };
    expect(err.name, `${String(e)} must be a QingtianError`).toBe('QingtianError');
    return `${err.code} ${err.message}`;
  }
  return 'no error';
}

const keys = (ids: number[]): Uint8Array => {
  const k = new Uint8Array(ids.length * 48);
  ids.forEach((id, i) => k.set(flowKey({ src: id, dst: 1, srcPort: 1, dstPort: 2, proto: 6 }), i * 48));
  return k;
};

describe('every refusal is a QingtianError naming the field, the accepted range and what came', () => {
  it('RouteTable.update and lookupBurst', () => {
    const t = new RouteTable({ runtime, family: 'ipv6', maxGroups: 4 });
    try {
      expect(refusal(() => t.update(undefined as never))).toBe(
        'QT_INVALID_ARGUMENT RouteTable.update changes: expected an object, got nothing',
      );
      expect(refusal(() => t.update({ insert: 5 } as never))).toBe(
        'QT_INVALID_ARGUMENT RouteTable.update changes.insert: expected an array, got 5',
      );
      expect(refusal(() => t.update({ inserts: [] } as never))).toBe(
        "QT_INVALID_ARGUMENT RouteTable.update changes: unknown key 'inserts' (accepted: insert, delete)",
      );
      expect(refusal(() => t.update({ insert: ['10.0.0.0/8'] } as never))).toBe(
        'QT_INVALID_ARGUMENT insert[0]: expected a [prefix, nextHop] pair, got "10.0.0.0/8"',
      );
      expect(refusal(() => t.lookupBurst(undefined as never))).toBe(
        'QT_INVALID_ARGUMENT RouteTable.lookupBurst: addrs: expected a Uint32Array of 4 word(s) per address, got nothing',
      );
      expect(refusal(() => t.lookupBurst(new Uint32Array(8), [] as never))).toBe(
        'QT_INVALID_ARGUMENT RouteTable.lookupBurst: out: expected an Int32Array of at least 2 entries, got []',
      );
      expect(refusal(() => t.lookup(Symbol('x') as never))).toMatch(/^QT_INVALID_ARGUMENT lookup: expected an IPv6/);
    } finally {
      t.dispose();
    }
  });

  it('Classifier.classifyInto and classify', () => {
    const c = new Classifier({ runtime, capacity: 4 });
    try {
      expect(refusal(() => c.classifyInto(new Uint32Array(5), [] as never))).toBe(
        'QT_INVALID_ARGUMENT Classifier.classifyInto: out: expected an Int32Array of at least 1 entries, got []',
      );
      expect(refusal(() => c.classify('x' as never))).toBe(
        'QT_INVALID_ARGUMENT Classifier.classify: headers: expected a Uint32Array of 5 words per header, got "x"',
      );
      expect(refusal(() => c.insert({ src: { addr: 5n, length: 8 } } as never))).toBe(
        'QT_INVALID_ARGUMENT rule.src.addr: expected an integer in [0, 4294967295], got 5n',
      );
    } finally {
      c.dispose();
    }
  });

  it('FlowTable.lookup, lookupBurst; PacketParser options', () => {
    const t = new FlowTable({ runtime, capacity: 64 });
    try {
      expect(refusal(() => t.lookup(new Uint8Array(0)))).toBe(
        'QT_INVALID_ARGUMENT FlowTable.lookup: keys: expected 1 key(s) of 48 bytes in a Uint8Array, got a Uint8Array of 0',
      );
      expect(refusal(() => t.lookupBurst(keys([1]), [] as never))).toBe(
        'QT_INVALID_ARGUMENT FlowTable.lookupBurst: out: expected an Int32Array of at least 1 entries, got []',
      );
      expect(refusal(() => t.lookupBurst(undefined as never))).toMatch(
        /^QT_INVALID_ARGUMENT FlowTable\.lookupBurst: keys:/,
      );
    } finally {
      t.dispose();
    }
    expect(refusal(() => new PacketParser({ runtime: 5 } as never))).toBe(
      'QT_INVALID_ARGUMENT PacketParser options.runtime: expected a KernelRuntime (defaultRuntime() or host.runtime), got 5',
    );
  });
});

describe('burst calls are all or nothing', () => {
  it('FlowTable.insertBurst checks every value before inserting the first', () => {
    const t = new FlowTable({ runtime, capacity: 64 });
    try {
      expect(refusal(() => t.insertBurst(keys([1, 2, 3]), [1, -1, 3]))).toBe(
        'QT_INVALID_ARGUMENT FlowTable.insertBurst: values[1]: expected an integer in [0, 2147483647], got -1; nothing was inserted',
      );
      expect(t.size).toBe(0);
      expect(Array.from(t.lookupBurst(keys([1, 2, 3])))).toEqual([-1, -1, -1]);
      expect(refusal(() => t.insertBurst(keys([1, 2]), [1, 2, 3]))).toMatch(
        /^QT_INVALID_ARGUMENT FlowTable\.insertBurst: keys:/,
      );
      expect(t.size).toBe(0);
    } finally {
      t.dispose();
    }
  });

  it('RouteTable.update undoes what it applied when the groups run out', () => {
    const t = new RouteTable({ runtime, family: 'ipv6', maxGroups: 1 });
    try {
      t.insert('2001::/16', 1);
      const err = refusal(() =>
        t.update({
          insert: [
            ['2001:100::/24', 2],
            ['2002:100::/24', 3],
          ],
          delete: ['2001::/16'],
        }),
      );
      expect(err).toMatch(
        /^QT_CAPACITY_EXCEEDED RouteTable: all 1 groups are in use; change 2 of 3 was not applied; the 2 changes before it were undone, nothing was changed$/,
      );
      expect(t.size).toBe(1);
      expect([t.lookup('2001:100::1'), t.lookup('2002:100::1'), t.lookup('2001:ffff::1')]).toEqual([1, -1, 1]);
      expect(t.groupsUsed).toBe(0);
    } finally {
      t.dispose();
    }
  });
});
