import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { ETHERTYPE_ARP, buildEthernet, ETHERTYPE_IPV4, parseEthernet } from '../../../src/dpu/net/ethernet.js';
import { parseArp } from '../../../src/dpu/net/arp.js';
import { buildIcmpEcho, buildIpv4, buildUdp, parseIpv4 } from '../../../src/dpu/net/ipv4.js';
import { formatMac, parseMac } from '../../../src/dpu/net/mac-address.js';
import { readPcap } from '../../../src/dpu/net/pcap-format.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { Host } from '../../../src/orchestrator/host.js';
import { LinuxPeer } from '../../helpers/linux-peer.js';
import { netnsMissing, run, sayWhySkipped, toolMissing } from '../../helpers/real-tools.js';
import { GuestNic } from './guest-nic.js';
import { arpRequest } from './helpers.js';

const why = netnsMissing();
sayWhySkipped('Linux network-namespace interop through host.network', why);
const noTshark = toolMissing('tshark', ['-v']);
sayWhySkipped('tshark decoding of qingtian VXLAN traffic', noTshark);

const VNI = 4242;
const LINUX_MAC = '02:00:00:19:01:00';
const LINUX_IP = '198.19.0.100';
let host: Host;
let peer: LinuxPeer | undefined;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'qt-linux-'));
  host = await Host.boot({ memory: { sizeBytes: 512 << 20 }, dpu: { cores: 1 } });
});
afterAll(async () => {
  peer?.destroy();
  await host?.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The guest: answers ICMP echo and UDP echo (port 7), records what else arrives. Its own pings
 * and datagrams go out through `nic.send`.
 */
function serve(nic: GuestNic, me: { ip: number; mac: number }, seen: Uint8Array[]): () => void {
  let on = true;
  const loop = async (): Promise<void> => {
    while (on) {
      for (const f of nic.recv()) {
        const eth = parseEthernet(f)!;
        const ip = eth.ethertype === ETHERTYPE_IPV4 ? parseIpv4(f, eth.payloadOffset) : null;
        if (!ip) {
          seen.push(f);
          continue;
        }
        const l4 = f.subarray(eth.payloadOffset + ip.headerBytes, eth.payloadOffset + ip.totalBytes);
        const v = new DataView(l4.buffer, l4.byteOffset, l4.length);
        let reply: Uint8Array | undefined;
        if (ip.proto === 1 && l4[0] === 8)
          reply = buildIpv4(
            { src: me.ip, dst: ip.src, proto: 1 },
            buildIcmpEcho(0, v.getUint16(4), v.getUint16(6), l4.subarray(8)),
          );
        else if (ip.proto === 17 && v.getUint16(2) === 7)
          reply = buildIpv4(
            { src: me.ip, dst: ip.src, proto: 17 },
            buildUdp(me.ip, ip.src, 7, v.getUint16(0), l4.subarray(8)),
          );
        if (reply) nic.send(buildEthernet({ dst: eth.src, src: me.mac, ethertype: ETHERTYPE_IPV4 }, reply));
        else seen.push(f);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  };
  void loop();
  return () => (on = false);
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe.skipIf(why !== null)('a Linux host in a network namespace, over VXLAN, with the vSwitch on a DPU core', () => {
  it("pings and exchanges UDP both ways with a guest; tshark decodes qingtian's VXLAN", async () => {
    peer = LinuxPeer.create();
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16', vni: VNI });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.0.0/24' });
    const a = net.createPort({ name: 'a', subnet: 'web', ip: '198.19.0.10' });
    const t = await net.createTunnel({ name: 't', address: peer.hostAddress, port: 0 });
    net.createRemoteHost({ name: 'linux', tunnel: 't', address: peer.peerAddress, port: t.port });
    net.createRemotePort({ name: 'linux0', subnet: 'web', ip: LINUX_IP, mac: LINUX_MAC, host: 'linux' });
    const g = new Guest(host.memory, { name: 'ga', ramBytes: 4 << 20 });
    const nic = new GuestNic(g, await net.attachPort('a', g), host.memory);
    nic.postRx(128);
    const me = { ip: parseIPv4(a.ip), mac: parseMac(a.mac) };
    const seen: Uint8Array[] = [];
    const stop = serve(nic, me, seen);

    // tshark captures qingtian's side of the underlay while the exchange runs.
    const pcap = join(dir, 'underlay.pcap');
    let capture: ReturnType<typeof spawn> | undefined;
    if (!noTshark) {
      capture = spawn('tshark', ['-i', peer.vethHost, '-f', `udp port ${t.port}`, '-F', 'pcap', '-w', pcap], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('tshark did not start capturing')), 20_000);
        capture!.stderr!.on('data', (d: Buffer) => {
          if (d.toString().includes('Capturing on')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
    }
    peer.addVxlan({ vni: VNI, dstPort: t.port, overlay: `${LINUX_IP}/24`, mac: LINUX_MAC });

    // Linux → guest.
    const ping = await peer.spawn(['ping', '-c', '3', '-i', '0.2', '-W', '2', a.ip]).done;
    expect(ping.out).toMatch(/3 packets transmitted, 3 received/);
    expect(peer.exec(['ip', 'neigh', 'show', a.ip])).toContain(a.mac);
    const udp = await peer.spawn([
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(5555,'${LINUX_IP}',()=>s.send('hello',7,'${a.ip}'));s.on('message',(m,r)=>{console.log(m.toString(),r.address,r.port);process.exit(0)});setTimeout(()=>process.exit(3),4000)`,
    ]).done;
    expect(udp.out.trim()).toBe(`hello ${a.ip} 7`);

    // Guest → Linux: resolve it (the ARP responder answers for the remote port), ping it, send it UDP.
    nic.send(arpRequest(me, LINUX_IP));
    await until(() => seen.some((f) => parseEthernet(f)?.ethertype === ETHERTYPE_ARP));
    const arp = parseArp(
      seen.find((f) => parseEthernet(f)?.ethertype === ETHERTYPE_ARP)!,
      14,
    )!;
    expect(formatMac(arp.senderMac)).toBe(LINUX_MAC);
    const linux = parseIPv4(LINUX_IP);
    const toLinux = (proto: number, l4: Uint8Array): Uint8Array =>
      buildEthernet(
        { dst: arp.senderMac, src: me.mac, ethertype: ETHERTYPE_IPV4 },
        buildIpv4({ src: me.ip, dst: linux, proto }, l4),
      );
    for (let seq = 1; seq <= 3; seq++) nic.send(toLinux(1, buildIcmpEcho(8, 0x51, seq, new Uint8Array(56).fill(seq))));
    await until(() => seen.filter((f) => f[14 + 9] === 1 && f[34] === 0).length === 3);
    const listen = peer.spawn([
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(6000,'${LINUX_IP}',()=>console.log('ready'));s.on('message',(m,r)=>{console.log('got',m.toString(),r.address,r.port);process.exit(0)});setTimeout(()=>process.exit(3),4000)`,
    ]);
    await new Promise((r) => listen.child.stdout!.once('data', r));
    nic.send(toLinux(17, buildUdp(me.ip, linux, 4444, 6000, new TextEncoder().encode('from-guest'))));
    expect((await listen.done).out).toContain(`got from-guest ${a.ip} 4444`);
    stop();

    const st = net.stats()!;
    expect(st.tunnels['t']!.txErrors).toBe(0);
    expect(st.switch.tunnelIn).toBeGreaterThanOrEqual(6);
    expect(st.switch.tunnelOut).toBeGreaterThanOrEqual(6);
    if (!capture) return;
    // Stop once the last datagram is in the file (the capture writes each packet as it comes).
    const marker = Buffer.from('from-guest');
    await until(() => {
      try {
        return readPcap(new Uint8Array(readFileSync(pcap))).packets.some((p) => Buffer.from(p.data).includes(marker));
      } catch {
        return false;
      }
    }, 10_000);
    capture.kill('SIGINT');
    await new Promise((r) => capture.once('exit', r));
    // Every field with all its occurrences, outer first: [outer, inner].
    const fields = ['ip.src', 'vxlan.vni', 'eth.src', 'ip.dst', 'icmp.type', 'udp.dstport', 'ip.checksum.status'];
    const rows = run('tshark', [
      '-r',
      pcap,
      '-d',
      `udp.port==${t.port},vxlan`,
      '-o',
      'ip.check_checksum:TRUE',
      '-T',
      'fields',
      '-E',
      'occurrence=a',
      '-E',
      'aggregator=,',
      ...fields.flatMap((f) => ['-e', f]),
    ])
      .trim()
      .split('\n')
      .map(
        (l) => Object.fromEntries(l.split('\t').map((v, k) => [fields[k]!, v.split(',')])) as Record<string, string[]>,
      );
    // qingtian's datagrams (outer source: this end of the veth): each a VXLAN frame of VNI 4242.
    const ours = rows.filter((r) => r['ip.src']![0] === peer!.hostAddress);
    expect(ours.length).toBeGreaterThanOrEqual(8);
    for (const r of ours) expect(r['vxlan.vni']).toEqual([String(VNI)]);
    // Inner IPv4 frames to Linux come from a's MAC and address, with valid header checksums.
    const inner = ours.filter((r) => r['ip.dst']![1] === LINUX_IP);
    for (const r of inner) {
      expect([r['eth.src']![1], r['ip.src']![1], r['ip.checksum.status']]).toEqual([a.mac, a.ip, ['1', '1']]);
    }
    expect(inner.filter((r) => r['icmp.type']![0] === '0')).toHaveLength(3); // replies to Linux's pings
    expect(inner.filter((r) => r['icmp.type']![0] === '8')).toHaveLength(3); // the guest's own pings
    expect(
      inner
        .map((r) => r['udp.dstport']![1])
        .filter((p) => p === '5555' || p === '6000')
        .sort(),
    ).toEqual(['5555', '6000']);
  });
});
