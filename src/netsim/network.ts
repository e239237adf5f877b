import { ErrorCode, QingtianError } from '../common/errors.js';
import { ROUTE_FIRST_SHIFT } from '../generated/netsim.js';
import type { Topology } from './topology.js';

/** A route entry's port count: the bits below its first-port index. */
const ROUTE_COUNT_MASK = (1 << ROUTE_FIRST_SHIFT) - 1;

/**
 * A topology compiled for the simulator: ports (one per direction of each link, grouped by
 * node), ECMP next-hop sets per (switch, destination host) from shortest paths, and base RTTs.
 */
export interface Network {
  topology: Topology;
  hosts: number[]; // host index -> node id
  hostIndex: Int32Array; // node id -> host index (-1 for switches)
  switchIndex: Int32Array; // node id -> switch index (-1 for hosts)
  switches: number;
  firstPort: Int32Array; // per node
  portCount: Int32Array;
  portNode: Int32Array; // per port
  portPeer: Int32Array;
  portRate: Float64Array;
  portDelay: Float64Array; // ps
  /** route[switchIndex * hosts + hostIndex] = (first << ROUTE_FIRST_SHIFT) | count into routePorts. */
  route: Uint32Array;
  routePorts: Uint32Array;
}

/** Compiles a topology for {@link Simulation}: ports, ECMP routes, base RTTs (`QT_INVALID_ARGUMENT`: unusable). */
export function compileNetwork(t: Topology): Network {
  const n = t.kinds.length;
  const adj: { port: number; peer: number; link: number }[][] = Array.from({ length: n }, () => []);
  for (const [i, l] of t.links.entries()) {
    adj[l.a]!.push({ port: -1, peer: l.b, link: i });
    adj[l.b]!.push({ port: -1, peer: l.a, link: i });
  }
  const firstPort = new Int32Array(n);
  const portCount = new Int32Array(n);
  const ports = t.links.length * 2;
  const portNode = new Int32Array(ports);
  const portPeer = new Int32Array(ports);
  const portRate = new Float64Array(ports);
  const portDelay = new Float64Array(ports);
  let p = 0;
  const portOf = new Map<string, number>(); // `${node}:${link}` -> port
  for (let v = 0; v < n; v++) {
    firstPort[v] = p;
    portCount[v] = adj[v]!.length;
    for (const e of adj[v]!) {
      e.port = p;
      portNode[p] = v;
      portRate[p] = t.links[e.link]!.rateBps;
      portDelay[p] = t.links[e.link]!.delayPs;
      portOf.set(`${v}:${e.link}`, p);
      p++;
    }
  }
  for (let v = 0; v < n; v++) for (const e of adj[v]!) portPeer[e.port] = portOf.get(`${e.peer}:${e.link}`)!;

  const hosts: number[] = [];
  const hostIndex = new Int32Array(n).fill(-1);
  const switchIndex = new Int32Array(n).fill(-1);
  let switches = 0;
  for (let v = 0; v < n; v++) {
    if (t.kinds[v] === 'host') {
      if (portCount[v] !== 1)
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `topology ${t.name}: host ${v} has ${portCount[v]} links; a host needs exactly one`,
          { node: v },
        );
      hostIndex[v] = hosts.length;
      hosts.push(v);
    } else {
      switchIndex[v] = switches++;
    }
  }
  if (hosts.length < 2)
    throw new QingtianError(ErrorCode.InvalidArgument, `topology ${t.name}: needs at least 2 hosts`);

  // BFS from every destination host; hosts do not forward.
  const route = new Uint32Array(switches * hosts.length);
  const rp: number[] = [];
  const dist = new Int32Array(n);
  const queue = new Int32Array(n);
  for (let hi = 0; hi < hosts.length; hi++) {
    const dst = hosts[hi]!;
    dist.fill(-1);
    dist[dst] = 0;
    let qh = 0;
    let qt = 0;
    queue[qt++] = dst;
    while (qh < qt) {
      const v = queue[qh++]!;
      if (v !== dst && t.kinds[v] === 'host') continue;
      for (const e of adj[v]!) {
        if (dist[e.peer] === -1) {
          dist[e.peer] = dist[v]! + 1;
          queue[qt++] = e.peer;
        }
      }
    }
    for (let v = 0; v < n; v++) {
      if (t.kinds[v] !== 'switch' || dist[v]! < 0) continue;
      const first = rp.length;
      for (const e of adj[v]!)
        if (dist[e.peer] === dist[v]! - 1 && (e.peer === dst || t.kinds[e.peer] === 'switch')) rp.push(e.port);
      const count = Math.min(ROUTE_COUNT_MASK, rp.length - first);
      rp.length = first + count;
      route[switchIndex[v]! * hosts.length + hi] = (first << ROUTE_FIRST_SHIFT) | count;
    }
  }
  return {
    topology: t,
    hosts,
    hostIndex,
    switchIndex,
    switches,
    firstPort,
    portCount,
    portNode,
    portPeer,
    portRate,
    portDelay,
    route,
    routePorts: Uint32Array.from(rp),
  };
}

/** The ports a packet from host `src` to host `dst` (node ids) crosses, following first ECMP members. */
export function pathPorts(net: Network, src: number, dst: number): number[] {
  const out: number[] = [];
  let p = net.firstPort[src]!;
  const dh = net.hostIndex[dst]!;
  for (let hop = 0; hop < 64; hop++) {
    out.push(p);
    const v = net.portNode[net.portPeer[p]!]!;
    if (v === dst) return out;
    const si = net.switchIndex[v]!;
    if (si < 0) break;
    const e = net.route[si * net.hosts.length + dh]!;
    if ((e & ROUTE_COUNT_MASK) === 0) break;
    p = net.routePorts[e >>> ROUTE_FIRST_SHIFT]!;
  }
  throw new QingtianError(
    ErrorCode.InvalidArgument,
    `topology ${net.topology.name}: no path from node ${src} to node ${dst}`,
    { src, dst },
  );
}

/**
 * Base RTT (ps) of a host pair: one data packet out and its ACK back on an idle network —
 * propagation both ways plus serialization of each at every hop.
 */
export function baseRttPs(net: Network, src: number, dst: number, dataWire: number, ackWire: number): number {
  let rtt = 0;
  for (const p of pathPorts(net, src, dst))
    rtt += 2 * net.portDelay[p]! + ((dataWire + ackWire) * 8e12) / net.portRate[p]!;
  return Math.round(rtt);
}

/** The largest base RTT over host pairs (all pairs up to 512 hosts, else from each host to a spread of others). */
export function maxBaseRttPs(net: Network, dataWire: number, ackWire: number): number {
  const h = net.hosts;
  const step = h.length <= 512 ? 1 : Math.ceil(h.length / 64);
  let max = 0;
  for (let i = 0; i < h.length; i++) {
    for (let j = i % step; j < h.length; j += step)
      if (i !== j) max = Math.max(max, baseRttPs(net, h[i]!, h[j]!, dataWire, ackWire));
  }
  return max;
}
