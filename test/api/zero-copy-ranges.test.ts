import { describe, expect, it } from 'vitest';
import {
  Classifier,
  crc16t10dif,
  crc16t10difAt,
  flowKey,
  FlowTable,
  PacketParser,
  ReedSolomon,
  RouteTable,
  T10Dif,
} from '../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../src/internals.js';

const mem = new HostMemory({ sizeBytes: 64 << 20 });
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

describe('zero-copy *At forms take only ranges inside the caller’s buffer regions', () => {
  it('refuses another object’s state, the reserved low 64 KiB and ranges past a buffer; writes nothing', () => {
    const table = new FlowTable({ runtime, capacity: 64 });
    const rs = new ReedSolomon({ dataShards: 2, parityShards: 1, runtime });
    const dif = new T10Dif({ blockSize: 512, type: 1, runtime });
    const buf = mem.alloc({ name: 'test:buf', owner: 'test', kind: 'core-scratch', sizeBytes: 8192 });
    try {
      const key = flowKey({ src: 1, dst: 2, srcPort: 3, dstPort: 4, proto: 6 });
      table.insert(key, 7);
      const header = mem.u8.slice(table.state.base, table.state.base + 4096);
      const data = [buf.base, buf.base + 256];
      expect(refusal(() => rs.encodeAt(data, [table.state.base], 256))).toBe(
        `QT_INVALID_ARGUMENT encodeAt: parity[0]: expected a range inside one region of kind core-scratch or guest-ram, got 0x${table.state.base.toString(16)} in region 'flow:flow-table' (device-state, owner flow-table)`,
      );
      expect(refusal(() => dif.generateAt(table.state.base, 1))).toMatch(
        /^QT_INVALID_ARGUMENT T10Dif\.generateAt: buf: expected a range inside one region .* in region 'flow:flow-table'/,
      );
      expect(refusal(() => rs.encodeAt([4096, buf.base], [buf.base + 512], 256))).toMatch(
        /^QT_INVALID_ARGUMENT encodeAt: data\[0\]: .*got 0x1000, which lies in no allocated region \(the low 64 KiB are reserved\)$/,
      );
      expect(refusal(() => crc16t10difAt(1024, 16, 0, { runtime }))).toMatch(
        /^QT_INVALID_ARGUMENT crc16t10difAt: address: /,
      );
      expect(refusal(() => crc16t10difAt(buf.base + 8000, 1000, 0, { runtime }))).toMatch(
        /crc16t10difAt: address: .*got 1000 bytes at 0x[0-9a-f]+, past the end of region 'test:buf'/,
      );
      expect(refusal(() => table.lookupAt(buf.base, 1, table.state.base))).toMatch(
        /^QT_INVALID_ARGUMENT FlowTable\.lookupAt: outAddr: .* in region 'flow:flow-table'/,
      );
      // Nothing was written: the table's header and entries are as they were, and it still answers.
      expect(mem.u8.slice(table.state.base, table.state.base + 4096)).toEqual(header);
      expect(table.lookup(key)).toBe(7);
      table.verify();
      // The caller's own buffer works.
      mem.u8.set(key, buf.base);
      expect(table.lookupAt(buf.base, 1, buf.base + 4096)).toBe(1);
      expect(mem.view.getInt32(buf.base + 4096, true)).toBe(7);
      mem.u8.fill(5, buf.base, buf.base + 64);
      expect(crc16t10difAt(buf.base, 64, 0, { runtime })).toBe(crc16t10dif(new Uint8Array(64).fill(5)));
    } finally {
      table.dispose();
      rs.dispose();
      mem.free(buf, 'test');
    }
  });

  it('classifier, route table and parser too', () => {
    const c = new Classifier({ runtime, capacity: 8 });
    const r = new RouteTable({ runtime, family: 'ipv6', maxGroups: 4 });
    const p = new PacketParser({ runtime });
    const buf = mem.alloc({ name: 'test:buf2', owner: 'test', kind: 'guest-ram', sizeBytes: 8192 });
    try {
      expect(refusal(() => c.classifyAt(buf.base, 1, c.state.base))).toMatch(
        /Classifier\.classifyAt: outAddr: .*device-state/,
      );
      expect(refusal(() => r.lookupAt(r.state.base, 1, buf.base))).toMatch(
        /RouteTable\.lookupAt: addrsAddr: .*device-state/,
      );
      expect(refusal(() => p.parseAt(buf.base, 1, 0))).toMatch(
        /PacketParser\.parseAt: outAddr: .*lies in no allocated region/,
      );
      expect(refusal(() => c.classifyAt(buf.base, -1, buf.base))).toMatch(
        /count: expected an integer in \[0, 16777216\], got -1/,
      );
      expect(c.classifyAt(buf.base, 1, buf.base + 4096)).toBe(1);
    } finally {
      c.dispose();
      r.dispose();
      p.dispose();
      mem.free(buf, 'test');
    }
  });
});
