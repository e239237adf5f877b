import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { Revalidator } from '../../dpu/net/revalidator.js';
import { SlowPath } from '../../dpu/net/slow-path.js';
import { SlowPathRunner } from '../../dpu/net/slow-path-runner.js';
import { VpcModel } from '../../dpu/net/vpc-model.js';
import { applyModelOp, replayDowncalls, type ModelOp } from '../../dpu/net/vpc-model-ops.js';
import type { Downcall } from '../../dpu/net/flow-actions.js';
import type { SlowPathSwitch } from '../../dpu/net/slow-path-switch.js';

/** VpcSlowPath.stats(). */
export interface VpcSlowPathStats {
  connections: number;
  upcalls: number;
  downcalls: number;
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

/** The bench's VPC model's options. */
export const BENCH_MODEL = { seed: 17 };

/**
 * The bench's VPC as the model's changes (vpc-model-ops.ts): 198.18.0.0/16 with one subnet, the
 * sender's port 'a' and the receiver's port 'b', behind a stateful security group admitting UDP
 * in (so every new flow runs the classifier and conntrack).
 */
export function benchVpcOps(ports: readonly [BenchVpcPort, BenchVpcPort]): ModelOp[] {
  return [
    { op: 'createVpc', args: [{ name: 'bench', cidr: '198.18.0.0/16' }] },
    { op: 'createSubnet', args: [{ name: 'bench', vpc: 'bench', cidr: '198.18.0.0/24' }] },
    {
      op: 'createSecurityGroup',
      args: [
        {
          name: 'udp-in',
          rules: [
            { direction: 'ingress', protocol: 'udp' },
            { direction: 'egress', protocol: 'any' },
          ],
        },
      ],
    },
    { op: 'createPort', args: [{ name: 'a', subnet: 'bench', ip: ports[0].ip, mac: ports[0].mac }] },
    {
      op: 'createPort',
      args: [{ name: 'b', subnet: 'bench', ip: ports[1].ip, mac: ports[1].mac, securityGroups: ['udp-in'] }],
    },
  ];
}

/** The switch ports (the model's ids) of the bench's two guests under `ops`: add their devices there. */
export function benchVpcIds(runtime: KernelRuntime, ops: readonly ModelOp[]): [number, number] {
  const model = new VpcModel({ runtime, ...BENCH_MODEL });
  try {
    for (const op of ops) applyModelOp(model, op);
    return [model.port('a').id, model.port('b').id];
  } finally {
    model.dispose();
  }
}

/**
 * The real slow path for the net bench on the calling thread (benchVpcOps' VPC), and the runner
 * between the switch's rings and the slow path. The switch ports are the model's ids (`ids`).
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
    ops: readonly ModelOp[],
  ) {
    // The revalidator follows the model from here on: it syncs each port's security groups.
    this.reval = new Revalidator(model, slow, (d) => (this.runner ? this.runner.send(d) : this.early.push(...d)));
    for (const op of ops) applyModelOp(model, op);
    this.ids = [model.port('a').id, model.port('b').id];
  }

  /** `ctMaxEntries`: connections the tracker may hold (every new flow of the bench is one). */
  static create(
    runtime: KernelRuntime,
    ports: readonly [BenchVpcPort, BenchVpcPort],
    ctMaxEntries: number,
  ): VpcSlowPath {
    const model = new VpcModel({ runtime, ...BENCH_MODEL });
    const slow = new SlowPath(model, { runtime, clock: () => performance.now(), ctMaxEntries });
    return new VpcSlowPath(runtime, model, slow, benchVpcOps(ports));
  }

  /** Starts draining the two ports' upcall rings of `sw` (their devices on it) as the caller pumps. */
  start(sw: SlowPathSwitch): void {
    const clock = (): number => performance.now();
    const runner = new SlowPathRunner(sw, this.runtime.memory, this.slow, this.reval, { clock });
    this.runner = runner;
    runner.send(replayDowncalls(this.early));
    this.early = [];
    for (const id of this.ids) runner.addPort(id);
  }

  /** Handles the upcalls waiting now (the caller's thread runs the switch too). */
  pump(): number {
    return this.started().pump();
  }

  private started(): SlowPathRunner {
    if (!this.runner) throw new QingtianError(ErrorCode.DeviceState, 'VpcSlowPath: not started (start() first)');
    return this.runner;
  }

  /** Connections tracked, upcalls the runner took and downcalls it wrote, its busy time; the slow path's verdicts. */
  stats(): VpcSlowPathStats {
    const r = this.started().stats();
    const s = this.slow.stats();
    return {
      connections: s.connections,
      upcalls: r.upcalls,
      downcalls: r.downcalls,
      busyMs: r.busyMs,
      installed: s.counters.installed,
      reinjected: s.counters.reinjected,
      dropped: Object.values(s.drops).reduce((a, b) => a + b, 0),
    };
  }

  stop(): void {
    this.slow.groups.dispose();
    this.model.dispose();
  }
}
