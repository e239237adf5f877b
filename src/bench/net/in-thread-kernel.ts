import { LoaderRuntime } from '../../dpu/kernels/kernel-runtime.js';
import type { SwitchStats } from '../../dpu/net/switch-stats.js';
import { takeUpcalls } from '../../dpu/net/upcall-record.js';
import { VSwitch } from '../../dpu/net/vswitch.js';
import { HostMemory } from '../../memory/host-memory.js';
import type { BenchDriver, Frames } from './bench-driver.js';
import { inThreadRig } from './in-thread-rig.js';
import type { TsSwitch } from './ts-switch.js';

const MIB = 1 << 20;

/** Frames per second of wall time and per second of process CPU (the kernel alone, whatever the load). */
export interface FrameRate {
  wall: number;
  cpu: number;
}

/** Frames the harness published and frames that arrived, over some passes. */
export interface FrameCount {
  sent: number;
  delivered: number;
}

/**
 * The pipeline's cost on one thread, no core and no worker: the harness refills the rings, then
 * one switch run; the same for the TS peer. What is left when scheduling is taken out. Every
 * flow of the stream is installed first (warm) through an in-thread stand-in slow path.
 */
export class InThreadKernel {
  /** Frames published and delivered since start, per switch. */
  readonly counts = { wasm: { sent: 0, delivered: 0 }, ts: { sent: 0, delivered: 0 } };

  private constructor(
    private readonly memory: HostMemory,
    private readonly sw: VSwitch,
    private readonly dw: BenchDriver,
    private readonly ts: TsSwitch,
    private readonly dt: BenchDriver,
    /** Flows of the stream. */
    readonly flows: number,
  ) {}

  /** `flows` distinct flows in the stream (default 1024); `memBytes` host memory (default 256 MiB). */
  static start(o: {
    frames: Frames;
    macs: { a: number[]; b: number[] };
    flows?: number;
    memBytes?: number;
  }): InThreadKernel {
    const memory = new HostMemory({ sizeBytes: o.memBytes ?? 256 * MIB });
    const rt = new LoaderRuntime(memory);
    const sw = new VSwitch(rt, { name: 'bench-k', maxPorts: 4, flowCapacity: 65536, maxBurst: 64, maxIdleTicks: 0 });
    const flows = o.flows ?? 1024;
    const { dw, dt, ts } = inThreadRig(memory, rt, sw, {
      prefix: 'k',
      vnics: [0, 1],
      macs: o.macs,
      frames: o.frames,
      flows,
      preinstall: 0,
    });
    return new InThreadKernel(memory, sw, dw, ts, dt, flows);
  }

  /**
   * Every flow once through an in-thread slow path (install + re-inject), on both. Returns the
   * upcalls taken and the answers written (one per upcall).
   */
  warm(): { upcalls: number; answered: number } {
    let upcalls = 0;
    let answered = 0;
    for (let i = 0; i < 8; i++) {
      this.counts.wasm.sent += this.dw.fillTx(1 << 30);
      this.sw.runOnce(1024);
      for (const u of takeUpcalls(this.memory, this.sw.upcallRing(0))) {
        upcalls++;
        const key = u.parse.slice(0, 48);
        // OUTPUT to port 1 (the receiver), re-injected as from port 0.
        const actions = Uint8Array.of(1, 1, 1, 0);
        if (this.sw.downcall({ op: 'install-reinject', key, actions, port: 0, frame: u.frame })) answered++;
      }
      this.sw.runOnce(1024);
      this.counts.wasm.delivered += this.dw.reapRx();
      this.counts.ts.sent += this.dt.fillTx(1 << 30);
      while (this.ts.burst());
      this.counts.ts.delivered += this.dt.reapRx();
    }
    return { upcalls, answered };
  }

  /** One pass of the Wasm switch: refill, one run, reap. */
  private passWasm(): void {
    this.counts.wasm.sent += this.dw.fillTx(1 << 30);
    this.sw.runOnce(1024);
    this.counts.wasm.delivered += this.dw.reapRx();
  }

  /** One pass of the TS peer. */
  private passTs(): void {
    this.counts.ts.sent += this.dt.fillTx(1 << 30);
    while (this.ts.burst());
    this.counts.ts.delivered += this.dt.reapRx();
  }

  streamWasm(ms: number): FrameRate {
    return this.timed(ms, this.counts.wasm, () => this.passWasm());
  }

  streamTs(ms: number): FrameRate {
    return this.timed(ms, this.counts.ts, () => this.passTs());
  }

  /**
   * `n` passes of one switch, between two settles (runs without refill until nothing more
   * arrives): the frames these passes published and the frames they delivered.
   */
  passes(which: 'wasm' | 'ts', n: number): FrameCount {
    const c = this.counts[which];
    this.settle(which);
    const s0 = c.sent;
    const d0 = c.delivered;
    for (let i = 0; i < n; i++) {
      if (which === 'wasm') this.passWasm();
      else this.passTs();
    }
    this.settle(which);
    return { sent: c.sent - s0, delivered: c.delivered - d0 };
  }

  private settle(which: 'wasm' | 'ts'): void {
    const d = which === 'wasm' ? this.dw : this.dt;
    for (let idle = 0; idle < 4;) {
      if (which === 'wasm') this.sw.runOnce(1024);
      else while (this.ts.burst());
      const got = d.reapRx();
      this.counts[which].delivered += got;
      idle = got === 0 ? idle + 1 : 0;
    }
  }

  /** The Wasm switch's counters. */
  switchStats(): SwitchStats {
    return this.sw.stats();
  }

  close(): void {
    this.sw.free();
  }

  private timed(ms: number, c: FrameCount, pass: () => void): FrameRate {
    const c0 = process.cpuUsage();
    const d0 = c.delivered;
    const end = performance.now() + ms;
    const t0 = performance.now();
    while (performance.now() < end) for (let i = 0; i < 16; i++) pass();
    const n = c.delivered - d0;
    const cpu = process.cpuUsage(c0);
    return { wall: n / ((performance.now() - t0) / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6) };
  }
}
