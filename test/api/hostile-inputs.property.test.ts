import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CcFlowTable,
  Classifier,
  crc16t10difAt,
  flowKey,
  FlowTable,
  PacketParser,
  ReedSolomon,
  RouteTable,
  T10Dif,
} from '../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../src/internals.js';

/**
 * The public API under random and hostile input (docs/design.md, "Conventions", rules for the
 * API boundary): every call either succeeds or throws a QingtianError, and a refused call leaves
 * the allocator's accounting and the object's state exactly as they were.
 */
const mem = new HostMemory({ sizeBytes: 96 << 20 });
const runtime = new LoaderRuntime(mem);
const buf = mem.alloc({ name: 'prop:buf', owner: 'prop', kind: 'core-scratch', sizeBytes: 64 << 10 });
const table = new FlowTable({ runtime, capacity: 256 });
const cls = new Classifier({ runtime, capacity: 64 });
const routes = new RouteTable({ runtime, family: 'ipv6', maxGroups: 8 });
const rs = new ReedSolomon({ dataShards: 2, parityShards: 1, runtime });
const cc = new CcFlowTable({ law: 'ldcp', flows: 4, runtime });
new T10Dif({ blockSize: 512, type: 1, runtime }); // loads the DIF kernel up front
afterAll(() => {
  for (const o of [table, cls, routes, rs, cc]) o.dispose();
});

const accounting = (): unknown => {
  const s = mem.stats();
  return {
    used: s.usedBytes,
    regions: s.regionCount,
    byOwner: s.byOwner,
    bytes: mem.u8.slice(buf.base, buf.base + 4096),
  };
};

/** Numbers and values that break careless checks. */
const hostile = fc.oneof(
  fc.constantFrom(
    0,
    -1,
    1.5,
    NaN,
    Infinity,
    -Infinity,
    2 ** 32,
    2 ** 53,
    -0,
    '',
    '1',
    'toString',
    '__proto__',
    null,
    undefined,
    true,
    [],
    {},
    5n,
  ),
  fc.integer({ min: -10, max: 1 << 20 }),
  fc.anything(),
);
/** Objects with real keys (hostile values), unknown keys and prototype names. */
const options = (keys: string[]): fc.Arbitrary<unknown> =>
  fc.oneof(
    fc.anything(),
    fc.dictionary(fc.constantFrom(...keys, 'toString', 'constructor', '__proto__', 'capcity', 'x'), hostile, {
      maxKeys: 4,
    }),
  );
/** Addresses: inside the buffer, in the reserved low 64 KiB, in another object's state, outside memory. */
const address = fc.oneof(
  fc.constantFrom(0, 4096, table.state.base, cls.state.base, mem.sizeBytes - 8, buf.base + buf.sizeBytes - 8),
  fc.integer({ min: buf.base, max: buf.base + 8192 }),
  hostile,
);

/** Runs `call`: success, or a QingtianError with `state()` unchanged. */
function checked(call: () => unknown, state: () => unknown): void {
  const before = { a: accounting(), s: state() };
  try {
    call();
  } catch (e) {
    expect((e as Error).name, `${String(e)}\n${(e as Error).stack}`).toBe('QingtianError');
    expect({ a: accounting(), s: state() }).toEqual(before);
  }
}

/**
 * Constructs with hostile options (given our runtime when they are an object); frees what it made.
 * A refusal leaves the accounting as it was (the kernels are loaded up front, so a success may
 * not: a kernel flavour loaded on first use stays with the runtime).
 */
function constructs(make: (o: unknown) => { dispose(): void }, o: unknown): void {
  const opt = typeof o === 'object' && o !== null && !Array.isArray(o) ? { ...o, runtime } : o;
  const before = accounting();
  let made: { dispose(): void } | undefined;
  try {
    made = make(opt);
  } catch (e) {
    expect((e as Error).name, `${String(e)}\n${(e as Error).stack}`).toBe('QingtianError');
    expect(accounting()).toEqual(before);
  }
  made?.dispose();
}

const RUNS = { numRuns: 100, seed: 0x15 };

