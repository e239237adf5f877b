import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { Revalidator } from '../../dpu/net/revalidator.js';
import { SlowPath } from '../../dpu/net/slow-path.js';
import { SlowPathRunner } from '../../dpu/net/slow-path-runner.js';
import { VpcModel } from '../../dpu/net/vpc-model.js';
import type { VSwitch } from '../../dpu/net/vswitch.js';

/** One of the bench's two guests as the VPC model holds it. */
export interface BenchVpcPort {
  mac: string;
  ip: string;
}

/**
 * The real slow path for the net bench: a VPC (198.18.0.0/16, one subnet), the sender's port
 * and the receiver's port with a stateful security group admitting UDP in (so every new flow
 * runs the classifier and conntrack), and the runner on the calling thread between the switch's
 * rings and the slow path. The switch ports are the model's ids (`ids`); add the devices there.
 */
export class VpcSlowPath {
  readonly ids: readonly [number, number];
  private readonly runner: SlowPathRunner;

  private constructor(
    runtime: KernelRuntime,
    private readonly model: VpcModel,
    private readonly slow: SlowPath,
    sw: VSwitch,
    ports: readonly [BenchVpcPort, BenchVpcPort],
  ) {
    // The revalidator follows the model from here on: it syncs each port's security groups.
    const reval = new Revalidator(model, slow, (d) => this.runner.send(d));
    this.runner = new SlowPathRunner(sw, runtime.memory, slow, reval, { clock: () => performance.now() });
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
    sw: VSwitch,
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
    return new VpcSlowPath(runtime, model, slow, sw, ports);
  }

  /**
   * Starts draining the two ports' upcall rings (after their devices are on the switch): on its
   * own loop, or (`loop: false`) only when the caller pumps.
   */
  start(o: { loop?: boolean } = {}): void {
    for (const id of this.ids) this.runner.addPort(id);
    if (o.loop !== false) this.runner.start();
  }

  /** Handles the upcalls waiting now (the caller's thread runs the switch too). */
  pump(): number {
    return this.runner.pump();
  }

  /** Connections tracked, upcalls the runner took, its sleeps on the bell and spins that found more. */
  stats(): { connections: number; upcalls: number; sleeps: number; spins: number; spinHits: number } {
    const r = this.runner.stats();
    return {
      connections: this.slow.stats().connections,
      upcalls: r.upcalls,
      sleeps: r.sleeps,
      spins: r.spins,
      spinHits: r.spinHits,
    };
  }

  async stop(): Promise<void> {
    await this.runner.stop();
    this.slow.groups.dispose();
    this.model.dispose();
  }
}
