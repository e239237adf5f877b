/**
 * A VM whose own vCPU drives its NIC (`guest.program: 'drivers'`) against a real Linux host: a
 * network namespace joined by a veth pair and a VXLAN link this test creates and removes
 * (198.18.0.0/15 only). Linux pings the VM and gets UDP echoed; the VM pings Linux. Nothing on
 * the test's thread drives a ring: the VM is asked over vsock, through its guest agent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host } from '../../../src/orchestrator/host.js';
import { LinuxPeer } from '../../helpers/linux-peer.js';
import { netnsMissing, sayWhySkipped } from '../../helpers/real-tools.js';

const why = netnsMissing();
sayWhySkipped("a VM's own vCPU against a Linux host in a network namespace", why);

const VNI = 4343;
const LINUX_MAC = '02:00:00:19:02:00';
const LINUX_IP = '198.19.2.100';
let host: Host;
let peer: LinuxPeer | undefined;

beforeAll(async () => {
  host = await Host.boot({
    memory: { sizeBytes: 512 << 20 },
    dpu: { cores: 1, mode: 'adaptive', idleSpinPolls: 256 },
    vms: { poolMiB: 64 },
  });
});
afterAll(async () => {
  peer?.destroy();
  await host?.shutdown();
});

describe.skipIf(why !== null)("a VM's own vCPU and a Linux host, over VXLAN", () => {
  it('Linux pings the VM and gets UDP echoed; the VM pings Linux', async () => {
    peer = LinuxPeer.create();
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16', vni: VNI });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.2.0/24' });
    net.createSecurityGroup({
      name: 'open',
      rules: [
        { direction: 'ingress', protocol: 'any' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    const port = net.createPort({ name: 'vm0', subnet: 'web', ip: '198.19.2.10', securityGroups: ['open'] });
    const t = await net.createTunnel({ name: 't', address: peer.hostAddress, port: 0 });
    net.createRemoteHost({ name: 'linux', tunnel: 't', address: peer.peerAddress, port: t.port });
    net.createRemotePort({ name: 'linux0', subnet: 'web', ip: LINUX_IP, mac: LINUX_MAC, host: 'linux' });
    peer.addVxlan({ vni: VNI, dstPort: t.port, overlay: `${LINUX_IP}/24`, mac: LINUX_MAC });
    const vm = await host.vms.create({
      name: 'own-1',
      vcpus: 1,
      memoryMiB: 8,
      devices: [
        { kind: 'vsock', cid: 80 },
        { kind: 'net', port: 'vm0' },
      ],
      guest: { program: 'drivers' },
    });
    await vm.start();

    // Linux → the VM: ping and UDP echo, answered by the VM's own vCPU 0.
    const ping = await peer.spawn(['ping', '-c', '3', '-i', '0.2', '-W', '2', port.ip]).done;
    expect(ping.out).toMatch(/3 packets transmitted, 3 received/);
    const udp = await peer.spawn([
      process.execPath,
      '-e',
      `const s=require('dgram').createSocket('udp4');s.bind(5555,'${LINUX_IP}',()=>s.send('hello',7,'${port.ip}'));s.on('message',(m,r)=>{console.log(m.toString(),r.address,r.port);process.exit(0)});setTimeout(()=>process.exit(3),4000)`,
    ]).done;
    expect(udp.out.trim()).toBe(`hello ${port.ip} 7`);
    const served = await vm.guestNet();
    expect(served.echoRequests).toBeGreaterThanOrEqual(3);
    expect(served.udpEchoed).toBe(1);

    // The VM → Linux: its vCPU resolves Linux (the switch's ARP responder answers) and pings it.
    await vm.guestPing(LINUX_IP, 3);
    let c = await vm.guestNet();
    for (let i = 0; i < 500 && c.pingReplies < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      c = await vm.guestNet();
    }
    expect(c).toMatchObject({ pingsSent: 3, pingReplies: 3 });
    await vm.destroy();
  }, 60_000);
});
