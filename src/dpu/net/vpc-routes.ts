import { ErrorCode, QingtianError } from '../../common/errors.js';
import { formatIPv4, type Prefix4 } from '../flow/ip-address.js';
import { RouteTable } from '../flow/route-table.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import type { Route, RouteTarget, Vpc } from './vpc-resources.js';

/**
 * Every VPC's routes in one longest-prefix-match table of the `flow` kernel. VPCs may reuse
 * address space, so an IPv4 route of VPC v is stored as the IPv6-shaped prefix
 * `v (16 bits) ‖ addr (32 bits)` of length 16 + len: one lookup finds the VPC's longest match,
 * never another VPC's. (An IPv4 table per VPC would cost 128 MiB each: DIR-24-8's top level.)
 * The next hop the kernel returns indexes `targets`.
 */
export const MAX_VPC_ID = 0xffff;

export class VpcRoutes {
  private readonly table: RouteTable;
  /** next hop → route; free slots are undefined. */
  private readonly byHop: (Route | undefined)[] = [];
  private readonly freeHops: number[] = [];
  /** `${vpc}/${addr}/${len}` → next hop. */
  private readonly hops = new Map<string, number>();
  private readonly words = new Uint32Array(4 * 256);
  private readonly out = new Int32Array(256);

  constructor(options: { runtime?: KernelRuntime | undefined; maxGroups?: number | undefined }) {
    this.table = new RouteTable({ family: 'ipv6', runtime: options.runtime, maxGroups: options.maxGroups ?? 2048 });
  }

  /** Adds a route; QT_INVALID_ARGUMENT when the VPC already has one for this prefix. */
  add(vpc: Vpc, prefix: Prefix4, target: RouteTarget): Route {
    const key = keyOf(vpc, prefix);
    if (this.hops.has(key)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `route.prefix: VPC '${vpc.name}' already has a route for ${formatIPv4(prefix.addr)}/${prefix.length}; remove it first`,
        { field: 'route.prefix' },
      );
    }
    const hop = this.freeHops.pop() ?? this.byHop.length;
    const route: Route = { vpc, prefix, target };
    this.table.insert(prefix6(vpc, prefix), hop);
    this.byHop[hop] = route;
    this.hops.set(key, hop);
    return route;
  }

  /** Removes a route; false when there was none for the prefix. */
  remove(vpc: Vpc, prefix: Prefix4): boolean {
    const key = keyOf(vpc, prefix);
    const hop = this.hops.get(key);
    if (hop === undefined) return false;
    this.table.delete(prefix6(vpc, prefix));
    this.hops.delete(key);
    this.byHop[hop] = undefined;
    this.freeHops.push(hop);
    return true;
  }

  /** The route for exactly this prefix, if any. */
  get(vpc: Vpc, prefix: Prefix4): Route | undefined {
    const hop = this.hops.get(keyOf(vpc, prefix));
    return hop === undefined ? undefined : this.byHop[hop];
  }

  /** Routes of one VPC, or of all. */
  list(vpc?: Vpc): Route[] {
    return this.byHop.filter((r): r is Route => r !== undefined && (vpc === undefined || r.vpc === vpc));
  }

  /** Longest match for each (vpc, address) pair, one kernel call per 256. */
  lookupBurst(vpcs: readonly Vpc[], addrs: readonly number[]): (Route | undefined)[] {
    const res: (Route | undefined)[] = [];
    for (let at = 0; at < addrs.length; at += this.out.length) {
      const n = Math.min(this.out.length, addrs.length - at);
      for (let i = 0; i < n; i++) {
        const a = addrs[at + i]! >>> 0;
        this.words[4 * i] = ((vpcs[at + i]!.id << 16) | (a >>> 16)) >>> 0;
        this.words[4 * i + 1] = ((a & 0xffff) << 16) >>> 0;
        this.words[4 * i + 2] = 0;
        this.words[4 * i + 3] = 0;
      }
      this.table.lookupBurst(this.words.subarray(0, 4 * n), this.out);
      for (let i = 0; i < n; i++) {
        const hop = this.out[i]!;
        res.push(hop < 0 ? undefined : this.byHop[hop]);
      }
    }
    return res;
  }

  lookup(vpc: Vpc, addr: number): Route | undefined {
    return this.lookupBurst([vpc], [addr])[0];
  }

  get size(): number {
    return this.hops.size;
  }

  dispose(): void {
    this.table.dispose();
  }
}

function keyOf(vpc: Vpc, p: Prefix4): string {
  return `${vpc.id}/${p.addr >>> 0}/${p.length}`;
}

function prefix6(vpc: Vpc, p: Prefix4): { addr: bigint; length: number } {
  return { addr: (BigInt(vpc.id) << 112n) | (BigInt(p.addr >>> 0) << 80n), length: 16 + p.length };
}
