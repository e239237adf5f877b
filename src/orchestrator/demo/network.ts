import { parseIPv4 } from '../../dpu/flow/ip-address.js';
import { buildEthernet, ETHERTYPE_IPV4, parseEthernet } from '../../dpu/net/ethernet.js';
import { buildIcmpEcho, buildIpv4, buildUdp } from '../../dpu/net/ipv4.js';
import { parseMac } from '../../dpu/net/mac-address.js';
import { NET_F_CTRL_RX, NET_F_CTRL_VQ, NET_F_MAC } from '../../dpu/net/net-layout.js';
import { FEAT_VERSION_1 } from '../../generated/virtio.js';
import type { HostNetwork } from '../../dpu/net/host-network.js';
import type { HostMemory } from '../../memory/host-memory.js';
import { GuestVcpu } from '../../hypervisor/guest/vcpu.js';
import { GuestNet } from '../../hypervisor/guest/virtio/net-guest.js';
import { createDriver } from '../../hypervisor/guest/virtio/index.js';
import type { VmManager } from '../vms/vm-manager.js';
import type { Vm } from '../vms/vm.js';
import type { VmNetHandle } from '../vms/vm-device.js';
import type { DemoChapter } from './demo-context.js';
import { sleep } from './demo-context.js';

/**
 * Chapter "network": two VMs booted through `host.vms`, each with a NIC that is a port of a VPC
 * (their network stacks in Wasm on guest-side vCPU workers, rings and buffers in the VMs' RAM),
 * the vSwitch on a DPU core between them and the routing-table slow path behind it: ping, a UDP
 * stream, a security group dropping a port, a container on a trunk sub-port of a third VM routed
 * to the second, and what a flow's first packet costs compared with the packets after it.
 */
