import { LoaderRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { SwitchStats } from '../../dpu/net/switch-stats.js';
import { VSwitch } from '../../dpu/net/vswitch.js';
import { HostMemory } from '../../memory/host-memory.js';
import type { BenchDriver, Frames } from './bench-driver.js';
import { inThreadRig, macString } from './in-thread-rig.js';
import type { TsSwitch } from './ts-switch.js';
import { VpcSlowPath, type VpcSlowPathStats } from './vpc-slow-path.js';

const MIB = 1 << 20;

/**
 * One measurement: flows set up per second of wall time and per second of process CPU; frames of
 * new flows the harness published and frames that arrived.
 */
export interface FlowRate {
  wall: number;
  cpu: number;
  sent: number;
  delivered: number;
}

/**
 * New flows on one thread, no core and no worker: the harness publishes frames of new flows, the
 * switch runs once (misses → upcalls), the routing-table slow path decides the burst (VPC, LPM,
 * security group, conntrack), the switch runs again (installs, re-injections), the harness reaps.
 * With `installed` flows already in the table. What a decision costs when scheduling is taken
 * out; the peer is the plain-TS switch with its static in-thread slow path, same harness.
 */
export class InThreadFlows {
  private constructor(
    private readonly sw: VSwitch,
    private readonly slow: VpcSlowPath,
    private readonly dw: BenchDriver,
    private readonly ts: TsSwitch,
    private readonly dt: BenchDriver,
  ) {}

  static start(o: { installed: number; frames: Frames; macs: { a: number[]; b: number[] } }): InThreadFlows {
    const memory = new HostMemory({ sizeBytes: (o.installed > 200_000 ? 1536 : 512) * MIB });
    const rt = new LoaderRuntime(memory);
    const sw = new VSwitch(rt, {
      name: 'bench-kf',
      maxPorts: 4,
      flowCapacity: o.installed > 200_000 ? 1 << 21 : 1 << 18,
      maxBurst: 64,
      upcallRecords: 512,
      downcallRecords: 4096,
      maxIdleTicks: 0,
    });
    const f = o.frames;
    const slow = VpcSlowPath.create(
      rt,
      [
        { mac: macString(o.macs.a), ip: f.srcIp.join('.') },
        { mac: macString(o.macs.b), ip: f.dstIp.join('.') },
      ],
      1 << 21,
    );
    const { dw, dt, ts } = inThreadRig(memory, rt, sw, {
      prefix: 'kf',
      vnics: slow.ids,
      macs: o.macs,
      frames: f,
      flows: 1,
      preinstall: o.installed,
    });
    slow.start(sw);
    const k = new InThreadFlows(sw, slow, dw, ts, dt);
    k.preinstall(o.installed);
    return k;
  }

  /** Installs `n` flows the traffic never hits (distinct source addresses). */
  private preinstall(n: number): void {
    const key = new Uint8Array(48);
    const v = new DataView(key.buffer);
    const actions = Uint8Array.of(1, 1, 1, 0);
    v.setUint16(38, 0x0800, true);
    key[36] = 17;
    for (let i = 0; i < n; i++) {
      v.setUint32(0, 0x0a000000 + i, false);
      while (!this.sw.downcall({ op: 'install', key, actions })) this.sw.runOnce(4096);
    }
    while (this.sw.runOnce(4096) > 0);
  }

  flowCount(): number {
    return this.sw.stats().flows;
  }

  connections(): number {
    return this.slow.stats().connections;
  }

  /** The slow path's counters (upcalls taken, answers, verdicts, connections). */
  slowStats(): VpcSlowPathStats {
    return this.slow.stats();
  }

  /** The Wasm switch's counters. */
  switchStats(): SwitchStats {
    return this.sw.stats();
  }

  /** `count` new flows through the Wasm switch and the routing-table slow path, `window` outstanding. */
  wasm(count: number, base: number, window = 256): FlowRate {
    return measure(this.dw, count, base, window, () => {
      this.sw.runOnce(1024);
      this.slow.pump();
      this.sw.runOnce(1024);
    });
  }

  /** The same through the plain-TS switch (its slow path is an in-thread static table). */
  peer(count: number, base: number, window = 256): FlowRate {
    return measure(this.dt, count, base, window, () => {
      while (this.ts.burst());
    });
  }

  async close(): Promise<void> {
    this.slow.stop();
    this.sw.free();
  }
}

function measure(d: BenchDriver, count: number, base: number, window: number, step: () => void): FlowRate {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let sent = 0;
  let delivered = 0;
  let idle = 0;
  while (delivered < count && idle < 1000) {
    while (sent < count && sent - delivered < window && d.txRoom() > 0) {
      const f = base + sent;
      d.nextFrame((f >>> 16) + 1, f & 0xffff);
      d.fillTx(1);
      sent++;
    }
    step();
    const got = d.reapRx();
    delivered += got;
    idle = got > 0 ? 0 : idle + 1;
  }
  const s = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { wall: delivered / s, cpu: delivered / ((c.user + c.system) / 1e6), sent, delivered };
}
