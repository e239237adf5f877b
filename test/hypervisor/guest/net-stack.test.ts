// Guests' own network stacks (Wasm on their vCPU workers) talking through virtio-net devices and
// the vSwitch on a DPU core: ARP, ping both ways, UDP echo, and a UDP stream whose sequence
// numbers show no loss, no reordering and no duplicates.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { NetDevice } from '../../../src/dpu/net/net-device.js';
import { VSwitch } from '../../../src/dpu/net/vswitch.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { L2Path } from '../../helpers/net-l2-path.js';

const MIB = 1 << 20;

describe('guest network stacks through the vSwitch on a DPU core', () => {
  const memory = new HostMemory({ sizeBytes: 256 * MIB });
  const rt = new LoaderRuntime(memory);
  let pool: DpuCorePool;
  let sw: VSwitch;
  let l2: L2Path;
  const vcpus: GuestVcpu[] = [];
  const nets: GuestNet[] = [];
  const devs: NetDevice[] = [];

  beforeAll(async () => {
    pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 256 });
    await pool.loadKernel(rt.kernel('net'));
    sw = new VSwitch(rt, { name: 'sw', maxPorts: 8, flowCapacity: 4096 });
    await sw.attach(pool.core(0), 256);
    const guests = [
      { name: 'ga', mac: '02:00:00:00:00:0a', ip: '198.18.0.10' },
      { name: 'gb', mac: '02:00:00:00:00:0b', ip: '198.18.0.11' },
    ];
    for (const [i, g] of guests.entries()) {
      const guest = new Guest(memory, { name: g.name, ramBytes: 8 * MIB });
      const vcpu = new GuestVcpu(memory, `${g.name}-vcpu0`, { nice: null });
      const dev = new NetDevice(rt, guest, { name: `${g.name}-nic`, mac: g.mac });
      const net = await GuestNet.create(guest, vcpu, { ip: g.ip });
      await net.attach(dev, sw.notifyWords());
      sw.addVnic(i, dev);
      vcpus.push(vcpu);
      nets.push(net);
      devs.push(dev);
    }
    l2 = new L2Path(memory, sw, new Map(guests.map((g, i) => [i, g.mac])));
    l2.start();
  }, 30_000);

  afterAll(async () => {
    await l2?.stop();
    for (const v of vcpus) await v.stop();
    await sw?.detach();
    await pool?.close();
  });

  it('A pings B and B pings A: every echo answered', async () => {
    const [a, b] = nets as [GuestNet, GuestNet];
    const serveB = b.serve(3000, undefined);
    const rtts = await a.ping(b.ip, 20);
    expect(rtts.filter((x) => Number.isNaN(x))).toHaveLength(0);
    await serveB;
    const serveA = a.serve(3000);
    const back = await b.ping(a.ip, 20);
    expect(back.filter((x) => Number.isNaN(x))).toHaveLength(0);
    await serveA;
    expect(a.counters().echoReplies).toBeGreaterThanOrEqual(20);
    expect(b.counters().echoRequests).toBeGreaterThanOrEqual(20);
    expect(devs.every((d) => !d.needsReset)).toBe(true);
  }, 30_000);

  it('a UDP stream of 200 datagrams one way arrives whole: no loss, no reordering, no duplicates', async () => {
    const [a, b] = nets as [GuestNet, GuestNet];
    await b.setPorts(7, 9000);
    const stop = memory.alloc({ name: 'stop1', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    const serveB = b.serve(30_000, stop.base);
    const sent = await a.sendUdp(b.ip, 9000, 200, 512);
    expect(sent).toBe(200);
    const deadline = Date.now() + 10_000;
    while (b.sink().received < 200 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    Atomics.store(memory.i32, stop.base >> 2, 1);
    await serveB;
    expect(b.sink()).toEqual({ received: 200, reordered: 0, duplicates: 0, next: 200 });
  }, 60_000);

  it('50,000 datagrams to an echo server and back (window 128): every one returns, once', async () => {
    const [a, b] = nets as [GuestNet, GuestNet];
    await b.setPorts(7, 0);
    await a.setPorts(0, 41000);
    const stop = memory.alloc({ name: 'stop2', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    const serveB = b.serve(60_000, stop.base);
    const sent = await a.sendUdp(b.ip, 7, 50_000, 128, { window: 128, srcPort: 41000, ms: 50_000 });
    await a.waitSink(50_000);
    Atomics.store(memory.i32, stop.base >> 2, 1);
    await serveB;
    expect(sent).toBe(50_000);
    expect(a.sink()).toMatchObject({ received: 50_000, duplicates: 0, next: 50_000 });
    // Ordered upcalls: packets that hit a flow while earlier ones of it are still with the slow
    // path go up behind them, so nothing overtakes while the flow is set up.
    expect(a.sink().reordered).toBe(0);
    expect(b.counters().udpEchoed).toBe(50_000);
    // After the first packets of each direction, every datagram hits its installed flow.
    expect(sw.stats().hits).toBeGreaterThan(99_000);
  }, 90_000);
});
