// Guests' own network stacks (Wasm on their vCPU workers) on host.network: the vSwitch on a DPU
// core and the routing-table slow path behind it, with a stateful security group on the receiver.
// Ping both ways, a UDP stream one way and an echoed stream back, counted by sequence numbers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostNetwork } from '../../../src/dpu/net/host-network.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';
import { Host } from '../../../src/orchestrator/host.js';

const MIB = 1 << 20;
let host: Host;
let net: HostNetwork;
let a: GuestNet;
let b: GuestNet;
const vcpus: GuestVcpu[] = [];

beforeAll(async () => {
  host = await Host.boot({ memory: { sizeBytes: 512 * MIB }, dpu: { cores: 1 } });
  net = host.network;
  net.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
  net.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
  net.createSecurityGroup({
    name: 'echo',
    rules: [
      { direction: 'ingress', protocol: 'icmp' },
      { direction: 'ingress', protocol: 'udp', ports: [7, 7] },
      { direction: 'ingress', protocol: 'udp', ports: [9000, 9000] },
      { direction: 'egress', protocol: 'any' },
    ],
  });
  net.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
  net.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20', securityGroups: ['echo'] });
  const stacks: GuestNet[] = [];
  for (const [name, ip] of [
    ['a', '198.19.1.10'],
    ['b', '198.19.1.20'],
  ] as const) {
    const guest = new Guest(host.memory, { name: `g${name}`, ramBytes: 8 * MIB });
    const vcpu = new GuestVcpu(host.memory, `g${name}/vcpu0`, { nice: null });
    vcpus.push(vcpu);
    const stack = await GuestNet.create(guest, vcpu, { ip });
    const { device, notify } = await net.attachPort(name, guest);
    await stack.attach(device, notify);
    stacks.push(stack);
  }
  [a, b] = stacks as [GuestNet, GuestNet];
}, 60_000);

afterAll(async () => {
  for (const v of vcpus) await v.stop();
  await host?.shutdown();
});

function stopWord(name: string): { base: number; set(): void } {
  const r = host.memory.alloc({ name, owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
  Atomics.store(host.memory.i32, r.base >> 2, 0);
  return { base: r.base, set: () => Atomics.store(host.memory.i32, r.base >> 2, 1) };
}

describe("guests' own network stacks on host.network", () => {
  it('ping both ways: every echo answered, the replies admitted as established', async () => {
    const serveB = b.serve(5000);
    const rtts = await a.ping(b.ip, 20);
    await serveB;
    expect(rtts.filter((x) => Number.isNaN(x))).toHaveLength(0);
    // b's group admits ICMP in; b's replies and its own pings go out under egress "any", and the
    // replies to b's pings come back into b as an established connection.
    const serveA = a.serve(5000);
    const back = await b.ping(a.ip, 20);
    await serveA;
    expect(back.filter((x) => Number.isNaN(x))).toHaveLength(0);
    const st = net.stats()!;
    expect(st.slowPath.counters.arpReplies).toBeGreaterThanOrEqual(1);
    expect(Object.values(st.slowPath.drops).reduce((x, y) => x + y, 0)).toBe(0);
  }, 60_000);

  it('a UDP stream of 200 datagrams one way arrives whole: no loss, no duplicates', async () => {
    await b.setPorts(7, 9000);
    const stop = stopWord('stop-stream');
    const serveB = b.serve(60_000, stop.base);
    const sent = await a.sendUdp(b.ip, 9000, 200, 512, { ms: 30_000 });
    const deadline = Date.now() + 20_000;
    while (b.sink().received < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    stop.set();
    await serveB;
    expect(sent).toBe(200);
    expect(b.sink()).toMatchObject({ received: 200, duplicates: 0, next: 200 });
  }, 90_000);

  it('20,000 datagrams to an echo server and back (window 128): every one returns, once', async () => {
    await b.setPorts(7, 0);
    await a.setPorts(0, 41000);
    const stop = stopWord('stop-echo');
    const serveB = b.serve(120_000, stop.base);
    const at = net.stats()!.switch;
    const sent = await a.sendUdp(b.ip, 7, 20_000, 128, { window: 128, srcPort: 41000, ms: 90_000 });
    await a.waitSink(20_000, 30_000);
    stop.set();
    await serveB;
    expect(sent).toBe(20_000);
    expect(a.sink()).toMatchObject({ received: 20_000, duplicates: 0, next: 20_000 });
    // Ordered upcalls: packets that hit a flow while earlier ones of it are still with the slow
    // path go up behind them, so nothing overtakes while the flow is set up.
    expect(a.sink().reordered).toBe(0);
    expect(b.counters().udpEchoed).toBe(20_000);
    const sw = net.stats()!.switch;
    const [hits, misses, held] = [sw.hits - at.hits, sw.misses - at.misses, sw.held - at.held];
    // Every frame either hit an installed flow, missed, or hit one whose upcall was still
    // unanswered and went up behind it (held). Only the set-up goes up: a window's worth of
    // misses each way at most, and of held frames, which are in flight behind those misses.
    expect(hits + misses + held).toBe(40_000);
    expect(misses).toBeLessThanOrEqual(2 * 128);
    expect(held).toBeLessThanOrEqual(2 * 128);
    expect(net.stats()!.ports['b']!.outDrops).toBe(0);
  }, 150_000);
});
