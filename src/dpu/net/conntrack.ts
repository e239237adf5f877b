import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './ipv4.js';

/**
 * Connection tracking for stateful security groups: a connection admitted in its original
 * direction lets its replies through without a rule of their own. TCP (a reduced RFC 793 state
 * machine, as Linux's nf_conntrack tracks it), UDP (unreplied / replied), ICMP echo (keyed by the
 * identifier). Each state has an idle timeout; time comes from an injected clock (milliseconds).
 *
 * A zone tells apart equal tuples seen on different ports: the original direction is keyed in the
 * zone of the port it entered on, the reply direction in the zone of the port the reply enters on.
 */
export interface CtTuple {
  proto: number;
  src: number;
  dst: number;
  /** As the packet parser keys them: TCP/UDP ports; ICMP type << 8 | code and the echo identifier. */
  srcPort: number;
  dstPort: number;
}

export type CtState = 'syn-sent' | 'syn-recv' | 'established' | 'closing' | 'closed' | 'unreplied' | 'replied' | 'echo';

/** Connection-tracking idle timeouts in seconds, per state. */
export interface CtTimeouts {
  /** TCP after the SYN, before the SYN-ACK. Default 120. */
  tcpSynSent: number;
  /** TCP after the SYN-ACK, before the ACK. Default 60. */
  tcpSynRecv: number;
  /** TCP established. Default 7200. */
  tcpEstablished: number;
  /** TCP after a FIN. Default 120. */
  tcpClosing: number;
  /** TCP after a RST. Default 10. */
  tcpClosed: number;
  /** UDP with no reply yet. Default 30. */
  udpUnreplied: number;
  /** UDP once replied. Default 120. */
  udpReplied: number;
  /** ICMP echo. Default 30. */
  icmp: number;
}

export const CT_DEFAULT_TIMEOUTS: CtTimeouts = {
  tcpSynSent: 120,
  tcpSynRecv: 60,
  tcpEstablished: 7200,
  tcpClosing: 120,
  tcpClosed: 10,
  udpUnreplied: 30,
  udpReplied: 120,
  icmp: 30,
};

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

export interface CtEntry {
  readonly id: number;
  readonly origZone: number;
  readonly replyZone: number;
  readonly tuple: CtTuple;
  state: CtState;
  /** When it expires unless something refreshes it (clock milliseconds). */
  deadline: number;
  lastSeen: number;
  packets: { original: number; reply: number };
  /** Flows installed for this connection (removed with it). */
  readonly flows: Set<string>;
  /** Keys under which the table holds it. */
  readonly keys: readonly [string, string];
}

export type CtDirection = 'original' | 'reply';

export class Conntrack {
  private readonly byKey = new Map<string, CtEntry>();
  private readonly buckets = new Map<number, Set<CtEntry>>();
  private readonly timeouts: CtTimeouts;
  readonly maxEntries: number;
  private nextId = 1;
  private sweptTo: number;
  /** Connections refused because the table was full. */
  refusedFull = 0;

  constructor(
    private readonly clock: () => number,
    options: { timeouts?: Partial<CtTimeouts> | undefined; maxEntries?: number | undefined } = {},
  ) {
    this.maxEntries = options.maxEntries ?? 262144;
    this.timeouts = { ...CT_DEFAULT_TIMEOUTS, ...options.timeouts };
    this.sweptTo = Math.floor(clock() / 1000);
  }

  get size(): number {
    return this.byKey.size / 2;
  }

  /** Whether packets of this protocol and ICMP type can be tracked at all. */
  static trackable(t: CtTuple): boolean {
    if (t.proto === IPPROTO_TCP || t.proto === IPPROTO_UDP) return true;
    if (t.proto !== IPPROTO_ICMP) return false;
    const type = t.srcPort >> 8;
    return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
  }

  /** The connection this packet belongs to (entering in `zone`) and its direction. */
  lookup(zone: number, t: CtTuple): { entry: CtEntry; dir: CtDirection } | undefined {
    const k = key(zone, t);
    const entry = this.byKey.get(k);
    if (!entry) return undefined;
    return { entry, dir: entry.keys[0] === k ? 'original' : 'reply' };
  }