describe('hostile input: success or a QingtianError, and a refusal changes nothing', () => {
  it('constructors', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(
          (o: unknown) => new FlowTable(o as never),
          (o: unknown) => new Classifier(o as never),
          (o: unknown) => new RouteTable(o as never),
          (o: unknown) => new PacketParser(o as never),
          (o: unknown) => new ReedSolomon(o as never),
          (o: unknown) => new CcFlowTable(o as never),
          (o: unknown) => ({ dispose: () => undefined, t: new T10Dif(o as never) }),
        ),
        options([
          'capacity',
          'seed',
          'family',
          'maxGroups',
          'dataShards',
          'parityShards',
          'law',
          'flows',
          'blockSize',
          'type',
          'params',
          'simd',
        ]),
        (make, o) => constructs(make, o),
      ),
      RUNS,
    );
  });

  it('classifier rules', () => {
    const state = (): unknown => ({ size: cls.size, ids: cls.ruleIds() });
    fc.assert(
      fc.property(options(['any', 'src', 'dst', 'srcPorts', 'dstPorts', 'proto', 'priority']), (rule) => {
        let id: number | undefined;
        checked(() => (id = cls.insert(rule as never)), state);
        if (id !== undefined) cls.remove(id);
      }),
      RUNS,
    );
  });

  it('flow-table bursts and keys', () => {
    const state = (): unknown => ({ size: table.size, evictions: table.evictions });
    const k = flowKey({ src: 1, dst: 2, srcPort: 3, dstPort: 4, proto: 6 });
    fc.assert(
      fc.property(fc.array(hostile, { maxLength: 4 }), hostile, (values, key) => {
        const keys = new Uint8Array(values.length * 48);
        for (let i = 0; i < values.length; i++) keys.set(k, i * 48);
        checked(() => table.insertBurst(keys, values as never), state);
        checked(() => table.lookup(key as never), state);
        checked(() => table.lookupBurst(keys, key as never), state);
        table.delete(k);
      }),
      RUNS,
    );
  });

  it('route updates', () => {
    const probe = ['2001:db8::1', '2001:db9::1', '::1'];
    const state = (): unknown => ({ size: routes.size, hops: probe.map((a) => routes.lookup(a)) });
    const prefix = fc.oneof(
      fc.constantFrom('2001:db8::/32', '2001:db9:1::/48', '::/0', '2001:db8::/129', 'x'),
      hostile,
    );
    fc.assert(
      fc.property(
        fc.oneof(
          hostile,
          fc.record({
            insert: fc.array(fc.tuple(prefix, hostile), { maxLength: 3 }),
            delete: fc.array(prefix, { maxLength: 2 }),
          }),
          options(['insert', 'delete']),
        ),
        (changes) => {
          checked(() => routes.update(changes as never), state);
          routes.update({ delete: ['2001:db8::/32', '2001:db9:1::/48', '::/0'] });
        },
      ),
      RUNS,
    );
  });

  it('zero-copy addresses', () => {
    const state = (): unknown => [mem.u8.slice(table.state.base, table.state.base + 256), table.size];
    fc.assert(
      fc.property(fc.array(address, { minLength: 1, maxLength: 3 }), address, hostile, (data, out, len) => {
        checked(() => rs.encodeAt(data as never, [out] as never, len as never), state);
        checked(() => crc16t10difAt(out as never, len as never, 0, { runtime }), state);
        checked(() => table.lookupAt(data[0] as never, 1, out as never), state);
        checked(() => cls.classifyAt(data[0] as never, len as never, out as never), state);
      }),
      RUNS,
    );
  });

  it('congestion-control event bursts', () => {
    const state = (): unknown => [0, 1, 2, 3].map((f) => [cc.windowBytes(f), cc.rateBps(f)]);
    const event = fc.oneof(
      options(['flow', 'kind', 'nowPs', 'ece', 'acked', 'rttPs', 'hops']),
      fc.record({ flow: fc.integer({ min: 0, max: 3 }), kind: fc.constant('ack'), nowPs: hostile, acked: hostile }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 4 }), (events) => {
        checked(() => cc.process(events as never), state);
      }),
      RUNS,
    );
  });
});
