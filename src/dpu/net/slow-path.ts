import { K_DPORT, K_PROTO, K_SPORT } from '../../generated/flow.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { answerArp } from './arp-responder.js';
import { parseArp } from './arp.js';
import { Conntrack, type CtHandle, type CtTimeouts, type CtTuple } from './conntrack.js';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, parseEthernet, type EthernetHeader } from './ethernet.js';
import { DROP_REASONS, flowCookie, type Downcall, type DropReason, type FlowAction } from './flow-actions.js';
import { isMulticastMac } from './mac-address.js';
import { SecurityGroups, type SgQuery } from './security-groups.js';
import {
  cookieHalf,
  zoneOf,
  type Egress,
  type Ingress,
  type MissedPacket,
  type SlowPathCounterName,
  type SlowPathStats,
} from './slow-path-types.js';
import type { VpcModel } from './vpc-model.js';
import { encodeActions } from './action-list.js';
import { toDatapathActions } from './datapath-actions.js';
import type { Route, Vpc } from './vpc-resources.js';

export interface SlowPathOptions {
  runtime?: KernelRuntime | undefined;
  /** Milliseconds; conntrack timeouts run on it. */
  clock: () => number;
  ctTimeouts?: Partial<CtTimeouts> | undefined;
  ctMaxEntries?: number | undefined;
  /** Security-group classifier rules per VPC and direction. */
  sgCapacityPerVpc?: number | undefined;
}

/** A packet on its way through the stages of one burst. */
interface Work {
  pkt: MissedPacket;
  eth: EthernetHeader;
  ingress: Ingress;
  vpc: Vpc;
  tuple: CtTuple;
  routed: boolean;
  egress?: Egress | undefined;
  route?: Route | undefined;
  /** The connection it belongs to (0: none). */
  ct: CtHandle;
}

/**
 * The routing-table engine: decides what to do with a packet no flow matched, installs a flow so
 * the rest of its kind stay in the fast path, and re-injects it. Per burst the stages run over
 * every packet before the next (resolve ingress and anti-spoofing → ARP → one LPM burst → one
 * security-group burst → conntrack → action lists), so each kernel is called once per burst.
 *
 * Forwarding: a frame to the VPC router's MAC is routed (longest prefix match in its VPC: a
 * subnet's own route delivers to the port holding the address, other routes to a port, a remote
 * host over VXLAN, or a blackhole; TTL is decremented and MACs rewritten); a frame to another
 * port's MAC in the same subnet is switched; anything else is dropped, so there is no flooding.
 */
export class SlowPath {
  readonly conntrack: Conntrack;
  readonly groups: SecurityGroups;
  private readonly counters: Record<SlowPathCounterName, number> = {
    upcalls: 0,
    installed: 0,
    reinjected: 0,
    arpReplies: 0,
    connections: 0,
    truncated: 0,
    revalidations: 0,
  };
  private readonly drops = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  /** Cookies (in << 16 | out) under which a drop flow was installed, to flush when a connection opens the other way. */
  private readonly dropCookies = new Set<number>();
  /** Forwarding action lists by what decides them, with their encoding. */
  private readonly lists = new Map<number, { actions: FlowAction[]; encoded: Uint8Array; src: number; dst: number }>();

  constructor(
    private readonly model: VpcModel,
    options: SlowPathOptions,
  ) {
    this.conntrack = new Conntrack(options.clock, { timeouts: options.ctTimeouts, maxEntries: options.ctMaxEntries });
    this.groups = new SecurityGroups({ runtime: options.runtime, capacityPerVpc: options.sgCapacityPerVpc });
    model.onChange(() => this.lists.clear());
  }

  stats(): SlowPathStats {
    return { counters: { ...this.counters }, drops: { ...this.drops }, connections: this.conntrack.size };
  }

  /**
   * Whether drop flows that went nowhere (no egress: unknown destination, no route) were cached
   * since the last call; forgets them. A new port may be the destination they lacked.
   */
  takeDropsToNowhere(): boolean {
    let any = false;
    for (const c of this.dropCookies) {
      if ((c & 0xffff) !== 0) continue;
      this.dropCookies.delete(c);
      any = true;
    }
    return any;
  }

  /** Counts one model change the revalidator handled. */
  countRevalidation(): void {
    this.counters.revalidations++;
  }

  /** Decides one burst of upcalls; returns the downcalls to send (installs, re-injections, flushes). */
  handle(burst: readonly MissedPacket[]): Downcall[] {
    const out: Downcall[] = [];
    const work: Work[] = [];
    this.counters.upcalls += burst.length;
    for (const pkt of burst) {
      const w = this.admit(pkt, out);
      if (w) work.push(w);
    }
    this.route(work, out);
    const allowed = this.filter(work, out);
    for (const w of allowed) this.forward(w, out);
    return out;
  }