export const network: DemoChapter = {
  title: 'network: VMs with NICs on a VPC, the vSwitch on a DPU core, the routing-table slow path behind it',
  async run({ host, seconds, say, record }) {
    const net = host.network;
    net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
    net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
    net.createSubnet({ name: 'containers', vpc: 'blue', cidr: '198.19.10.0/24' });
    net.createSecurityGroup({
      name: 'echo-only',
      rules: [
        { direction: 'ingress', protocol: 'icmp' },
        { direction: 'ingress', protocol: 'udp', ports: [7, 7] },
        { direction: 'ingress', protocol: 'udp', ports: [9000, 9000], remote: '198.19.1.0/24' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    net.createPort({ name: 'vm1', subnet: 'web', ip: '198.19.1.10' });
    net.createPort({ name: 'vm2', subnet: 'web', ip: '198.19.1.20', securityGroups: ['echo-only'] });
    const vcpus: GuestVcpu[] = [];
    const stacks: GuestNet[] = [];
    const vms: Vm[] = [];
    const stop = host.memory.alloc({ name: 'demo:net-stop', owner: 'demo', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      for (const name of ['vm1', 'vm2']) {
        const vm = await host.vms.create({ name, vcpus: 1, memoryMiB: 8, devices: [{ kind: 'net', port: name }] });
        vms.push(vm);
        await vm.start();
        const vcpu = new GuestVcpu(host.memory, `${name}/net0`);
        vcpus.push(vcpu);
        const stack = await GuestNet.create(vm.ram, vcpu, { ip: net.list().ports.find((p) => p.name === name)!.ip });
        const nic = vm.device('net0') as VmNetHandle;
        await stack.attach(nic.device, nic.notify);
        stacks.push(stack);
      }
      const [vm1, vm2] = stacks as [GuestNet, GuestNet];
      say(
        `VPC blue 198.19.0.0/16: VMs vm1 198.19.1.10 and vm2 198.19.1.20 (security group echo-only: ICMP, UDP 7, UDP 9000) booted through host.vms, each with a NIC (a virtio-net device on port vm1 / vm2) whose network stack runs in Wasm on a guest-side vCPU worker over the VM's RAM; the vSwitch on DPU core ${0}`,
      );
      await vm2.setPorts(7, 9000);
      Atomics.store(host.memory.i32, stop.base >> 2, 0);
      const serving = vm2.serve(600_000, stop.base);

      // Ping: the first echo and its reply are first packets (upcall, slow path, install, re-inject).
      const rtts = await vm1.ping(vm2.ip, 20);
      const rest = rtts.slice(1).sort((a, b) => a - b);
      say(
        `vm1 pings vm2: ${rtts.filter((x) => !Number.isNaN(x)).length}/20 answered; first round trip ${rtts[0]!.toFixed(0)} µs (both packets through the slow path), then p50 ${rest[rest.length >> 1]!.toFixed(0)} µs on installed flows`,
      );

      // A UDP stream to the echo server for the traffic phase (`seconds`), counted back by vm1's own sink.
      await vm1.setPorts(0, 41000);
      const sent = await vm1.sendUdp(vm2.ip, 7, 100_000_000, 256, { window: 64, srcPort: 41000, ms: seconds * 1000 });
      const sink = await vm1.waitSink(sent, 30_000);
      say(
        `UDP stream vm1 → vm2's echo port and back for ${seconds} s: ${sent} sent, ${sink.received} echoed back, ${sent - sink.received} lost, ${sink.reordered} reordered, ${sink.duplicates} duplicated`,
      );
      record('network: UDP through the vSwitch and back', `${sink.received}/${sent} datagrams, none lost`);

      // The security group: UDP 9 is not allowed into vm2.
      const before = vm2.counters().rxFrames;
      await vm1.sendUdp(vm2.ip, 9, 100, 64, { srcPort: 42000 });
      await sleep(50);
      const st = net.stats()!;
      say(
        `security group: 100 datagrams to vm2's UDP port 9 — ${vm2.counters().rxFrames - before} reached vm2: the ${st.slowPath.drops['security-group']} that missed before the drop flow was in were dropped by the slow path (${st.ports['vm1']!.upcallDrops} more did not fit vm1's upcall ring), ${st.fastPathDrops['security-group']} by the drop flow`,
      );
      record('network: security group dropping UDP 9', `${100 - (vm2.counters().rxFrames - before)}/100 dropped`);

      const vm3 = await trunk(net, host.vms, host.memory, vms, say, record);

      // First packets, timed from vm3's own driver (a ring write and a doorbell) to the switch
      // counting the frame delivered into vm2's receive ring (no guest vCPU in the measurement): a
      // datagram from a new source port is a new flow; the same datagram again rides its flow.
      const first: number[] = [];
      const cached: number[] = [];
      const probes = Math.max(40, seconds * 100);
      const vm2Port = net.list().ports.find((p) => p.name === 'vm2')!;
      const oneWay = async (srcPort: number): Promise<number> => {
        const delivered = (): number => net.portStats('vm2')!.outPackets;
        const got = delivered();
        const t0 = performance.now();
        vm3.send(vm3.udpTo(parseMac(vm2Port.mac), parseIPv4(vm2Port.ip), srcPort, 9000));
        const end = Date.now() + 5000;
        while (delivered() === got && Date.now() < end) await new Promise((r) => setImmediate(r));
        return (performance.now() - t0) * 1000;
      };
      for (let i = 0; i < probes; i++) {
        first.push(await oneWay(20000 + i));
        cached.push(await oneWay(19999));
      }
      const pct = (a: number[], p: number): number =>
        [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))]!;
      say(
        `first packet of a new flow (vm3 kicks → miss → upcall → slow path → install + re-inject → in vm2's RX ring), ${probes} new flows: p50 ${pct(first, 0.5).toFixed(0)} µs, p99 ${pct(first, 0.99).toFixed(0)} µs; on the installed flow: p50 ${pct(cached, 0.5).toFixed(0)} µs`,
      );
      record(
        'network: first packet of a new flow, guest to guest',
        `p50 ${pct(first, 0.5).toFixed(0)} µs, p99 ${pct(first, 0.99).toFixed(0)} µs (installed flow p50 ${pct(cached, 0.5).toFixed(0)} µs)`,
      );
      const flows = net.flows();
      say(`flows in the fast path now: ${flows.length}; slow path: ${JSON.stringify(net.stats()!.slowPath.counters)}`);
      Atomics.store(host.memory.i32, stop.base >> 2, 1);
      await serving;
    } finally {
      Atomics.store(host.memory.i32, stop.base >> 2, 1);
      for (const v of vcpus) await v.stop();
      // Destroying a VM takes its NIC off the switch (the ports stay, for the chapters after).
      for (const vm of vms) await vm.destroy();
      host.memory.free(stop, 'demo');
    }
  },
};

/**
 * A container on a VM's NIC: sub-port c1 (VLAN 10, subnet containers) of port vm3, the NIC of VM
 * vm3. The VM's own code here is a few lines of guest-side TS on the split-ring driver: it tags
 * the container's frames with VLAN 10 and sees the reply come back tagged; vm2's stack answers
 * through the router.
 */
async function trunk(
  net: HostNetwork,
  vms: VmManager,
  memory: HostMemory,
  owned: Vm[],
  say: (l: string) => void,
  record: (w: string, f: string) => void,
): Promise<{
  send(frame: Uint8Array): void;
  udpTo(mac: number, ip: number, srcPort: number, dstPort: number): Uint8Array;
}> {
  const vm3 = net.createPort({ name: 'vm3', subnet: 'web', ip: '198.19.1.30' });
  const c1 = net.createSubPort({ name: 'c1', parent: 'vm3', vlan: 10, subnet: 'containers', ip: '198.19.10.5' });
  const vm = await vms.create({ name: 'vm3', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'net', port: 'vm3' }] });
  owned.push(vm);
  await vm.start();
  const guest = vm.ram;
  const att = vm.device('net0') as VmNetHandle;
  const kick = (): void => {
    Atomics.add(memory.i32, att.notify.doorbell >> 2, 1);
    if (Atomics.load(memory.i32, att.notify.sleeping >> 2) !== 0) Atomics.notify(memory.i32, att.notify.doorbell >> 2);
  };
  const features = { packed: false, eventIdx: false, indirect: false, inOrder: false };
  const bit = (n: number): bigint => 1n << BigInt(n);
  att.device.negotiate(bit(FEAT_VERSION_1) | bit(NET_F_MAC) | bit(NET_F_CTRL_VQ) | bit(NET_F_CTRL_RX));
  const rx = createDriver(guest, { size: 16, features, notify: kick });
  const tx = createDriver(guest, { size: 16, features, notify: kick });
  const ctrl = createDriver(guest, { size: 4, features, notify: kick });
  for (const [i, d] of [
    [0, rx],
    [1, tx],
    [att.device.ctrlIndex, ctrl],
  ] as const)
    att.device.setQueue(i, { size: d.size, descGpa: d.descGpa, driverGpa: d.driverGpa, deviceGpa: d.deviceGpa });
  const waitUsed = async (q: typeof rx): Promise<{ token: number; len: number }> => {
    const end = Date.now() + 5000;
    for (;;) {
      const [c] = q.reap();
      if (c) return c;
      if (Date.now() > end) throw new Error('vm3: nothing completed');
      await sleep(1);
    }
  };
  // The container's MAC is not the NIC's: the VM takes every frame (VIRTIO_NET_CTRL_RX_PROMISC).
  const cmd = guest.allocGpa(3, 16);
  guest.write(cmd, Uint8Array.of(0, 0, 1));
  const ack = guest.allocGpa(1, 16);
  ctrl.add([{ gpa: cmd, len: 3 }], [{ gpa: ack, len: 1 }]);
  ctrl.kick();
  await waitUsed(ctrl);
  const rxBuf = guest.allocGpa(2048, 64);
  rx.add([], [{ gpa: rxBuf, len: 2048 }]);
  rx.kick();
  const router = parseMac(net.list().vpcs.find((v) => v.name === 'blue')!.routerMac);
  const me = { mac: parseMac(c1.mac), ip: parseIPv4(c1.ip) };
  const echo = buildIpv4(
    { src: me.ip, dst: parseIPv4('198.19.1.20'), proto: 1 },
    buildIcmpEcho(8, 0x0c1, 1, new Uint8Array(32)),
  );
  const send = (frame: Uint8Array): void => {
    tx.reap();
    const out = guest.allocGpa(12 + frame.length, 16);
    guest.write(out, new Uint8Array(12));
    guest.write(out + 12n, frame);
    tx.add([{ gpa: out, len: 12 + frame.length }], []);
    tx.kick();
  };
  send(buildEthernet({ dst: router, src: me.mac, ethertype: ETHERTYPE_IPV4, vlan: 10 }, echo));
  const got = await waitUsed(rx);
  const reply = guest.read(rxBuf + 12n, got.len - 12);
  const eth = parseEthernet(reply)!;
  say(
    `trunk: container c1 (198.19.10.5, VLAN 10 on vm3's NIC, its own port and address) pings vm2 in another subnet through the VPC router; the reply comes back tagged VLAN ${eth.vlans[0]} from the router's MAC (ICMP type ${reply[18 + 20]}); switched directly to vm2's MAC it would be dropped`,
  );
  record('network: trunk sub-port routed to another subnet', `echo reply back on VLAN ${eth.vlans[0]}`);
  const self = { mac: parseMac(vm3.mac), ip: parseIPv4(vm3.ip) };
  return {
    send,
    udpTo: (mac, ip, srcPort, dstPort) =>
      buildEthernet(
        { dst: mac, src: self.mac, ethertype: ETHERTYPE_IPV4 },
        buildIpv4({ src: self.ip, dst: ip, proto: 17 }, buildUdp(self.ip, ip, srcPort, dstPort, new Uint8Array(18))),
      ),
  };
}
