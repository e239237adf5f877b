import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { Revalidator } from '../../dpu/net/revalidator.js';
import { SlowPath } from '../../dpu/net/slow-path.js';
import { SlowPathRunner } from '../../dpu/net/slow-path-runner.js';
import { VpcModel } from '../../dpu/net/vpc-model.js';
import type { Downcall } from '../../dpu/net/flow-actions.js';
import type { SlowPathSwitch } from '../../dpu/net/slow-path-switch.js';

/** VpcSlowPath.stats(). */
export interface VpcSlowPathStats {
  connections: number;
  upcalls: number;
  downcalls: number;
  sleeps: number;
  spins: number;
  spinHits: number;
  busyMs: number;
  /** Upcalls the slow path answered by installing a flow, by re-injecting the frame, by a drop. */
  installed: number;
  reinjected: number;
  dropped: number;
}

/** One of the bench's two guests as the VPC model holds it. */
export interface BenchVpcPort {
  mac: string;
  ip: string;
}

/**
 * The real slow path for the net bench: a VPC (198.18.0.0/16, one subnet), the sender's port
 * and the receiver's port with a stateful security group admitting UDP in (so every new flow
 * runs the classifier and conntrack), and the runner between the switch's rings and the slow
 * path, on the thread that starts it (the bench's own, or a worker: vpc-slow-path-thread.ts).
 * The switch ports are the model's ids (`ids`); add the devices there.
 */
export class VpcSlowPath {
  readonly ids: readonly [number, number];
  private runner: SlowPathRunner | undefined;
  private readonly reval: Revalidator;
  /** What the revalidator sent before the runner existed (the ports' first syncs). */
  private early: Downcall[] = [];

  private constructor(
    private readonly runtime: KernelRuntime,
    private readonly model: VpcModel,
    private readonly slow: SlowPath,
    ports: readonly [BenchVpcPort, BenchVpcPort],
  ) {
    // The revalidator follows the model from here on: it syncs each port's security groups.
    this.reval = new Revalidator(model, slow, (d) => (this.runner ? this.runner.send(d) : this.early.push(...d)));
    const a = model.createPort({ name: 'a', subnet: 'bench', ip: ports[0].ip, mac: ports[0].mac });
    const b = model.createPort({
      name: 'b',
      subnet: 'bench',
      ip: ports[1].ip,
      mac: ports[1].mac,
      securityGroups: ['udp-in'],
    });
    this.ids = [a.id, b.id];
  }

  /**
   * `ctMaxEntries`: connections the tracker may hold (every new flow of the bench is one).
   * `trace` (host address, 0: none): each decided packet's stage stamps, laid out as the stand-in
   * writes them (responder-worker.ts): per UDP source port, f64 taken and f64 decided (hrtime ns).
   */
  static create(
    runtime: KernelRuntime,
    ports: readonly [BenchVpcPort, BenchVpcPort],
    ctMaxEntries: number,
    trace = 0,
  ): VpcSlowPath {
    const model = new VpcModel({ runtime, seed: 17 });
    model.createVpc({ name: 'bench', cidr: '198.18.0.0/16' });
    model.createSubnet({ name: 'bench', vpc: 'bench', cidr: '198.18.0.0/24' });
    model.createSecurityGroup({
      name: 'udp-in',
      rules: [
        { direction: 'ingress', protocol: 'udp' },
        { direction: 'egress', protocol: 'any' },
      ],
    });
    const slow = new SlowPath(model, { runtime, clock: () => performance.now(), ctMaxEntries });
    if (trace !== 0) {
      const f64 = new Float64Array(runtime.memory.memory.buffer);
      const handle = slow.handle.bind(slow);
      slow.handle = (pkts) => {
        const t0 = Number(process.hrtime.bigint());
        const out = handle(pkts);
        const t1 = Number(process.hrtime.bigint());
        for (const p of pkts) {
          const sport = (p.frame[34]! << 8) | p.frame[35]!;
          f64[(trace >> 3) + sport * 4] = t0;
          f64[(trace >> 3) + sport * 4 + 1] = t1;
        }
        return out;
      };
    }
    return new VpcSlowPath(runtime, model, slow, ports);
  }

  /**
   * Starts draining the two ports' upcall rings of `sw` (after their devices are on the switch):
   * on an event-loop task of this thread, or (`loop: false`) only when the caller pumps or runs
   * runBlocking().
   */
  start(sw: SlowPathSwitch, o: { loop?: boolean } = {}): void {
    const clock = (): number => performance.now();
    const runner = new SlowPathRunner(sw, this.runtime.memory, this.slow, this.reval, { clock });
    this.runner = runner;
    runner.send(this.early);
    this.early = [];
    for (const id of this.ids) runner.addPort(id);
    if (o.loop !== false) runner.start();
  }

  /** Handles the upcalls waiting now (the caller's thread runs the switch too). */
  pump(): number {
    return this.started().pump();
  }

  /** Runs the runner's loop on this thread, blocking, until `attention()` (SlowPathRunner.runBlocking). */
  runBlocking(attention: () => boolean): void {
    this.started().runBlocking(attention);
  }

  private started(): SlowPathRunner {
    if (!this.runner) throw new QingtianError(ErrorCode.DeviceState, 'VpcSlowPath: not started (start() first)');
    return this.runner;
  }

  /**
   * Connections tracked, upcalls the runner took and downcalls it wrote, its sleeps on the bell,
   * spins that found more, time it spent handling upcalls; the slow path's verdicts.
   */
  stats(): VpcSlowPathStats {
    const r = this.started().stats();
    const s = this.slow.stats();
    return {
      connections: s.connections,
      upcalls: r.upcalls,
      downcalls: r.downcalls,
      sleeps: r.sleeps,
      spins: r.spins,
      spinHits: r.spinHits,
      busyMs: r.busyMs,
      installed: s.counters.installed,
      reinjected: s.counters.reinjected,
      dropped: Object.values(s.drops).reduce((a, b) => a + b, 0),
    };
  }

  async stop(): Promise<void> {
    await this.runner?.stop();
    this.slow.groups.dispose();
    this.model.dispose();
  }
}