  /** Ingress resolution, anti-spoofing, ARP. Returns the packet when it needs forwarding. */
  private admit(pkt: MissedPacket, out: Downcall[]): Work | undefined {
    const eth = parseEthernet(pkt.frame);
    if (!eth) return this.drop(pkt, 'unsupported-ethertype', out, 0, false);
    const ingress = this.ingressOf(pkt, eth);
    if (typeof ingress === 'string') return this.drop(pkt, ingress, out, pkt.port, ingress !== 'tunnel-source');
    const vpc = ingress.kind === 'port' ? ingress.port.vpc : ingress.vpc;
    if (ingress.kind === 'port' && eth.src !== ingress.port.mac) {
      // Not installed: the key has no MACs, and the port's own traffic must not be cached as a drop.
      return this.drop(pkt, 'spoofed-source', out, 0, false);
    }
    if (eth.ethertype === ETHERTYPE_ARP) {
      const arp = parseArp(pkt.frame, eth.payloadOffset);
      if (!arp || ingress.kind !== 'port') return this.drop(pkt, 'unsupported-ethertype', out, 0, false);
      const a = answerArp(this.model, ingress.port, arp);
      if (a.kind === 'drop')
        return this.drop(pkt, a.reason === 'arp-spoofed' ? 'spoofed-source' : 'unknown-destination', out, 0, false);
      this.counters.arpReplies++;
      this.counters.reinjected++;
      out.push({
        op: 'reinject',
        seq: pkt.seq,
        port: 0,
        actions: this.deliver({ kind: 'port', port: ingress.port }),
        frame: a.frame,
        cookie: 0,
      });
      return undefined;
    }
    const zone = zoneOf(ingress);
    if (eth.ethertype !== ETHERTYPE_IPV4) return this.drop(pkt, 'unsupported-ethertype', out, zone, true);
    const k = new DataView(pkt.key.buffer, pkt.key.byteOffset, 48);
    const tuple: CtTuple = {
      proto: pkt.key[K_PROTO]!,
      src: k.getUint32(0, false),
      dst: k.getUint32(16, false),
      srcPort: k.getUint16(K_SPORT, true),
      dstPort: k.getUint16(K_DPORT, true),
    };
    if (ingress.kind === 'port' && tuple.src !== ingress.port.ip)
      return this.drop(pkt, 'spoofed-source', out, zone, true);
    const routed = eth.dst === vpc.routerMac;
    const w: Work = { pkt, eth, ingress, vpc, tuple, routed, ct: 0 };
    if (!routed) {
      const p = isMulticastMac(eth.dst) ? undefined : this.model.portByMac(vpc, eth.dst);
      if (!p || ingress.kind !== 'port' || p.subnet !== ingress.port.subnet || p === ingress.port) {
        return this.drop(pkt, 'unknown-destination', out, zone, true);
      }
      w.egress = { kind: 'port', port: p };
    }
    return w;
  }

  /** The logical ingress, or why there is none. */
  private ingressOf(pkt: MissedPacket, eth: EthernetHeader): Ingress | DropReason {
    const port = this.model.portById(pkt.port);
    if (port) {
      if (port.kind === 'vm' && eth.vlans.length > 0) return 'unknown-vlan';
      if (port.kind === 'sub' && (eth.vlans.length !== 1 || eth.vlans[0] !== port.vlan)) return 'unknown-vlan';
      return { kind: 'port', port };
    }
    const tunnel = this.model.tunnelById(pkt.port);
    if (!tunnel || !pkt.tunnel || eth.vlans.length > 0) return 'unknown-port';
    const vpc = this.model.vpcByVniOf(pkt.tunnel.vni);
    const host = this.model.hostAt(tunnel, pkt.tunnel.address);
    if (!vpc || !host) return 'tunnel-source';
    const remote = this.model.portByMac(vpc, eth.src);
    if (remote?.host === host) return { kind: 'port', port: remote };
    // Routed in from the host's router: checked against the routes (reverse path) in route().
    if (eth.dst === vpc.routerMac) return { kind: 'host', host, vpc };
    return 'tunnel-source';
  }

