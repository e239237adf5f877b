import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseIPv4 } from '../../../src/dpu/flow/ip-address.js';
import { parseMac } from '../../../src/dpu/net/mac-address.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { LATENCY_BOUNDS_S } from '../../../src/common/latency-histogram.js';
import { featureWord } from '../../../src/common/virtio/features.js';
import { BURST_BOUNDS_S } from '../../../src/dpu/core/burst-latency.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../../../src/hypervisor/guest/virtio/blk-workload.js';
import { GuestNet } from '../../../src/hypervisor/guest/virtio/net-guest.js';
import type { VmBlkHandle, VmNetHandle } from '../../../src/orchestrator/vms/vm-device.js';
import type { Vm } from '../../../src/orchestrator/vms/vm.js';
import { GuestNic } from '../../dpu/net/guest-nic.js';
import { ipFrame } from '../../dpu/net/helpers.js';
import { BURST_DECADES_S } from '../../../src/orchestrator/daemon/resources/port-metrics.js';
import { startDaemon, type D } from '../../helpers/daemon.js';

const MIB = 1 << 20;
const promtool = spawnSync('promtool', ['--version']).status === 0;
if (!promtool)
  console.warn('resource-metrics.test: promtool not found (Debian package prometheus, installed by .ci/run)');

/** `name{labels} value` lines of a Prometheus text page, by `name{labels}`. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** A histogram series on the page: cumulative buckets never fall, +Inf and _count are its count. */
function checkHistogram(got: Map<string, number>, name: string, labels: string, count: number): void {
  let prev = 0;
  for (const le of BURST_DECADES_S) {
    const n = got.get(`${name}_bucket{${labels},le="${le}"}`)!;
    expect(n, `${name}{${labels}} le=${le}`).toBeGreaterThanOrEqual(prev);
    prev = n;
  }
  // Only the decades are printed.
  expect(got.has(`${name}_bucket{${labels},le="${String(2.5e-6)}"}`)).toBe(false);
  expect(got.get(`${name}_bucket{${labels},le="+Inf"}`)).toBe(count);
  expect(got.get(`${name}_count{${labels}}`)).toBe(count);
  expect(prev).toBeLessThanOrEqual(count);
}