  /**
   * Whether this packet may open a connection: TCP needs a bare SYN, ICMP an echo request; UDP
   * always may.
   */
  static opens(t: CtTuple, tcpFlags: number): boolean {
    if (t.proto === IPPROTO_TCP) return (tcpFlags & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN;
    if (t.proto === IPPROTO_ICMP) return t.srcPort >> 8 === ICMP_ECHO_REQUEST;
    return t.proto === IPPROTO_UDP;
  }

  /** Opens a connection (after its original direction was admitted); null when the table is full. */
  create(origZone: number, replyZone: number, t: CtTuple): CtEntry | null {
    if (this.size >= this.maxEntries) {
      this.refusedFull++;
      return null;
    }
    const now = this.clock();
    // An echo reply keeps the identifier where the request had it (the parser's dst-port slot).
    const reply: CtTuple =
      t.proto === IPPROTO_ICMP
        ? { proto: t.proto, src: t.dst, dst: t.src, srcPort: ICMP_ECHO_REPLY << 8, dstPort: t.dstPort }
        : { proto: t.proto, src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort };
    const state: CtState = t.proto === IPPROTO_TCP ? 'syn-sent' : t.proto === IPPROTO_UDP ? 'unreplied' : 'echo';
    const entry: CtEntry = {
      id: this.nextId++,
      origZone,
      replyZone,
      tuple: { ...t },
      state,
      deadline: 0,
      lastSeen: now,
      packets: { original: 1, reply: 0 },
      flows: new Set(),
      keys: [key(origZone, t), key(replyZone, reply)],
    };
    this.remove(this.byKey.get(entry.keys[0]));
    this.remove(this.byKey.get(entry.keys[1]));
    this.byKey.set(entry.keys[0], entry);
    this.byKey.set(entry.keys[1], entry);
    this.arm(entry, now + this.timeoutOf(state) * 1000);
    return entry;
  }

  /** A packet of the connection passed: advance its state and refresh its deadline. */
  update(entry: CtEntry, dir: CtDirection, tcpFlags: number): void {
    const now = this.clock();
    entry.packets[dir]++;
    entry.lastSeen = now;
    entry.state = next(entry.state, dir, tcpFlags);
    this.arm(entry, now + this.timeoutOf(entry.state) * 1000);
  }

  /** Activity seen elsewhere (the fast path's flow hit stamps) at clock time `at`. */
  touch(entry: CtEntry, at: number): void {
    if (at <= entry.lastSeen) return;
    entry.lastSeen = at;
    this.arm(entry, at + this.timeoutOf(entry.state) * 1000);
  }

  /**
   * Removes connections whose deadline passed. `activity` may report a later use (from flow hit
   * stamps); such an entry is refreshed instead. `prepare`, if given, first sees every entry due,
   * so the stamps of all of them can be read in one pass. Returns the removed entries.
   */
  expire(activity?: (e: CtEntry) => number | undefined, prepare?: (due: readonly CtEntry[]) => void): CtEntry[] {
    const now = this.clock();
    const nowSec = Math.floor(now / 1000);
    const due: number[] = [];
    if (nowSec - this.sweptTo > this.buckets.size) {
      for (const s of this.buckets.keys()) if (s <= nowSec) due.push(s);
      due.sort((a, b) => a - b);
    } else {
      for (let s = this.sweptTo; s <= nowSec; s++) if (this.buckets.has(s)) due.push(s);
    }
    this.sweptTo = nowSec;
    const entries: CtEntry[] = [];
    for (const s of due) for (const e of this.buckets.get(s) ?? []) if (e.deadline <= now) entries.push(e);
    if (entries.length > 0) prepare?.(entries);
    const gone: CtEntry[] = [];
    for (const e of entries) {
      const seen = activity?.(e);
      if (seen !== undefined && seen > e.lastSeen) {
        this.touch(e, seen);
        if (e.deadline > now) continue;
      }
      this.remove(e);
      gone.push(e);
    }
    return gone;
  }

  /** Removes one connection (a revalidation found it no longer admitted). */
  remove(entry: CtEntry | undefined): void {
    if (!entry || this.byKey.get(entry.keys[0]) !== entry) return;
    this.byKey.delete(entry.keys[0]);
    this.byKey.delete(entry.keys[1]);
    this.unarm(entry);
  }

  entries(): CtEntry[] {
    const seen = new Set<CtEntry>(this.byKey.values());
    return [...seen];
  }

  private timeoutOf(s: CtState): number {
    const t = this.timeouts;
    switch (s) {
      case 'syn-sent':
        return t.tcpSynSent;
      case 'syn-recv':
        return t.tcpSynRecv;
      case 'established':
        return t.tcpEstablished;
      case 'closing':
        return t.tcpClosing;
      case 'closed':
        return t.tcpClosed;
      case 'unreplied':
        return t.udpUnreplied;
      case 'replied':
        return t.udpReplied;
      case 'echo':
        return t.icmp;
    }
  }

  private arm(e: CtEntry, deadline: number): void {
    this.unarm(e);
    e.deadline = deadline;
    const s = Math.ceil(deadline / 1000);
    let b = this.buckets.get(s);
    if (!b) this.buckets.set(s, (b = new Set()));
    b.add(e);
  }

  private unarm(e: CtEntry): void {
    const s = Math.ceil(e.deadline / 1000);
    const b = this.buckets.get(s);
    if (b?.delete(e) && b.size === 0) this.buckets.delete(s);
  }
}

function key(zone: number, t: CtTuple): string {
  // ICMP echo: request and reply differ only in type; the identifier is the connection.
  const sp = t.proto === IPPROTO_ICMP ? 0 : t.srcPort;
  // One UTF-16 unit per 16 bits of the tuple: cheaper to build and to hash than decimal text.
  return String.fromCharCode(
    zone >>> 16,
    zone & 0xffff,
    t.proto,
    t.src >>> 16,
    t.src & 0xffff,
    t.dst >>> 16,
    t.dst & 0xffff,
    sp,
    t.dstPort,
  );
}

function next(s: CtState, dir: CtDirection, flags: number): CtState {
  if (s === 'unreplied') return dir === 'reply' ? 'replied' : s;
  if (s === 'replied' || s === 'echo') return s;
  if (flags & TCP_RST) return 'closed';
  switch (s) {
    case 'syn-sent':
      return dir === 'reply' && (flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) ? 'syn-recv' : s;
    case 'syn-recv':
      return dir === 'original' && (flags & TCP_ACK) !== 0 ? 'established' : s;
    case 'established':
      return flags & TCP_FIN ? 'closing' : s;
    case 'closing':
    case 'closed':
      return s;
  }
}