  /** One LPM burst: destinations of routed packets and the reverse path of hosts routing in. */
  private route(work: Work[], out: Downcall[]): void {
    const vpcs: Vpc[] = [];
    const addrs: number[] = [];
    const at: [Work, 'dst' | 'src'][] = [];
    for (const w of work) {
      if (w.routed) {
        vpcs.push(w.vpc);
        addrs.push(w.tuple.dst);
        at.push([w, 'dst']);
      }
      if (w.ingress.kind === 'host') {
        vpcs.push(w.vpc);
        addrs.push(w.tuple.src);
        at.push([w, 'src']);
      }
    }
    if (at.length === 0) return;
    const routes = this.model.routes.lookupBurst(vpcs, addrs);
    at.forEach(([w, which], i) => {
      const r = routes[i];
      if (which === 'src') {
        if (w.ingress.kind === 'host' && !(r?.target.kind === 'remote' && r.target.host === w.ingress.host))
          w.routed = false;
        if (!w.routed) w.egress = undefined;
        return;
      }
      w.route = r;
      if (w.routed) w.egress = this.egressOf(w, r);
    });
    const kept = work.filter((w) => {
      if (w.egress) return true;
      const reason: DropReason =
        w.ingress.kind === 'host' && !w.routed
          ? 'spoofed-source'
          : !w.route
            ? 'no-route'
            : w.route.target.kind === 'blackhole'
              ? 'blackhole'
              : 'unknown-destination';
      this.drop(w.pkt, reason, out, zoneOf(w.ingress), true);
      return false;
    });
    work.splice(0, work.length, ...kept);
  }

  private egressOf(w: Work, r: Route | undefined): Egress | undefined {
    if (!r) return undefined;
    const t = r.target;
    switch (t.kind) {
      case 'subnet': {
        const p = this.model.portByIp(w.vpc, w.tuple.dst);
        return p && p.subnet === t.subnet ? { kind: 'port', port: p } : undefined;
      }
      case 'port':
        return { kind: 'port', port: t.port };
      case 'remote':
        return { kind: 'host', host: t.host, vpc: w.vpc, mac: t.mac };
      case 'blackhole':
        return undefined;
    }
  }

  /** Conntrack, then one security-group burst for what conntrack did not settle. */
  private filter(work: Work[], out: Downcall[]): Work[] {
    const queries: SgQuery[] = [];
    const owners: [Work, number][] = [];
    const pending: Work[] = [];
    const allowed: Work[] = [];
    for (const w of work) {
      const eg = w.egress!;
      if (w.ingress.kind === 'port' && eg.kind === 'port' && eg.port === w.ingress.port) {
        this.drop(w.pkt, 'hairpin', out, zoneOf(w.ingress), true);
        continue;
      }
      const inPort = w.ingress.kind === 'port' ? w.ingress.port : undefined;
      const outPort = eg.kind === 'port' ? eg.port : undefined;
      const filtered = (inPort && this.groups.filters(inPort)) || (outPort && this.groups.filters(outPort));
      if (!filtered) {
        allowed.push(w);
        continue;
      }
      const ref = Conntrack.trackable(w.tuple) ? this.conntrack.lookup(zoneOf(w.ingress), w.tuple) : 0;
      if (ref !== 0) {
        w.ct = Conntrack.handleOf(ref);
        this.conntrack.update(w.ct, Conntrack.dirOf(ref), w.pkt.tcpFlags);
        allowed.push(w);
        continue;
      }
      const q = {
        src: w.tuple.src,
        dst: w.tuple.dst,
        srcPort: w.tuple.srcPort,
        dstPort: w.tuple.dstPort,
        proto: w.tuple.proto,
      };
      let n = 0;
      if (inPort && this.groups.filters(inPort)) {
        queries.push({ port: inPort, direction: 'egress', ...q });
        n++;
      }
      if (outPort && this.groups.filters(outPort)) {
        queries.push({ port: outPort, direction: 'ingress', ...q });
        n++;
      }
      owners.push([w, n]);
      pending.push(w);
    }
    const verdicts = this.groups.checkBurst(queries);
    let at = 0;
    for (const [w, n] of owners) {
      const ok = verdicts.slice(at, at + n).every(Boolean);
      at += n;
      const zone = zoneOf(w.ingress);
      const cookie = flowCookie(cookieHalf(w.ingress), cookieHalf(w.egress!));
      if (!ok) {
        this.drop(w.pkt, 'security-group', out, zone, true, cookie);
        continue;
      }
      if (Conntrack.trackable(w.tuple)) {
        // A tracked protocol needs a connection: a TCP segment that is no SYN, say, is not admitted.
        if (!Conntrack.opens(w.tuple, w.pkt.tcpFlags)) {
          this.drop(w.pkt, 'conntrack-invalid', out, zone, false);
          continue;
        }
        const entry = this.conntrack.create(zone, zoneOf(w.egress!), w.tuple);
        if (entry === 0) {
          this.drop(w.pkt, 'conntrack-full', out, zone, false);
          continue;
        }
        this.counters.connections++;
        w.ct = entry;
        // A drop cached for the other direction would eat the replies.
        const back = flowCookie(cookieHalf(w.egress!), cookieHalf(w.ingress));
        if (this.dropCookies.delete(back)) out.push({ op: 'flush-cookie', cookie: back, mask: 0xffffffff });
      }
      allowed.push(w);
    }
    return allowed;
  }

