import { Classifier } from '../flow/classifier.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { classifierRuleFor } from './security-group-rules.js';
import type { Port, SgRule, Vpc } from './vpc-resources.js';

export type Direction = 'ingress' | 'egress';

/** One header to check: the port it leaves (egress) or enters (ingress), and its 5-tuple. */
export interface SgQuery {
  port: Port;
  direction: Direction;
  src: number;
  dst: number;
  /** As the packet parser keys it: TCP/UDP ports; ICMP type << 8 | code and the echo identifier. */
  srcPort: number;
  dstPort: number;
  proto: number;
}

interface PortRules {
  ingress: number[];
  egress: number[];
  /** A sync failed (a classifier was full): the port admits nothing until the next good sync. */
  broken: boolean;
}

interface VpcClassifiers {
  ingress: Classifier;
  egress: Classifier;
  /** classifier rule id → (port, group rule), per direction. */
  owners: { ingress: Map<number, [Port, SgRule]>; egress: Map<number, [Port, SgRule]> };
}

/**
 * Security-group evaluation on the `flow` kernel's classifier. Each VPC has two classifiers, one
 * per direction; every allow rule of every group on a port becomes one classifier rule pinned to
 * the port's address, so a lookup answers "does any rule of this port's groups admit this
 * header?" in one TupleMerge search. A port with no groups admits everything (the caller skips
 * it). Stateless: connection tracking (conntrack.ts) lets replies through.
 */
export class SecurityGroups {
  private readonly perVpc = new Map<Vpc, VpcClassifiers>();
  private readonly perPort = new Map<Port, PortRules>();
  private readonly headers = new Uint32Array(5 * 256);
  private readonly results = new Int32Array(256);
  /** Hits per group rule id (allowed packets the slow path saw). */
  readonly ruleHits = new Map<number, number>();

  constructor(private readonly options: { runtime?: KernelRuntime | undefined; capacityPerVpc?: number | undefined }) {}

  /** Brings the port's classifier rules in line with its groups (after any change to them). */
  sync(port: Port): void {
    this.unsync(port);
    if (port.kind === 'remote' || port.securityGroups.length === 0) return;
    const c = this.classifiers(port.vpc);
    const rules: PortRules = { ingress: [], egress: [], broken: false };
    this.perPort.set(port, rules);
    try {
      for (const g of port.securityGroups) {
        for (const r of g.rules.values()) {
          const id = c[r.direction].insert(classifierRuleFor(port, r));
          rules[r.direction].push(id);
          c.owners[r.direction].set(id, [port, r]);
        }
      }
    } catch (e) {
      rules.broken = true;
      throw e;
    }
  }

  /** Removes the port's rules (it was deleted or lost its groups). */
  unsync(port: Port): void {
    const rules = this.perPort.get(port);
    if (!rules) return;
    const c = this.perVpc.get(port.vpc)!;
    for (const d of ['ingress', 'egress'] as const) {
      for (const id of rules[d]) {
        c[d].remove(id);
        c.owners[d].delete(id);
      }
    }
    this.perPort.delete(port);
  }

  /** Whether the port filters at all. */
  filters(port: Port): boolean {
    return port.kind !== 'remote' && port.securityGroups.length > 0;
  }

  /** Admit (true) or deny each query: one classifier call per direction and VPC per 256 queries. */
  checkBurst(queries: readonly SgQuery[]): boolean[] {
    const out = new Array<boolean>(queries.length).fill(true);
    const groups = new Map<Classifier, { idx: number[]; owners: Map<number, [Port, SgRule]> }>();
    queries.forEach((q, i) => {
      if (!this.filters(q.port)) return;
      const rules = this.perPort.get(q.port);
      if (!rules || rules.broken) {
        out[i] = false;
        return;
      }
      const c = this.perVpc.get(q.port.vpc)!;
      const cls = c[q.direction];
      let g = groups.get(cls);
      if (!g) groups.set(cls, (g = { idx: [], owners: c.owners[q.direction] }));
      g.idx.push(i);
    });
    for (const [cls, g] of groups) {
      for (let at = 0; at < g.idx.length; at += this.results.length) {
        const n = Math.min(this.results.length, g.idx.length - at);
        for (let j = 0; j < n; j++) {
          const q = queries[g.idx[at + j]!]!;
          this.headers.set([q.src >>> 0, q.dst >>> 0, q.srcPort, q.dstPort, q.proto], 5 * j);
        }
        cls.classifyInto(this.headers.subarray(0, 5 * n), this.results);
        for (let j = 0; j < n; j++) {
          const i = g.idx[at + j]!;
          const owner = g.owners.get(this.results[j]!);
          const ok = owner !== undefined && owner[0] === queries[i]!.port;
          out[i] = ok;
          if (ok) this.ruleHits.set(owner[1].id, (this.ruleHits.get(owner[1].id) ?? 0) + 1);
        }
      }
    }
    return out;
  }

  dispose(): void {
    for (const c of this.perVpc.values()) {
      c.ingress.dispose();
      c.egress.dispose();
    }
    this.perVpc.clear();
    this.perPort.clear();
  }

  private classifiers(vpc: Vpc): VpcClassifiers {
    let c = this.perVpc.get(vpc);
    if (!c) {
      const opts = { runtime: this.options.runtime, capacity: this.options.capacityPerVpc ?? 4096 };
      c = {
        ingress: new Classifier(opts),
        egress: new Classifier(opts),
        owners: { ingress: new Map(), egress: new Map() },
      };
      this.perVpc.set(vpc, c);
    }
    return c;
  }
}
