import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { defaultRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { buildEthernet, ETHERTYPE_IPV4 } from '../../../src/dpu/net/ethernet.js';
import { buildIpv4, buildUdp } from '../../../src/dpu/net/ipv4.js';
import {
  NET_MIR_CAP_LEN,
  NET_MIR_FRAME,
  NET_MIR_FRAME_CAP,
  NET_MIR_ORIG_LEN,
  NET_MIR_TICK,
} from '../../../src/dpu/net/net-layout.js';
import { PcapMirror } from '../../../src/dpu/net/pcap-mirror.js';
import { readPcap } from '../../../src/dpu/net/pcap-format.js';
import { PcapWriter } from '../../../src/dpu/net/pcap-writer.js';
import { encodeVxlan } from '../../../src/dpu/net/vxlan-codec.js';
import { run, sayWhySkipped, toolMissing } from '../../helpers/real-tools.js';
import { arpRequest, ipFrame } from './helpers.js';

const noTshark = toolMissing('tshark', ['-v']);
sayWhySkipped('tshark checks', noTshark);
const dir = mkdtempSync(join(tmpdir(), 'qt-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rt = defaultRuntime();
const A = 0x020000000a0a;
const B = 0x020000000b0b;

/** tshark's own decoding: one line per packet, fields tab-separated. */
function tshark(file: string, fields: string[], extra: string[] = []): string[][] {
  const out = run('tshark', ['-r', file, '-T', 'fields', ...extra, ...fields.flatMap((f) => ['-e', f])]);
  return out
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
}

describe('pcap mirror', () => {
  it('writes what the fast path copies into its ring, in order, with tick timestamps', async () => {
    const path = join(dir, 'mirror.pcap');
    const m = await PcapMirror.open(rt.memory, {
      path,
      epochNs: 1_700_000_000_000_000_000n,
      name: 'p1',
      ringCapacity: 16,
      snaplen: 1500,
    });
    const ring = m.ring.spsc;
    const frames = [
      ipFrame({ srcMac: A, dstMac: B, src: '198.19.0.10', dst: '198.19.0.20', proto: 'icmp', id: 0x4242 }),
      ipFrame({
        srcMac: B,
        dstMac: A,
        src: '198.19.0.20',
        dst: '198.19.0.10',
        proto: 'udp',
        srcPort: 7,
        dstPort: 5001,
      }),
      arpRequest({ mac: A, ip: parseIPv4('198.19.0.10') }, '198.19.0.1', 10),
      new Uint8Array(3000).fill(0xee),
    ];
    frames.forEach((f, i) => {
      ring.push((w) => {
        const at = w * 4;
        const v = rt.memory.view;
        const cap = Math.min(f.length, NET_MIR_FRAME_CAP);
        v.setUint32(at + NET_MIR_TICK, 1000 + i, true);
        v.setUint32(at + NET_MIR_ORIG_LEN, f.length, true);
        v.setUint32(at + NET_MIR_CAP_LEN, cap, true);
        rt.memory.u8.set(f.subarray(0, cap), at + NET_MIR_FRAME);
      });
    });
    m.ring.ringBell();
    await m.whenWritten(4);
    await m.close();
    const file = readPcap(new Uint8Array(readFileSync(path)));
    expect(file.packets.map((p) => [p.origLen, p.data.length])).toEqual([
      [frames[0]!.length, frames[0]!.length],
      [frames[1]!.length, frames[1]!.length],
      [frames[2]!.length, frames[2]!.length],
      [3000, 1500],
    ]);
    expect(file.packets[1]!.timeNs).toBe(1_700_000_000_000_000_000n + 1001n * 1_000_000n);
    if (noTshark) return;
    const rows = tshark(path, [
      'frame.time_epoch',
      'eth.src',
      'vlan.id',
      'ip.src',
      'ip.dst',
      'icmp.type',
      'icmp.ident',
      'udp.dstport',
      'arp.dst.proto_ipv4',
      'frame.cap_len',
      'frame.len',
    ]);
    expect(rows.map((r) => r.slice(1))).toEqual([
      [
        '02:00:00:00:0a:0a',
        '',
        '198.19.0.10',
        '198.19.0.20',
        '8',
        '16962',
        '',
        '',
        String(frames[0]!.length),
        String(frames[0]!.length),
      ],
      [
        '02:00:00:00:0b:0b',
        '',
        '198.19.0.20',
        '198.19.0.10',
        '',
        '',
        '5001',
        '',
        String(frames[1]!.length),
        String(frames[1]!.length),
      ],
      [
        '02:00:00:00:0a:0a',
        '10',
        '',
        '',
        '',
        '',
        '',
        '198.19.0.1',
        String(frames[2]!.length),
        String(frames[2]!.length),
      ],
      ['ee:ee:ee:ee:ee:ee', '', '', '', '', '', '', '', '1500', '3000'],
    ]);
    expect(rows[0]![0]).toBe('1700000001.000000000');
  });
});

describe.skipIf(noTshark !== null)("tshark decodes qingtian's VXLAN", () => {
  it('VNI and the inner Ethernet, IPv4, ICMP and UDP fields, with valid checksums', async () => {
    const path = join(dir, 'vxlan.pcap');
    const w = await PcapWriter.open(path);
    const inner = [
      ipFrame({ srcMac: A, dstMac: B, src: '198.19.0.10', dst: '198.19.0.100', proto: 'icmp', id: 77 }),
      ipFrame({
        srcMac: A,
        dstMac: B,
        src: '198.19.0.10',
        dst: '198.19.0.100',
        proto: 'udp',
        srcPort: 4000,
        dstPort: 9999,
      }),
    ];
    const outerSrc = parseIPv4('198.18.0.1');
    const outerDst = parseIPv4('198.18.0.2');
    inner.forEach((f, i) => {
      const udp = buildUdp(outerSrc, outerDst, 50000 + i, 4789, encodeVxlan(0x123456, f));
      w.append(
        BigInt(i) * 1000n,
        buildEthernet(
          { dst: 0x020000000002, src: 0x020000000001, ethertype: ETHERTYPE_IPV4 },
          buildIpv4({ src: outerSrc, dst: outerDst, proto: 17 }, udp),
        ),
      );
    });
    await w.close();
    const rows = tshark(
      path,
      [
        'vxlan.vni',
        'eth.src',
        'ip.src',
        'ip.dst',
        'icmp.type',
        'icmp.ident',
        'icmp.checksum.status',
        'udp.dstport',
        'udp.checksum.status',
      ],
      ['-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-E', 'occurrence=a', '-E', 'aggregator=,'],
    );
    expect(rows).toEqual([
      [
        '1193046',
        '02:00:00:00:00:01,02:00:00:00:0a:0a',
        '198.18.0.1,198.19.0.10',
        '198.18.0.2,198.19.0.100',
        '8',
        '77',
        '1',
        '4789',
        '1',
      ],
      [
        '1193046',
        '02:00:00:00:00:01,02:00:00:00:0a:0a',
        '198.18.0.1,198.19.0.10',
        '198.18.0.2,198.19.0.100',
        '',
        '',
        '',
        '4789,9999',
        '1,1',
      ],
    ]);
  });
});