  /** Installs and re-injects an admitted packet. */
  private forward(w: Work, out: Downcall[]): void {
    const eg = w.egress!;
    const cookie = flowCookie(cookieHalf(w.ingress), cookieHalf(eg));
    if (w.ct !== 0) this.conntrack.addFlow(w.ct, w.pkt.key);
    // The list depends only on these (and the model, which clears the cache when it changes):
    // the zones and flags key the cache, the MACs are checked against the entry.
    const zi = zoneOf(w.ingress);
    const ze = zoneOf(eg);
    // Zones past 17 bits (remote host ids that large) are not cached: the key would not be exact.
    const memo =
      zi < 0x20000 && ze < 0x20000 ? (zi * 0x20000 + ze) * 4 + (w.routed ? 2 : 0) + (w.pkt.tunnel ? 1 : 0) : -1;
    let list = memo < 0 ? undefined : this.lists.get(memo);
    if (!list || list.src !== w.eth.src || list.dst !== w.eth.dst) {
      const actions = this.forwardActions(w, eg);
      list = { actions, encoded: encodeActions(toDatapathActions(actions)), src: w.eth.src, dst: w.eth.dst };
      if (this.lists.size >= 4096) this.lists.clear();
      if (memo >= 0) this.lists.set(memo, list);
    }
    this.install(w.pkt, list.actions, cookie, out, list.encoded);
  }

  private forwardActions(w: Work, eg: Egress): FlowAction[] {
    const actions: FlowAction[] = [];
    if (w.pkt.tunnel) actions.push({ op: 'decap-vxlan' });
    if (w.ingress.kind === 'port' && w.ingress.port.kind === 'sub') actions.push({ op: 'pop-vlan' });
    actions.push({ op: 'check-l2', src: w.eth.src, dst: w.eth.dst });
    if (w.routed) {
      const dstVpc = eg.kind === 'port' ? eg.port.vpc : eg.vpc;
      actions.push({ op: 'dec-ttl' }, { op: 'set-eth-src', mac: dstVpc.routerMac });
      actions.push({ op: 'set-eth-dst', mac: eg.kind === 'port' ? eg.port.mac : eg.mac });
    }
    actions.push(...this.deliver(eg));
    return actions;
  }

  /** OUTPUT to a local port, or ENCAP + OUTPUT to the tunnel of a remote one. */
  private deliver(eg: Egress): FlowAction[] {
    const host = eg.kind === 'host' ? eg.host : eg.port.host;
    if (eg.kind === 'port' && !host) return [{ op: 'output', port: eg.port.id }];
    const h = host!;
    const vpc = eg.kind === 'port' ? eg.port.vpc : eg.vpc;
    return [
      { op: 'encap-vxlan', vni: vpc.vni, udpPort: h.port, srcIp: h.tunnel.address, dstIp: h.address },
      { op: 'output', port: h.tunnel.id },
    ];
  }

  /**
   * Installs the flow and re-injects the packet. A CHECK_L2 mismatch installs too: the new list
   * replaces the flow whose MACs did not match (the key has no MACs; the list checks them).
   */
  private install(
    pkt: MissedPacket,
    actions: FlowAction[],
    cookie: number,
    out: Downcall[],
    encoded?: Uint8Array,
  ): void {
    this.counters.installed++;
    const d: Downcall = pkt.truncated
      ? { op: 'install', seq: pkt.seq, port: pkt.port, key: pkt.key, actions, cookie }
      : { op: 'install-reinject', seq: pkt.seq, port: pkt.port, key: pkt.key, actions, cookie, frame: pkt.frame };
    if (encoded) d.encoded = encoded;
    if (pkt.truncated) this.counters.truncated++;
    else this.counters.reinjected++;
    out.push(d);
  }

  /**
   * Counts a drop; installs a drop flow when the key and the frame's MACs decide it (install =
   * true). The list checks the MACs first, so a frame of the same key to another MAC (to the
   * router instead of a port, say) comes back up instead of being dropped for the other's reason.
   */
  private drop(
    pkt: MissedPacket,
    reason: DropReason,
    out: Downcall[],
    zone: number,
    install: boolean,
    cookie?: number,
  ): undefined {
    this.drops[reason]++;
    if (install && pkt.reason !== 'action') {
      const c = cookie ?? flowCookie(zone < 0x10000 ? zone : 0, 0);
      const eth = parseEthernet(pkt.frame);
      const actions: FlowAction[] = eth ? [{ op: 'check-l2', src: eth.src, dst: eth.dst }] : [];
      actions.push({ op: 'drop', reason });
      this.dropCookies.add(c);
      this.counters.installed++;
      out.push({ op: 'install', seq: pkt.seq, port: pkt.port, key: pkt.key, actions, cookie: c });
    }
    return undefined;
  }
}

export function keyHex(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('hex');
}
