import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketParser, flowKey, parseIPv6 } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { M_VERDICT } from '../../../src/generated/flow.js';
import { familyKernel, instantiate } from '../../helpers/kernels.js';
import { buildPacket, type PacketSpec } from '../../helpers/packets.js';

const runtime = new LoaderRuntime(new HostMemory({ sizeBytes: 16 << 20 }));
const parser = new PacketParser({ runtime });

describe('packet parser', () => {
  it('IPv4/TCP behind two VLAN tags', () => {
    const { frame } = buildPacket({
      vlans: [100, 200],
      ip: { v: 4, src: 0x0a000001, dst: 0xc0a80102 },
      l4: { proto: 6, srcPort: 1234, dstPort: 80, payload: 10 },
    });
    const p = parser.parse(frame);
    expect(p).toMatchObject({
      verdict: 'ok',
      ipVersion: 4,
      src: '10.0.0.1',
      dst: '192.168.1.2',
      srcPort: 1234,
      dstPort: 80,
      proto: 6,
      vlan: 100,
      ethertype: 0x0800,
      tcpFlags: 0x18,
      l3Offset: 22,
      l4Offset: 42,
      payloadOffset: 62,
    });
    expect(Array.from(p.key)).toEqual(
      Array.from(flowKey({ src: 0x0a000001, dst: 0xc0a80102, srcPort: 1234, dstPort: 80, proto: 6, vlan: 100 })),
    );
  });

  it('IPv6 skips hop-by-hop, routing, destination options and AH headers; non-first fragments have no ports', () => {
    const src = parseIPv6('2001:db8::1');
    const dst = parseIPv6('2001:db8::2');
    const a = parser.parse(
      buildPacket({
        ip: { v: 6, src, dst, ext: [0, 43, 60, 51], fragOffset: 0 },
        l4: { proto: 17, srcPort: 53, dstPort: 5353 },
      }).frame,
    );
    expect(a).toMatchObject({
      verdict: 'ok',
      ipVersion: 6,
      src: '2001:db8:0:0:0:0:0:1',
      srcPort: 53,
      dstPort: 5353,
      proto: 17,
      fragment: false,
    });
    const b = parser.parse(
      buildPacket({ ip: { v: 6, src, dst, ext: [0], fragOffset: 3 }, l4: { proto: 6, srcPort: 1, dstPort: 2 } }).frame,
    );
    expect(b).toMatchObject({ verdict: 'ok', proto: 6, fragment: true, srcPort: 0, dstPort: 0 });
  });

  it('ICMP and ICMPv6: type/code in the source port, echo identifier in the destination port', () => {
    const a = parser.parse(
      buildPacket({ ip: { v: 4, src: 1, dst: 2 }, l4: { proto: 1, icmp: { type: 8, code: 0, id: 0x1234 } } }).frame,
    );
    expect(a).toMatchObject({ verdict: 'ok', proto: 1, srcPort: 0x0800, dstPort: 0x1234 });
    const b = parser.parse(
      buildPacket({ ip: { v: 6, src: 1n, dst: 2n }, l4: { proto: 58, icmp: { type: 135, code: 0, id: 7 } } }).frame,
    );
    expect(b).toMatchObject({ verdict: 'ok', proto: 58, srcPort: 135 << 8, dstPort: 0 });
  });

  it('VXLAN: the key is the inner flow plus the VNI', () => {
    const { frame } = buildPacket({
      vxlan: 0xabcdef,
      vlans: [7],
      ip: { v: 4, src: 0x01020304, dst: 0x05060708 },
      l4: { proto: 17, srcPort: 9, dstPort: 10 },
    });
    const p = parser.parse(frame);
    expect(p).toMatchObject({
      verdict: 'ok',
      tunnelled: true,
      vni: 0xabcdef,
      src: '1.2.3.4',
      dst: '5.6.7.8',
      srcPort: 9,
      dstPort: 10,
      vlan: 7,
    });
    expect(Array.from(p.key)).toEqual(
      Array.from(
        flowKey({
          src: 0x01020304,
          dst: 0x05060708,
          srcPort: 9,
          dstPort: 10,
          proto: 17,
          vlan: 7,
          vni: 0xabcdef,
          tunnelled: true,
        }),
      ),
    );
  });

  it('non-IP frames are reported as such; runt frames as malformed', () => {
    const arp = Uint8Array.from([...new Array<number>(12).fill(1), 0x08, 0x06, ...new Array<number>(28).fill(0)]);
    expect(parser.parse(arp)).toMatchObject({ verdict: 'not-ip', ethertype: 0x0806 });
    expect(parser.parse(new Uint8Array(13))).toMatchObject({ verdict: 'malformed', reason: 'l2' });
    const bad = buildPacket({ ip: { v: 4, src: 1, dst: 2 }, l4: { proto: 6, srcPort: 1, dstPort: 2 } }).frame;
    bad[14] = 0x44; // IHL 4: below the minimum of 5
    expect(parser.parse(bad)).toMatchObject({ verdict: 'malformed', reason: 'ipv4' });
  });

  const spec: fc.Arbitrary<PacketSpec> = fc.record({
    vlans: fc.array(fc.integer({ min: 0, max: 4095 }), { maxLength: 2 }),
    ip: fc.oneof(
      fc.record({
        v: fc.constant(4 as const),
        src: fc.integer({ min: 0, max: 0xffffffff }),
        dst: fc.integer({ min: 0, max: 0xffffffff }),
        fragOffset: fc.constantFrom(0, 0, 0, 5),
      }),
      fc.record({
        v: fc.constant(6 as const),
        src: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        dst: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        ext: fc.array(fc.constantFrom(0, 43, 60, 51, 135), { maxLength: 4 }),
        fragOffset: fc.option(fc.constantFrom(0, 9), { nil: undefined }),
      }),
    ),
    l4: fc.oneof(
      fc.record({
        proto: fc.constantFrom(6, 17, 132),
        srcPort: fc.integer({ min: 0, max: 65535 }),
        dstPort: fc.integer({ min: 0, max: 65535 }).filter((p) => p !== 4789),
        payload: fc.integer({ min: 0, max: 40 }),
      }),
      fc.record({
        proto: fc.constantFrom(1, 58),
        icmp: fc.record({
          type: fc.constantFrom(0, 8, 3, 128, 129, 135),
          code: fc.integer({ min: 0, max: 3 }),
          id: fc.integer({ min: 0, max: 65535 }),
        }),
        payload: fc.integer({ min: 0, max: 8 }),
      }),
    ),
    vxlan: fc.option(fc.integer({ min: 0, max: 0xffffff }), { nil: undefined }),
  }) as fc.Arbitrary<PacketSpec>;

  it('property: generated packets parse to their fields; every truncation inside the IP packet is malformed', () => {
    fc.assert(
      fc.property(spec, (s) => {
        const { frame, expected } = buildPacket(s);
        const p = parser.parse(frame);
        expect(p.verdict).toBe('ok');
        expect({ srcPort: p.srcPort, dstPort: p.dstPort, proto: p.proto, fragment: p.fragment }).toEqual({
          srcPort: expected.srcPort,
          dstPort: expected.dstPort,
          proto: expected.proto,
          fragment: expected.fragment,
        });
        expect(p.tunnelled).toBe(s.vxlan !== undefined);
        const cuts = parser.parseBurst(Array.from({ length: frame.length }, (_, n) => frame.subarray(0, n)));
        cuts.forEach((c, n) => expect(c.verdict, `cut at ${n}`).toBe(n < expected.ipEnd ? 'malformed' : 'ok'));
      }),
      { seed: 0xbeef, numRuns: 300 },
    );
  });

  it('fuzz: random and truncated frames placed at the very end of memory never read past it and never throw', () => {
    // A private 2-page memory: the frame ends exactly at the end of memory, so any read past
    // its end would trap instead of reading neighbouring bytes.
    const mem = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
    const parse = instantiate(familyKernel('flow'), mem).exports['flow_parse'] as (
      d: number,
      n: number,
      o: number,
    ) => number;
    const u8 = new Uint8Array(mem.buffer);
    const dv = new DataView(mem.buffer);
    const END = 2 * 65536;
    const run = (frame: Uint8Array): number => {
      const at = END - frame.length;
      u8.fill(0, 65536, END);
      u8.set(frame, at);
      dv.setUint32(65536, at, true);
      dv.setUint32(65540, frame.length, true);
      expect(parse(65536, 1, 65536 + 64)).toBe(1);
      return u8[65536 + 64 + M_VERDICT]!;
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          spec.chain((s) => {
            const f = buildPacket(s).frame;
            return fc
              .tuple(
                fc.integer({ min: 0, max: f.length }),
                fc.integer({ min: 0, max: f.length - 1 }),
                fc.integer({ min: 0, max: 255 }),
              )
              .map(([cut, at, byte]) => {
                const g = f.slice(0, cut);
                if (at < g.length) g[at] = byte; // a corrupted byte anywhere
                return g;
              });
          }),
        ),
        (frame) => {
          expect([0, 1, 2]).toContain(run(frame));
        },
      ),
      { seed: 0xf422, numRuns: 3000 },
    );
  });
});
