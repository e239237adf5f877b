import { afterEach, describe, expect, it } from 'vitest';
import { formatIPv4, parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { defaultRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { buildEthernet, ETHERTYPE_IPV4, parseEthernet } from '../../../src/dpu/net/ethernet.js';
import { buildIcmpEcho, buildIpv4, buildUdp, parseIpv4 } from '../../../src/dpu/net/ipv4.js';
import { formatMac } from '../../../src/dpu/net/mac-address.js';
import { SlowPath } from '../../../src/dpu/net/slow-path.js';
import { TunnelIo } from '../../../src/dpu/net/tunnel-io.js';
import { TunnelSocket } from '../../../src/dpu/net/tunnel-socket.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { LinuxPeer } from '../../helpers/linux-peer.js';
import { netnsMissing, sayWhySkipped } from '../../helpers/real-tools.js';
import { StandInSwitch } from './stand-in-switch.js';

const why = netnsMissing();
sayWhySkipped('Linux network-namespace interop', why);
const rt = defaultRuntime();
const LINUX_MAC = '02:00:00:19:01:00';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

/** A guest stand-in that answers ICMP echo and UDP echo (port 7) from port `p`. */
function responder(sw: () => StandInSwitch, p: Port, seen: string[]): (frame: Uint8Array) => void {
  return (frame) => {
    const eth = parseEthernet(frame)!;
    const ip = parseIpv4(frame, eth.payloadOffset);
    if (!ip) return;
    const l4 = frame.subarray(eth.payloadOffset + ip.headerBytes, eth.payloadOffset + ip.totalBytes);
    let reply: Uint8Array | undefined;
    if (ip.proto === 1 && l4[0] === 8) {
      seen.push(`icmp from ${formatIPv4(ip.src)}`);
      const v = new DataView(l4.buffer, l4.byteOffset);
      reply = buildIpv4(
        { src: p.ip, dst: ip.src, proto: 1 },
        buildIcmpEcho(0, v.getUint16(4), v.getUint16(6), l4.subarray(8)),
      );
    } else if (ip.proto === 17) {
      const v = new DataView(l4.buffer, l4.byteOffset);
      seen.push(`udp ${new TextDecoder().decode(l4.subarray(8))}`);
      if (v.getUint16(2) === 7)
        reply = buildIpv4(
          { src: p.ip, dst: ip.src, proto: 17 },
          buildUdp(p.ip, ip.src, 7, v.getUint16(0), l4.subarray(8)),
        );
    }
    if (reply) sw().send(p.id, buildEthernet({ dst: eth.src, src: p.mac, ethertype: ETHERTYPE_IPV4 }, reply));
  };
}

describe.skipIf(why !== null)('Linux host in a network namespace, through the slow path and the tunnel socket', () => {
  it("Linux resolves, pings and exchanges UDP with an address behind qingtian's VXLAN tunnel", async () => {
    const peer = LinuxPeer.create();
    cleanup.push(() => peer.destroy());
    const tio = new TunnelIo(rt.memory, 'interop', 'test');
    cleanup.push(() => tio.free());
    const socket = await TunnelSocket.open(rt.memory, tio, peer.hostAddress, 0);
    cleanup.push(() => socket.close());
    const model = new VpcModel({ seed: 9 });
    cleanup.push(() => model.dispose());
    model.createVpc({ name: 'blue', cidr: '198.19.0.0/16', vni: 4242 });
    model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.0.0/24' });
    const a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.0.10' });
    const t = model.createTunnel({ name: 't', address: peer.hostAddress, port: socket.port });
    model.createRemoteHost({ name: 'linux', tunnel: 't', address: peer.peerAddress, port: socket.port });
    model.createRemotePort({ name: 'linux0', subnet: 'web', ip: '198.19.0.100', mac: LINUX_MAC, host: 'linux' });
    const slow = new SlowPath(model, { clock: () => Date.now() });
    cleanup.push(() => slow.groups.dispose());
    peer.addVxlan({ vni: 4242, dstPort: socket.port, overlay: '198.19.0.100/24', mac: LINUX_MAC });

    const seen: string[] = [];
    const ports = new Map<number, (f: Uint8Array) => void>();
    const sw = new StandInSwitch(rt, slow, { id: t.id, socket }, ports);
    ports.set(
      a.id,
      responder(() => sw, a, seen),
    );
    let pumping = true;
    const pump = (async () => {
      while (pumping) {
        if (sw.pump() === 0) await new Promise((r) => setTimeout(r, 1));
      }
    })();
    cleanup.push(async () => {
      pumping = false;
      await pump;
    });

    const ping = peer.spawn(['ping', '-c', '3', '-i', '0.2', '-W', '2', '198.19.0.10']);
    const p = await ping.done;
    expect(p.out).toMatch(/3 packets transmitted, 3 received/);
    // Linux learnt a's MAC from qingtian's ARP responder.
    expect(peer.exec(['ip', 'neigh', 'show', '198.19.0.10'])).toContain(formatMac(a.mac));
    expect(slow.stats().counters.arpReplies).toBeGreaterThanOrEqual(1);
    // ARP always goes up; of the IPv4 packets only the first of each direction does.
    expect(sw.upcalls.filter(([, type]) => type === 0x0800).map(([port]) => port)).toEqual([t.id, a.id]);

    // UDP both ways: Linux sends to a's echo port and reads the echo with its own stack.
    const script = `const s=require('dgram').createSocket('udp4');s.bind(5555,'198.19.0.100',()=>{s.send('hello',7,'198.19.0.10')});s.on('message',(m,r)=>{console.log('got',m.toString(),r.address,r.port);process.exit(0)});setTimeout(()=>process.exit(3),3000)`;
    const udp = await peer.spawn([process.execPath, '-e', script]).done;
    expect(udp.out.trim()).toBe('got hello 198.19.0.10 7');
    expect(seen).toContain('udp hello');

    // qingtian → Linux: the guest stand-in sends a datagram Linux receives.
    const listen = peer.spawn([
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(6000,'198.19.0.100',()=>console.log('ready'));s.on('message',(m,r)=>{console.log('got',m.toString(),r.address);process.exit(0)});setTimeout(()=>process.exit(3),3000)`,
    ]);
    await new Promise((r) => listen.child.stdout!.once('data', r));
    const frame = buildEthernet(
      { dst: parseInt(LINUX_MAC.replaceAll(':', ''), 16), src: a.mac, ethertype: ETHERTYPE_IPV4 },
      buildIpv4(
        { src: a.ip, dst: parseIPv4('198.19.0.100'), proto: 17 },
        buildUdp(a.ip, parseIPv4('198.19.0.100'), 4444, 6000, new TextEncoder().encode('from-guest')),
      ),
    );
    sw.send(a.id, frame);
    expect((await listen.done).out).toContain('got from-guest 198.19.0.10');
    expect(socket.stats().txErrors).toBe(0);
  });
});
