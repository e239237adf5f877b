// Host jobs on a DPU core (host-job.ts): the real 'net-slow-path' kind through SlowPathOnCore,
// polled by the core that serves the switch, between the switch's bursts.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { NET_FLUSH_NONE, NET_SW_FLUSH_MODE } from '../../../src/generated/net.js';
import type { DpuCore, HostJobHandle } from '../../../src/dpu/core/dpu-core.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { formatMac } from '../../../src/dpu/net/mac-address.js';
import { NetDevice } from '../../../src/dpu/net/net-device.js';
import { SlowPathOnCore } from '../../../src/dpu/net/slow-path-on-core.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import { applyModelOp, type ModelOp } from '../../../src/dpu/net/vpc-model-ops.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { VSwitch } from '../../../src/dpu/net/vswitch.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { GuestNic } from '../net/guest-nic.js';
import { from } from '../net/helpers.js';

const MIB = 1 << 20;
const MODEL = { seed: 23 };

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`not in time: ${what}`);
    await sleep(1);
  }
}

/**
 * Sends `frame` until its flow is in the fast path. A first packet is always delivered, but while
 * the revalidator's first flushes run in the switch the slow path only re-injects it (its next
 * packet comes up again): slow-path-runner.ts.
 */
async function establish(sw: VSwitch, tx: GuestNic, rx: GuestNic, frame: Uint8Array): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const upcalls = sw.stats().upcalls;
    tx.send(frame);
    expect(await rx.waitRecv(1)).toHaveLength(1);
    if (sw.stats().upcalls === upcalls) return; // a hit
    await sleep(5);
  }
  throw new Error('the flow was never installed');
}

/**
 * A switch on the one core of a pool, a main-thread VPC model whose changes the slow path on the
 * core replays, and guests' virtio-net drivers on ports of the switch.
 */
class Rig {
  readonly memory = new HostMemory({ sizeBytes: 256 * MIB });
  readonly rt = new LoaderRuntime(this.memory);
  readonly model = new VpcModel({ runtime: this.rt, ...MODEL });
  readonly ops: ModelOp[] = [];
  pool!: DpuCorePool;
  sw!: VSwitch;
  slow: SlowPathOnCore | null = null;
  private closed = false;

  get core(): DpuCore {
    return this.pool.core(0);
  }

