import { describe, expect, it } from 'vitest';
import { ARP_REQUEST, arpFrame, encodeArp, parseArp } from '../../../src/dpu/net/arp.js';
import {
  buildEthernet,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  parseEthernet,
  popVlan,
  pushVlan,
} from '../../../src/dpu/net/ethernet.js';
import { buildIcmpEcho, buildIpv4, buildUdp, internetChecksum, parseIpv4 } from '../../../src/dpu/net/ipv4.js';
import { formatMac, isMulticastMac, parseMac, randomLocalMac } from '../../../src/dpu/net/mac-address.js';
import { pcapFileHeader, readPcap, writePcapRecord } from '../../../src/dpu/net/pcap-format.js';
import { decodeVxlan, encodeVxlan } from '../../../src/dpu/net/vxlan-codec.js';
import { Prng } from '../../../src/common/prng.js';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';

describe('MAC addresses', () => {
  it('parses and formats both separators, refuses malformed text with the field named', () => {
    expect(formatMac(parseMac('02:AB:cd:00:11:ff'))).toBe('02:ab:cd:00:11:ff');
    expect(parseMac('02-00-00-00-00-01')).toBe(0x020000000001);
    expect(() => parseMac('02:00:00-00:00:01', 'port.mac')).toThrow(/port\.mac: expected a MAC address/);
    expect(() => parseMac('02:00:00:00:00')).toThrow(/QT_INVALID_ARGUMENT|expected/);
    expect(isMulticastMac(0xffffffffffff)).toBe(true);
    expect(isMulticastMac(0x010000000000)).toBe(true);
    expect(isMulticastMac(0x020000000000)).toBe(false);
  });

  it('generates locally administered unicast addresses, reproducibly', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    for (let i = 0; i < 1000; i++) {
      const m = randomLocalMac(a);
      expect(m).toBe(randomLocalMac(b));
      const first = Math.floor(m / 2 ** 40);
      expect(first & 1).toBe(0);
      expect(first & 2).toBe(2);
      expect(m).toBeLessThan(2 ** 48);
    }
  });
});

describe('Ethernet and VLAN tags', () => {
  it('reads MACs, tags and the payload offset; push and pop are inverses', () => {
    const f = buildEthernet(
      { dst: 0x0200000000bb, src: 0x0200000000aa, ethertype: ETHERTYPE_IPV4, vlan: 100 },
      new Uint8Array([1, 2, 3]),
    );
    const h = parseEthernet(f)!;
    expect(h).toEqual({
      dst: 0x0200000000bb,
      src: 0x0200000000aa,
      vlans: [100],
      ethertype: ETHERTYPE_IPV4,
      payloadOffset: 18,
    });
    const untagged = popVlan(f);
    expect(parseEthernet(untagged)!.vlans).toEqual([]);
    expect([...pushVlan(untagged, 100)]).toEqual([...f]);
    const qinq = pushVlan(f, 7);
    expect(parseEthernet(qinq)!.vlans).toEqual([7, 100]);
    expect(parseEthernet(pushVlan(qinq, 9))).toBeNull();
    expect(parseEthernet(f.subarray(0, 13))).toBeNull();
  });
});

describe('ARP', () => {
  it('round-trips a request and refuses other hardware types', () => {
    const p = {
      op: ARP_REQUEST,
      senderMac: 0x02000000000a,
      senderIp: parseIPv4('198.19.0.10'),
      targetMac: 0,
      targetIp: parseIPv4('198.19.0.1'),
    };
    const f = arpFrame(p, { dst: 0xffffffffffff, src: p.senderMac });
    const eth = parseEthernet(f)!;
    expect(eth.ethertype).toBe(ETHERTYPE_ARP);
    expect(parseArp(f, eth.payloadOffset)).toEqual(p);
    const bad = encodeArp(p);
    bad[1] = 6;
    expect(parseArp(bad, 0)).toBeNull();
    expect(parseArp(f.subarray(0, 30), 14)).toBeNull();
  });
});

describe('IPv4, ICMP, UDP', () => {
  it('computes the RFC 1071 checksum (the example of RFC 1071 §3)', () => {
    // 0001 f203 f4f5 f6f7 sums to ddf2; the checksum is its complement.
    expect(internetChecksum(new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(~0xddf2 & 0xffff);
  });

  it('builds packets whose checksums verify to zero and whose header reads back', () => {
    const src = parseIPv4('198.19.0.10');
    const dst = parseIPv4('198.19.0.20');
    const icmp = buildIcmpEcho(8, 0x1234, 1, new Uint8Array(56).fill(0x61));
    expect(internetChecksum(icmp)).toBe(0);
    const ip = buildIpv4({ src, dst, proto: 1 }, icmp);
    expect(internetChecksum(ip.subarray(0, 20))).toBe(0);
    expect(parseIpv4(ip, 0)).toMatchObject({
      src,
      dst,
      proto: 1,
      ttl: 64,
      headerBytes: 20,
      totalBytes: 84,
      fragment: false,
    });
    const udp = buildUdp(src, dst, 5000, 7, new Uint8Array([1, 2, 3]));
    const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 17 + udp.length;
    expect(internetChecksum(udp, pseudo)).toBe(0);
    expect(parseIpv4(ip.subarray(0, 30), 0)).toBeNull();
  });
});

describe('VXLAN header (RFC 7348 §5)', () => {
  it('encodes flags 0x08 and the 24-bit VNI, and decodes only valid headers', () => {
    const inner = buildEthernet({ dst: 1, src: 2, ethertype: ETHERTYPE_IPV4 }, new Uint8Array(20));
    const p = encodeVxlan(0xabcdef, inner);
    expect([...p.subarray(0, 8)]).toEqual([0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
    const d = decodeVxlan(p);
    expect(d).toMatchObject({ vni: 0xabcdef });
    expect([...('inner' in d ? d.inner : [])]).toEqual([...inner]);
    const noI = p.slice();
    noI[0] = 0;
    expect(decodeVxlan(noI)).toEqual({ error: 'no-vni-flag' });
    expect(decodeVxlan(p.subarray(0, 21))).toEqual({ error: 'short' });
    // Reserved bits are ignored on receipt.
    const reserved = p.slice();
    reserved[1] = 0xff;
    reserved[7] = 0xff;
    expect(decodeVxlan(reserved)).toMatchObject({ vni: 0xabcdef });
  });
});

describe('pcap files', () => {
  it('writes the classic header and records that read back, cut at the snap length', () => {
    const frames = [new Uint8Array(60).fill(1), new Uint8Array(200).fill(2)];
    const out = new Uint8Array(1024);
    out.set(pcapFileHeader(128), 0);
    let at = 24;
    at += writePcapRecord(out, at, 1_700_000_000_123_456_789n, frames[0]!, 128);
    at += writePcapRecord(out, at, 1_700_000_001_000_000_000n, frames[1]!, 128);
    const file = out.subarray(0, at);
    const hdr = new DataView(file.buffer, 0, 24);
    expect(hdr.getUint32(0, true)).toBe(0xa1b2c3d4);
    expect([hdr.getUint16(4, true), hdr.getUint16(6, true)]).toEqual([2, 4]);
    const r = readPcap(file);
    expect(r.snaplen).toBe(128);
    expect(r.linktype).toBe(1);
    expect(r.packets.map((p) => [p.origLen, p.data.length])).toEqual([
      [60, 60],
      [200, 128],
    ]);
    expect(r.packets[0]!.timeNs).toBe(1_700_000_000_123_456_000n);
    expect(readPcap(file.subarray(0, at - 1)).packets).toHaveLength(1);
  });
});
