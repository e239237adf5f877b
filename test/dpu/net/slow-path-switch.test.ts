import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatMac } from '../../../src/dpu/net/mac-address.js';
import { NET_SW_ORDERED } from '../../../src/dpu/net/net-layout.js';
import { Revalidator } from '../../../src/dpu/net/revalidator.js';
import { SlowPath } from '../../../src/dpu/net/slow-path.js';
import { SlowPathRunner } from '../../../src/dpu/net/slow-path-runner.js';
import { SharedSwitchEnd } from '../../../src/dpu/net/slow-path-switch.js';
import { VpcModel } from '../../../src/dpu/net/vpc-model.js';
import type { Port } from '../../../src/dpu/net/vpc-resources.js';
import { from } from './helpers.js';
import { NetRig, type TestNic } from './net-rig.js';

/**
 * The runner over a SharedSwitchEnd (the switch as another thread sees it: plain addresses, its
 * own net kernel instance) instead of the VSwitch object: the same decisions reach the fast path.
 */
let rig: NetRig;
let model: VpcModel;
let slow: SlowPath;
let end: SharedSwitchEnd;
let runner: SlowPathRunner;
let a: Port, b: Port;
let nicA: TestNic, nicB: TestNic;
const now = 1000;

beforeEach(() => {
  rig = new NetRig({ switch: { maxPorts: 32, upcallRecords: 64 } });
  model = new VpcModel({ runtime: rig.rt, seed: 11 });
  model.createVpc({ name: 'blue', cidr: '198.19.0.0/16' });
  model.createSubnet({ name: 'web', vpc: 'blue', cidr: '198.19.1.0/24' });
  slow = new SlowPath(model, { runtime: rig.rt, clock: () => now });
  const reval = new Revalidator(model, slow, (d) => runner.send(d));
  a = model.createPort({ name: 'a', subnet: 'web', ip: '198.19.1.10' });
  b = model.createPort({ name: 'b', subnet: 'web', ip: '198.19.1.20' });
  nicA = rig.addNic(a.id, { mac: formatMac(a.mac) });
  nicB = rig.addNic(b.id, { mac: formatMac(b.mac) });
  end = new SharedSwitchEnd(rig.rt, rig.sw.slowPathEnd([a.id, b.id]));
  runner = new SlowPathRunner(end, rig.memory, slow, reval, { clock: () => now, sweepMs: 20 });
  runner.addPort(a.id);
  runner.addPort(b.id);
  nicA.postRx(64);
  nicB.postRx(64);
  for (let i = 0; i < 10_000 && runner.busy(); i++) rig.run();
  expect(runner.busy()).toBe(false);
});
afterEach(() => {
  end.free();
  slow.groups.dispose();
  model.dispose();
});

describe('slow-path runner over a SharedSwitchEnd', () => {
  it('describes the switch by addresses, and turns upcall ordering on through them', () => {
    const init = rig.sw.slowPathEnd([a.id]);
    expect(init.stateBase).toBe(rig.sw.state.base);
    expect(init.upcallRings).toEqual([
      { port: a.id, base: rig.sw.upcallRing(a.id).base, capacity: rig.sw.upcallRing(a.id).capacity },
    ]);
    // Not on a core: no doorbell to ring.
    expect(init.doorbell).toBe(0);
    expect(end.upcallBellAddr).toBe(rig.sw.upcallBellAddr);
    expect(rig.memory.view.getUint32(rig.sw.state.base + NET_SW_ORDERED, true)).toBe(1);
    expect(() => end.upcallRing(9999)).toThrow(/no upcall ring for port 9999/);
  });

  it('decides first packets, installs their flows, and reads their stamps like the VSwitch', () => {
    nicA.send(from(a, b, { proto: 'udp', srcPort: 4000, dstPort: 9 }));
    rig.run();
    expect(runner.pump()).toBe(1);
    rig.run();
    expect(nicB.recv()).toHaveLength(1);
    nicA.send(from(a, b, { proto: 'udp', srcPort: 4000, dstPort: 9 }));
    rig.run();
    expect(nicB.recv()).toHaveLength(1);
    expect(rig.sw.stats().upcalls).toBe(1);
    const keys = rig.sw.flows().map((f) => f.key);
    expect(keys).toHaveLength(1);
    expect(end.flowStamps(keys)).toEqual(rig.sw.flowStamps(keys));
    expect(end.flowStamps(keys)[0]).toBeTypeOf('number');
    expect(end.flowStamps([new Uint8Array(48)])).toEqual([undefined]);
    expect(runner.stats()).toMatchObject({ upcalls: 1, downcalls: 1 });
    expect(runner.stats().busyMs).toBeGreaterThan(0);
  });
});