  async start(): Promise<void> {
    this.pool = await DpuCorePool.start(this.memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 256 });
    await this.pool.loadKernel(this.rt.kernel('net'));
    this.sw = new VSwitch(this.rt, { name: 'sw', maxPorts: 16, flowCapacity: 4096 });
    await this.sw.attach(this.core);
    this.apply({ op: 'createVpc', args: [{ name: 'blue', cidr: '198.19.0.0/16' }] });
    this.apply({ op: 'createSubnet', args: [{ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' }] });
    const rules = [
      { direction: 'ingress', protocol: 'icmp' },
      { direction: 'egress', protocol: 'any' },
    ] as const;
    this.apply({ op: 'createSecurityGroup', args: [{ name: 'ping', rules: [...rules] }] });
  }

  /** A change of the main model; once the slow path runs, it goes to its replica too. */
  apply<T extends ModelOp>(op: T): void {
    applyModelOp(this.model, op);
    if (this.slow) this.slow.change({ model: op });
    else this.ops.push(op);
  }

  port(name: string, ip: string, groups: string[] = []): Port {
    this.apply({ op: 'createPort', args: [{ name, subnet: 'web', ip, securityGroups: groups }] });
    return this.model.port(name);
  }

  /** A guest with a device on switch port `p.id`. */
  nic(p: Port): GuestNic {
    const g = new Guest(this.memory, { name: `g-${p.name}`, ramBytes: 4 * MIB });
    const device = new NetDevice(this.rt, g, { name: `nic-${p.name}`, mac: formatMac(p.mac) });
    const n = new GuestNic(g, { device, notify: this.sw.notifyWords() }, this.memory);
    this.sw.addVnic(p.id, device);
    n.postRx(64);
    return n;
  }

  /** A port added after the slow path started: its guest's device, and the slow path draining it. */
  served(name: string, ip: string): { p: Port; n: GuestNic } {
    const p = this.port(name, ip);
    const n = this.nic(p);
    this.slow!.addPort(p.id);
    return { p, n };
  }

  async attachSlowPath(ports: number[]): Promise<SlowPathOnCore> {
    this.slow = await SlowPathOnCore.attach(this.core, this.memory, {
      sw: this.sw,
      ports,
      model: MODEL,
      ops: this.ops,
    });
    return this.slow;
  }

  /** Started, with ports a and b (b behind 'ping'), their guests, and the slow path draining both. */
  async startPair(): Promise<{ a: Port; b: Port; na: GuestNic; nb: GuestNic; slow: SlowPathOnCore }> {
    await this.start();
    const a = this.port('a', '198.19.1.10');
    const b = this.port('b', '198.19.1.20', ['ping']);
    const na = this.nic(a);
    const nb = this.nic(b);
    return { a, b, na, nb, slow: await this.attachSlowPath([a.id, b.id]) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.slow?.detach();
    await this.sw?.detach();
    await this.pool?.close();
    this.model.dispose();
  }
}

describe('the slow path as a host job on the switch core', () => {
  const rig = new Rig();
  let slow: SlowPathOnCore;
  let a: Port, b: Port;
  let na: GuestNic, nb: GuestNic;

  beforeAll(async () => {
    ({ a, b, na, nb, slow } = await rig.startPair());
  }, 30_000);
  afterAll(() => rig.close());

  it('decides a first packet on the core and delivers it; its counters count the upcall and the install', async () => {
    expect(slow.running).toBe(true);
    expect(slow.stats().slowPath.counters.upcalls).toBe(0);
    na.send(from(a, b, { proto: 'icmp', id: 1 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    await until('counters published', () => slow.stats().slowPath.counters.installed >= 1);
    let s = slow.stats();
    expect(s.slowPath.counters.upcalls).toBe(1);
    expect(s.runner.upcalls).toBe(1);
    expect(s.runner.downcalls).toBeGreaterThanOrEqual(1);
    expect(s.slowPath.connections).toBe(1);
    await establish(rig.sw, na, nb, from(a, b, { proto: 'icmp', id: 1 }));
    // The rest of the flow: the fast path, no more upcalls.
    s = slow.stats();
    for (let i = 0; i < 3; i++) na.send(from(a, b, { proto: 'icmp', id: 1 }));
    expect(await nb.waitRecv(3)).toHaveLength(3);
    expect(slow.stats().slowPath.counters.upcalls).toBe(s.slowPath.counters.upcalls);
    expect(slow.stats().runner.upcalls).toBe(s.runner.upcalls);
  });

  it('applies a change sent after start before the next upcall it decides', async () => {
    const udp = (srcPort: number): Uint8Array => from(a, b, { proto: 'udp', srcPort, dstPort: 7 });
    na.send(udp(5000));
    await until('the drop decided', () => slow.stats().slowPath.drops['security-group'] === 1);
    expect(nb.recv()).toHaveLength(0);
    // The core held: change() does not wait for it, and on resume the change comes before the upcall.
    await rig.core.quiesce();
    na.send(udp(5001));
    rig.apply({ op: 'addRule', args: ['ping', { direction: 'ingress', protocol: 'udp', ports: [7, 7] }] });
    await rig.core.resume();
    expect(await nb.waitRecv(1)).toHaveLength(1);
    // With the core running, change() returns once the core has taken it.
    rig.apply({ op: 'addRule', args: ['ping', { direction: 'ingress', protocol: 'udp', ports: [9, 9] }] });
    na.send(from(a, b, { proto: 'udp', srcPort: 5002, dstPort: 9 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    expect(slow.stats().slowPath.drops['security-group']).toBe(1);
  });

  it("a port's removal flushes its own flows only: another pair's flow stays in the fast path", async () => {
    await establish(rig.sw, na, nb, from(a, b, { proto: 'icmp', id: 30 }));
    const { p: e } = rig.served('e', '198.19.1.50');
    const flushed = rig.sw.stats().flushed;
    // Off the slow path and the switch, then out of the model (the order host.network keeps).
    await slow.removePort(e.id);
    await rig.sw.removePort(e.id);
    rig.apply({ op: 'deletePort', args: ['e'] });
    await slow.settled();
    const mode = (): number => rig.memory.view.getUint32(rig.sw.state.base + NET_SW_FLUSH_MODE, true);
    await until('the flush ran its lap', () => mode() === NET_FLUSH_NONE && rig.sw.stats().flushed >= flushed);
    const upcalls = rig.sw.stats().upcalls;
    na.send(from(a, b, { proto: 'icmp', id: 30 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    expect(rig.sw.stats().upcalls).toBe(upcalls);
  });

  it('a port created and added after start is served', async () => {
    const { p: c, n: nc } = rig.served('c', '198.19.1.30');
    nc.send(from(c, b, { proto: 'icmp', id: 7 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    await slow.settled();
    expect(slow.stats().slowPath.drops['spoofed-source']).toBe(0);
  });

  it('removePort resolves, and the port is no longer drained', async () => {
    const { p: d, n: nd } = rig.served('d', '198.19.1.40');
    nd.send(from(d, b, { proto: 'icmp', id: 8 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    await slow.removePort(d.id);
    const before = { sw: rig.sw.stats().upcalls, slow: slow.stats().runner.upcalls };
    // A new flow from d: the switch still asks, nobody answers.
    nd.send(from(d, b, { proto: 'icmp', id: 9 }));
    await until('the switch made the upcall', () => rig.sw.stats().upcalls > before.sw);
    expect(await nb.waitRecv(1, 300)).toHaveLength(0);
    expect(slow.stats().runner.upcalls).toBe(before.slow);
    // The other ports are still served.
    na.send(from(a, b, { proto: 'icmp', id: 10 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
  });

  it('detach() takes it off the core: no error counted, the pool then closes', async () => {
    const core = rig.core;
    await establish(rig.sw, na, nb, from(a, b, { proto: 'icmp', id: 11 }));
    const owners = (): string[] => rig.memory.regions().map((r) => r.owner);
    expect(owners().filter((o) => o.startsWith('slow-path-core-'))).toHaveLength(3);
    await slow.detach();
    expect(slow.running).toBe(false);
    expect(slow.failure).toBeNull();
    expect(() => slow.change({ removePort: a.id })).toThrow(/is gone/);
    // The switch runs on: an installed flow still forwards, a new one gets no answer.
    na.send(from(a, b, { proto: 'icmp', id: 11 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    na.send(from(a, b, { proto: 'icmp', id: 12 }));
    expect(await nb.waitRecv(1, 300)).toHaveLength(0);
    expect(core.counters().errors).toBe(0);
    // Its memory (arena, change log, counters) and the init's are freed.
    expect(owners().filter((o) => o.startsWith('slow-path-core-') || o === 'slow-path')).toEqual([]);
    expect(rig.memory.regions().filter((r) => r.name.startsWith('host-job-init'))).toEqual([]);
    rig.slow = null;
    await expect(rig.close()).resolves.toBeUndefined();
  });
});

describe('a host job that throws is detached (fail closed)', () => {
  const rig = new Rig();
  let a: Port, b: Port;
  let na: GuestNic, nb: GuestNic;

  beforeAll(async () => {
    ({ a, b, na, nb } = await rig.startPair());
  }, 30_000);
  afterAll(() => rig.close());

  it('a job whose init throws is not attached: its memory is freed, the core runs on', async () => {
    const regions = rig.memory.regions().length;
    const e = await SlowPathOnCore.attach(rig.core, rig.memory, {
      sw: rig.sw,
      ports: [],
      model: MODEL,
      ops: [{ op: 'deleteVpc', args: ['nope'] }],
    }).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/host job 'net-slow-path': .*nope/);
    expect(rig.memory.regions()).toHaveLength(regions);
    expect(rig.slow!.running).toBe(true);
    expect(rig.core.counters().errors).toBe(0);
  });

  it("a change the replica refuses fails the job with its reason; the core's switch runs on", async () => {
    const slow = rig.slow!;
    const core = rig.core;
    await establish(rig.sw, na, nb, from(a, b, { proto: 'icmp', id: 1 }));
    const failed = new Promise<HostJobHandle>((resolve, reject) => {
      core.once('host-job-failed', resolve);
      setTimeout(() => reject(new Error('no host-job-failed event')), 5000).unref();
    });
    // A change the main model never accepted: the replica refuses it.
    slow.change({ model: { op: 'deleteVpc', args: ['nope'] } });
    const h = await failed;
    expect(h.kind).toBe('net-slow-path');
    expect(h.status).toBe('failed');
    expect(h.failure?.message).toMatch(/^host job: .*nope/);
    expect(slow.running).toBe(false);
    expect(slow.failure).toMatch(/nope/);
    await slow.settled(); // resolves: nothing runs the changes any more
    // The switch's fast path still forwards the installed flow; a new flow gets no answer.
    na.send(from(a, b, { proto: 'icmp', id: 1 }));
    expect(await nb.waitRecv(1)).toHaveLength(1);
    na.send(from(a, b, { proto: 'icmp', id: 2 }));
    expect(await nb.waitRecv(1, 300)).toHaveLength(0);
    expect(core.counters().errors).toBe(1);
    expect(core.runState()).not.toBe('stopped');
    // Detaching a failed job sends nothing; the pool closes cleanly.
    await slow.detach();
    rig.slow = null;
    await rig.close();
  });
});