describe('/metrics per VM, port and volume', () => {
  let d: D;
  const metrics = async (): Promise<{ text: string; got: Map<string, number> }> => {
    const r = await d.client.send('GET', '/metrics');
    expect(r.status).toBe(200);
    return { text: r.text, got: samples(r.text) };
  };
  beforeAll(async () => {
    d = await startDaemon({
      host: {
        memory: { sizeBytes: 512 * MIB },
        dpu: { cores: 1, mode: 'interrupt' },
        vms: { poolMiB: 64 },
        storage: { arenaBytes: 32 * MIB },
      },
    });
  });
  afterAll(async () => d.stop());

  it('volume requests, bytes and latency equal the storage worker counters', async () => {
    expect(
      (await d.client.send('PUT', '/volumes/v0', { sizeBytes: 4 * MIB, dataDisks: 2, parityDisks: 1 })).status,
    ).toBe(200);
    const vol = d.daemon.host.storage.volume('v0')!;
    const block = new Uint8Array(8192).fill(7);
    for (let i = 0; i < 10; i++) await vol.write(i * 8192, block);
    for (let i = 0; i < 4; i++) await vol.read(i * 4096, 4096);
    await vol.flush();
    const { got } = await metrics();
    const r = await vol.stats();
    expect(r.ops).toMatchObject({ writes: 10, reads: 4, flushes: 1, blocksWritten: 20, blocksRead: 4 });
    const l = 'volume="v0"';
    expect(got.get(`qingtian_volume_requests_total{${l},op="write"}`)).toBe(r.ops.writes);
    expect(got.get(`qingtian_volume_requests_total{${l},op="read"}`)).toBe(r.ops.reads);
    expect(got.get(`qingtian_volume_requests_total{${l},op="flush"}`)).toBe(r.ops.flushes);
    expect(got.get(`qingtian_volume_bytes_total{${l},direction="write"}`)).toBe(r.ops.blocksWritten * 4096);
    expect(got.get(`qingtian_volume_bytes_total{${l},direction="read"}`)).toBe(r.ops.blocksRead * 4096);
    expect(got.get(`qingtian_volume_mapped_bytes{${l}}`)).toBe(r.space.mappedBytes);
    expect(got.get(`qingtian_volume_disks{${l},state="ok"}`)).toBe(3);
    // Every request is in the histogram once: its count is the requests served, buckets are cumulative.
    expect(r.latency.count).toBe(15);
    expect(got.get(`qingtian_volume_request_duration_seconds_count{${l}}`)).toBe(15);
    expect(got.get(`qingtian_volume_request_duration_seconds_bucket{${l},le="+Inf"}`)).toBe(15);
    expect(got.get(`qingtian_volume_request_duration_seconds_sum{${l}}`)).toBe(r.latency.sumSeconds);
    let prev = 0;
    for (const le of LATENCY_BOUNDS_S) {
      const n = got.get(`qingtian_volume_request_duration_seconds_bucket{${l},le="${le}"}`)!;
      expect(n).toBeGreaterThanOrEqual(prev);
      prev = n;
    }
  });

  it('port packets and bytes equal the switch counters, after traffic between two guests', async () => {
    const put = async (p: string, b: unknown) => expect((await d.client.send('PUT', p, b)).status).toBe(200);
    await put('/vpcs/blue', { cidr: '198.19.0.0/16' });
    await put('/subnets/web', { vpc: 'blue', cidr: '198.19.1.0/24' });
    await put('/ports/a', { subnet: 'web', ip: '198.19.1.10' });
    await put('/ports/b', { subnet: 'web', ip: '198.19.1.20' });
    const net = d.daemon.host.network;
    const info = (n: string) => net.list().ports.find((p) => p.name === n)!;
    const A = { mac: parseMac(info('a').mac), ip: parseIPv4(info('a').ip) };
    const B = { mac: parseMac(info('b').mac), ip: parseIPv4(info('b').ip) };
    // The guests here are test doubles driving the port's virtio-net device as a VM's driver would.
    const nic = async (port: string): Promise<GuestNic> => {
      const g = new Guest(d.daemon.host.memory, { name: `g-${port}`, ramBytes: 4 * MIB });
      const n = new GuestNic(g, await net.attachPort(port, g), d.daemon.host.memory);
      n.postRx(64);
      return n;
    };
    const na = await nic('a');
    const nb = await nic('b');
    for (let i = 0; i < 20; i++) {
      na.send(
        ipFrame({ srcMac: A.mac, dstMac: B.mac, src: A.ip, dst: B.ip, proto: 'udp', srcPort: 5000, dstPort: 7, id: i }),
      );
      await nb.waitRecv(1);
    }
    await vi.waitFor(() => expect(net.portStats('b')!.outPackets).toBe(20));
    const { got } = await metrics();
    for (const port of ['a', 'b']) {
      const s = net.portStats(port)!;
      expect(got.get(`qingtian_port_packets_total{port="${port}",direction="in"}`)).toBe(s.inPackets);
      expect(got.get(`qingtian_port_packets_total{port="${port}",direction="out"}`)).toBe(s.outPackets);
      expect(got.get(`qingtian_port_bytes_total{port="${port}",direction="in"}`)).toBe(s.inBytes);
      expect(got.get(`qingtian_port_bytes_total{port="${port}",direction="out"}`)).toBe(s.outBytes);
      expect(got.get(`qingtian_port_dropped_packets_total{port="${port}"}`)).toBe(s.outDrops);
    }
    expect(got.get('qingtian_port_packets_total{port="a",direction="in"}')).toBe(20);
    // Per port, one observation per frame it sent in: the duration of the burst that took it in.
    await vi.waitFor(async () => {
      const g = (await metrics()).got;
      for (const port of ['a', 'b']) {
        const s = net.portStats(port)!;
        const h = net.portBurstLatency()[port]!;
        expect(h.count).toBe(s.inPackets);
        // A printed bucket is the histogram's cumulative count at that bound.
        const upTo1ms = h.counts.slice(0, BURST_BOUNDS_S.indexOf(1e-3) + 1).reduce((a, b) => a + b, 0);
        expect(g.get(`qingtian_port_burst_duration_seconds_bucket{port="${port}",le="0.001"}`)).toBe(upTo1ms);
        checkHistogram(g, 'qingtian_port_burst_duration_seconds', `port="${port}"`, s.inPackets);
        expect(g.get(`qingtian_port_burst_duration_seconds_sum{port="${port}"}`)).toBe(h.sumSeconds);
      }
    });
    expect(net.portBurstLatency()['a']!.sumSeconds).toBeGreaterThan(0);
    // The first frames of the flow went through the slow path: each re-injection is timed once,
    // on the port it entered by, from its upcall's burst to its re-injection's.
    const reinjected = net.stats()!.switch.reinjected;
    expect(reinjected).toBeGreaterThan(0);
    const slow = net.portSlowPathLatency();
    expect(slow['a']!.count + slow['b']!.count).toBe(reinjected);
    expect(slow['a']!.count).toBeGreaterThan(0);
    expect(slow['a']!.sumSeconds).toBeGreaterThan(0);
    const g2 = (await metrics()).got;
    for (const port of ['a', 'b']) {
      checkHistogram(g2, 'qingtian_port_slow_path_duration_seconds', `port="${port}"`, slow[port]!.count);
      expect(g2.get(`qingtian_port_slow_path_duration_seconds_sum{port="${port}"}`)).toBe(slow[port]!.sumSeconds);
    }
    expect(got.get('qingtian_port_bytes_total{port="b",direction="out"}')).toBeGreaterThan(20 * 42);
    // The GET answer carries the same counters.
    const b = (await d.client.send('GET', '/ports/b')).json as { status: { traffic: { outPackets: number } } };
    expect(b.status.traffic.outPackets).toBe(20);
    await net.detachPort('a');
    await net.detachPort('b');
  });

  it('VM state, size, device traffic and operation latency; promtool accepts the page', async () => {
    const put = await d.client.send('PUT', '/vms/web-1', {
      vcpus: 1,
      memoryMiB: 8,
      devices: [{ kind: 'vsock', cid: 42 }],
    });
    expect(put.status, put.text).toBe(200);
    const vm = d.daemon.host.vms.get('web-1')!;
    // Traffic over the VM's vsock device: the guest agent answers the host.
    await vm.guestInfo({ timeoutMs: 20_000 });
    const ep = () => vm.vsock!.device.stats().endpoint;
    // Connection teardown may still move counters: compare once two reads agree.
    await vi.waitFor(
      async () => {
        const before = ep();
        const { got } = await metrics();
        const after = ep();
        expect(after).toEqual(before);
        const l = 'vm="web-1",device="vsock0",kind="vsock"';
        expect(got.get(`qingtian_vm_device_packets_total{${l},direction="tx"}`)).toBe(after['rxPackets']);
        expect(got.get(`qingtian_vm_device_packets_total{${l},direction="rx"}`)).toBe(after['txPackets']);
        expect(got.get(`qingtian_vm_device_bytes_total{${l},direction="tx"}`)).toBe(after['rxBytes']);
        expect(got.get(`qingtian_vm_device_bytes_total{${l},direction="rx"}`)).toBe(after['txBytes']);
      },
      { timeout: 10_000 },
    );
    expect(ep()['rxBytes']).toBeGreaterThan(0);
    const { text, got } = await metrics();
    expect(got.get('qingtian_vm_info{vm="web-1",state="running"}')).toBe(1);
    expect(got.get('qingtian_vm_vcpus{vm="web-1"}')).toBe(1);
    expect(got.get('qingtian_vm_memory_bytes{vm="web-1"}')).toBe(8 * MIB);
    expect(got.get('qingtian_vm_operation_duration_seconds_count{op="create"}')).toBe(1);
    expect(got.get('qingtian_vm_operation_duration_seconds_count{op="start"}')).toBe(1);
    expect(text).toMatch(/^# TYPE qingtian_vm_operation_duration_seconds histogram$/m);
    // The vsock device's bursts (its job on the DPU core) carried that traffic.
    const bursts = got.get('qingtian_vm_device_burst_duration_seconds_count{vm="web-1",device="vsock0",kind="vsock"}');
    expect(bursts).toBeGreaterThan(0);
    expect(bursts).toBeLessThanOrEqual(vm.vsock!.device.burstLatency().count);
    if (promtool) {
      const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(out).toBe('');
    }
    expect((await d.client.send('DELETE', '/vms/web-1')).status).toBe(200);
  });

  it('VM net and blk traffic and device burst durations equal the device counters after guest traffic; promtool accepts the page', async () => {
    const put = async (p: string, b: unknown) => {
      const r = await d.client.send('PUT', p, b);
      expect(r.status, `${p}: ${r.text}`).toBe(200);
    };
    await put('/vpcs/green', { cidr: '198.18.0.0/16' });
    await put('/subnets/app', { vpc: 'green', cidr: '198.18.1.0/24' });
    await put('/security-groups/open', {
      rules: [
        { direction: 'ingress', protocol: 'any' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    await put('/ports/pa', { subnet: 'app', ip: '198.18.1.10', securityGroups: ['open'] });
    await put('/ports/pb', { subnet: 'app', ip: '198.18.1.20', securityGroups: ['open'] });
    await put('/volumes/vd', { sizeBytes: 4 * MIB, dataDisks: 2, parityDisks: 1 });
    await put('/vms/va', {
      vcpus: 1,
      memoryMiB: 24,
      devices: [
        { kind: 'net', port: 'pa' },
        { kind: 'blk', backend: 'ram', capacityMiB: 4 },
        { kind: 'blk', volume: 'vd', id: 'blk1' },
      ],
    });
    await put('/vms/vb', { vcpus: 1, memoryMiB: 16, devices: [{ kind: 'net', port: 'pb' }] });
    const host = d.daemon.host;
    const va = host.vms.get('va')!;
    const vb = host.vms.get('vb')!;
    const vcpus: GuestVcpu[] = [];
    const vcpu = (name: string): GuestVcpu => {
      const v = new GuestVcpu(host.memory, name);
      vcpus.push(v);
      return v;
    };
    // The guests' drivers (the in-process guest's) over the VMs' own RAM, on vCPU workers.
    const netStack = async (vm: Vm, ip: string): Promise<GuestNet> => {
      const h = vm.device('net0') as VmNetHandle;
      const stack = await GuestNet.create(vm.ram, vcpu(`${vm.name}/net0`), { ip, queueSize: 256 });
      await stack.attach(h.device, h.notify);
      return stack;
    };
    const sa = await netStack(va, '198.18.1.10');
    const sb = await netStack(vb, '198.18.1.20');
    const stop = host.memory.alloc({ name: 't:stop', owner: 't', kind: 'core-scratch', sizeBytes: 64 });
    Atomics.store(host.memory.i32, stop.base >> 2, 0);
    const serving = sb.serve(60_000, stop.base);
    const rtts = await sa.ping('198.18.1.20', 5);
    expect(rtts.filter((x) => !Number.isNaN(x)).length).toBe(5);
    Atomics.store(host.memory.i32, stop.base >> 2, 1);
    await serving;
    host.memory.free(stop, 't');

    const split = { packed: false, eventIdx: false, indirect: false, inOrder: false };
    const disk = async (id: string, seed: number) => {
      const blk = va.device(id) as VmBlkHandle;
      const dev = blk.device;
      dev.negotiate(
        dev.features() &
          ~(featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true }) & ~featureWord(split)),
      );
      const w = await GuestBlkWorkload.create(va.ram, vcpu(`va/${id}`), {
        size: 32,
        features: split,
        blocks: 64,
        seed,
      });
      const { features: _f, ...rings } = w.queue.config;
      void _f;
      dev.setQueue(0, rings);
      await blk.driverOk();
      await w.bind(dev.notifyWords(0), dev.queues[0]!.irqAddr);
      return { dev, w };
    };
    const { dev, w } = await disk('blk0', 3);
    const run = await w.run(8, 20);
    expect(run.completed).toBeGreaterThan(0);
    const vd = await disk('blk1', 4);
    const vrun = await vd.w.run(8, 20);
    expect(vrun.completed).toBeGreaterThan(0);

    // Every request done: once the core sleeps, no counter and no burst moves.
    await vi.waitFor(() => expect(host.dpu.cores.map((x) => x.runState())).toEqual(['sleeping']), {
      timeout: 20_000,
    });
    const { text, got } = await metrics();
    const c = dev.requestCounters();
    const s = dev.stats();
    expect(c.reads + c.writes + c.flushes + c.getIds + c.discards + c.writeZeroes).toBe(run.completed);
    const lb = 'vm="va",device="blk0"';
    expect(got.get(`qingtian_vm_blk_requests_total{${lb},op="read"}`)).toBe(s.reads);
    expect(got.get(`qingtian_vm_blk_requests_total{${lb},op="write"}`)).toBe(s.writes);
    expect(got.get(`qingtian_vm_blk_requests_total{${lb},op="flush"}`)).toBe(s.flushes);
    expect(got.get(`qingtian_vm_blk_bytes_total{${lb},direction="read"}`)).toBe(s.bytesRead);
    expect(got.get(`qingtian_vm_blk_bytes_total{${lb},direction="write"}`)).toBe(s.bytesWritten);
    expect(got.get(`qingtian_vm_blk_request_errors_total{${lb},status="ioerr"}`)).toBe(s.ioErrors);
    expect(got.get(`qingtian_vm_blk_request_errors_total{${lb},status="rejected"}`)).toBe(s.rejected);
    expect(s.writes).toBeGreaterThan(0);
    expect(s.bytesWritten).toBeGreaterThan(0);
    // The disk's bursts: at least one per completed batch, none without work, cumulative buckets.
    const hb = dev.burstLatency();
    expect(hb.count).toBeGreaterThan(0);
    expect(hb.count).toBeLessThanOrEqual(run.completed);
    expect(hb.counts.reduce((a, b) => a + b, 0)).toBe(hb.count);
    const lbk = `${lb},kind="blk"`;
    expect(got.get(`qingtian_vm_device_burst_duration_seconds_count{${lbk}}`)).toBe(hb.count);
    expect(got.get(`qingtian_vm_device_burst_duration_seconds_bucket{${lbk},le="+Inf"}`)).toBe(hb.count);
    expect(got.get(`qingtian_vm_device_burst_duration_seconds_sum{${lbk}}`)).toBe(hb.sumSeconds);
    let prev = 0;
    for (const le of BURST_BOUNDS_S) {
      const n = got.get(`qingtian_vm_device_burst_duration_seconds_bucket{${lbk},le="${le}"}`)!;
      expect(n).toBeGreaterThanOrEqual(prev);
      prev = n;
    }
    // The NICs: what each guest sent and received (ping and ARP), as the devices count it.
    for (const [vm, name] of [
      [va, 'va'],
      [vb, 'vb'],
    ] as const) {
      const t = (vm.device('net0') as VmNetHandle).device.traffic();
      const ln = `vm="${name}",device="net0",kind="net"`;
      expect(t.txPackets).toBeGreaterThanOrEqual(5);
      expect(t.rxPackets).toBeGreaterThanOrEqual(5);
      expect(got.get(`qingtian_vm_device_packets_total{${ln},direction="rx"}`)).toBe(t.rxPackets);
      expect(got.get(`qingtian_vm_device_packets_total{${ln},direction="tx"}`)).toBe(t.txPackets);
      expect(got.get(`qingtian_vm_device_bytes_total{${ln},direction="rx"}`)).toBe(t.rxBytes);
      expect(got.get(`qingtian_vm_device_bytes_total{${ln},direction="tx"}`)).toBe(t.txBytes);
      expect(got.get(`qingtian_vm_net_dropped_packets_total{vm="${name}",device="net0"}`)).toBe(t.rxDrops);
      expect(got.get(`qingtian_vm_net_errors_total{vm="${name}",device="net0",direction="tx"}`)).toBe(t.txErrors);
    }
    // The switch carried those frames in bursts of its own.
    const sw = host.network.switchBurstLatency()!;
    expect(sw.count).toBeGreaterThan(0);
    expect(got.get('qingtian_switch_burst_duration_seconds_count')).toBe(sw.count);
    expect(got.get('qingtian_switch_burst_duration_seconds_sum')).toBe(sw.sumSeconds);
    // Request latency, pop to used: one observation per request pushed. The RAM disk completes
    // each in the burst that popped it (0 s); the volume's requests cross bursts (the storage worker).
    for (const [id, d, n] of [
      ['blk0', dev, run.completed],
      ['blk1', vd.dev, vrun.completed],
    ] as const) {
      const c = d.stats();
      const h = d.requestLatency();
      expect(c.requests).toBe(n);
      expect(h.count).toBe(c.requests);
      checkHistogram(got, 'qingtian_vm_blk_request_duration_seconds', `vm="va",device="${id}"`, c.requests);
      expect(got.get(`qingtian_vm_blk_request_duration_seconds_sum{vm="va",device="${id}"}`)).toBe(h.sumSeconds);
    }
    expect(dev.requestLatency().sumSeconds).toBe(0);
    expect(vd.dev.requestLatency().sumSeconds).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE qingtian_vm_blk_requests_total counter$/m);
    expect(text).toMatch(/^# TYPE qingtian_vm_blk_request_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE qingtian_vm_device_burst_duration_seconds histogram$/m);
    if (promtool) {
      const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(out).toBe('');
    }
    for (const v of vcpus) await v.stop();
    expect((await d.client.send('DELETE', '/vms/va')).status).toBe(200);
    expect((await d.client.send('DELETE', '/vms/vb')).status).toBe(200);
  });
});
