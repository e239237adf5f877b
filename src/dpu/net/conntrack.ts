import { ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './ipv4.js';
import { CtFlowKeys } from './conntrack-flows.js';
import { CtWheel } from './conntrack-wheel.js';

/**
 * Connection tracking for stateful security groups: a connection admitted in its original
 * direction lets its replies through without a rule of their own. TCP (a reduced RFC 793 state
 * machine, as Linux's nf_conntrack tracks it), UDP (unreplied / replied), ICMP echo (keyed by the
 * identifier). Each state has an idle timeout; time comes from an injected clock (milliseconds).
 *
 * A zone tells apart equal tuples seen on different ports: the original direction is keyed in the
 * zone of the port it entered on, the reply direction in the zone of the port the reply enters on.
 *
 * The table is flat: a connection is a handle (an index ≥ 1) into typed-array columns, found
 * through one open-addressing index holding both directions (linear probing, backward-shift
 * delete, no tombstones), timed out by a one-second timer wheel. No object per connection, so a
 * million of them cost the collector nothing.
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

/** A connection: an index into the table's columns, valid until it is removed. */
export type CtHandle = number;
/** 0 = the original direction, 1 = the reply. */
export type CtDir = 0 | 1;

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_ACK = 0x10;

// State codes (0 = a free slot); the order of STATE_NAMES.
const S_SYN_SENT = 1;
const S_SYN_RECV = 2;
const S_ESTABLISHED = 3;
const S_CLOSING = 4;
const S_CLOSED = 5;
const S_UNREPLIED = 6;
const S_REPLIED = 7;
const S_ECHO = 8;
const STATE_NAMES: readonly (CtState | '')[] = [
  '',
  'syn-sent',
  'syn-recv',
  'established',
  'closing',
  'closed',
  'unreplied',
  'replied',
  'echo',
];

export class Conntrack {
  readonly maxEntries: number;
  /** Connections refused because the table was full. */
  refusedFull = 0;
  private readonly timeoutMs: Float64Array;
  private count = 0;
  private high = 0;
  private free: number[] = [];
  // Columns, index = handle (0 unused).
  private origZone = new Uint32Array(0);
  private replyZone = new Uint32Array(0);
  private src = new Uint32Array(0);
  private dst = new Uint32Array(0);
  private ports = new Uint32Array(0);
  private proto = new Uint8Array(0);
  private st = new Uint8Array(0);
  private lastSeenMs = new Float64Array(0);
  private pkts = new Float64Array(0);
  // Index: slot → handle << 1 | dir (0 empty); hashes alongside for moves and growth.
  private slots = new Int32Array(0);
  private hashes = new Int32Array(0);
  private mask = 0;
  private readonly wheel: CtWheel;
  private readonly flowKeys = new CtFlowKeys();

  constructor(
    private readonly clock: () => number,
    options: { timeouts?: Partial<CtTimeouts> | undefined; maxEntries?: number | undefined } = {},
  ) {
    this.maxEntries = options.maxEntries ?? 262144;
    const t = { ...CT_DEFAULT_TIMEOUTS, ...options.timeouts };
    this.timeoutMs = Float64Array.from(
      [
        0,
        t.tcpSynSent,
        t.tcpSynRecv,
        t.tcpEstablished,
        t.tcpClosing,
        t.tcpClosed,
        t.udpUnreplied,
        t.udpReplied,
        t.icmp,
      ],
      (s) => s * 1000,
    );
    this.wheel = new CtWheel(Math.max(...this.timeoutMs) / 1000, clock());
    this.grow(1024);
    this.rehash(4096);
  }

  get size(): number {
    return this.count;
  }

  /** Whether packets of this protocol and ICMP type can be tracked at all. */
  static trackable(t: CtTuple): boolean {
    if (t.proto === IPPROTO_TCP || t.proto === IPPROTO_UDP) return true;
    if (t.proto !== IPPROTO_ICMP) return false;
    const type = t.srcPort >> 8;
    return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
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

  /**
   * The connection this packet belongs to (entering in `zone`): `handle << 1 | dir`, or 0.
   * Use {@link Conntrack.handleOf} and {@link Conntrack.dirOf} on the result.
   */
  lookup(zone: number, t: CtTuple): number {
    // ICMP echo: request and reply differ only in type; the identifier is the connection.
    const sp = t.proto === IPPROTO_ICMP ? 0 : t.srcPort;
    const ports = ((sp << 16) | t.dstPort) >>> 0;
    const h = hash(zone, t.proto, t.src, t.dst, ports);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const ref = this.slots[i]!;
      if (ref === 0) return 0;
      if (this.hashes[i] === h && this.matches(ref, zone, t.proto, t.src, t.dst, ports)) return ref;
    }
  }

  static handleOf(ref: number): CtHandle {
    return ref >>> 1;
  }

  static dirOf(ref: number): CtDir {
    return (ref & 1) as CtDir;
  }

  /** Opens a connection (after its original direction was admitted); 0 when the table is full. */
  create(origZone: number, replyZone: number, t: CtTuple): CtHandle {
    if (this.count >= this.maxEntries) {
      this.refusedFull++;
      return 0;
    }
    // A connection already keyed under either direction is replaced.
    this.remove(Conntrack.handleOf(this.lookup(origZone, t)));
    this.remove(Conntrack.handleOf(this.lookup(replyZone, replyTuple(t))));
    let e = this.free.pop();
    if (e === undefined) {
      e = ++this.high;
      if (e >= this.st.length) this.grow(this.st.length * 2);
    }
    if (2 * (this.count + 1) * 2 > this.slots.length) this.rehash(this.slots.length * 2);
    const now = this.clock();
    this.origZone[e] = origZone;
    this.replyZone[e] = replyZone;
    this.src[e] = t.src;
    this.dst[e] = t.dst;
    this.ports[e] = ((t.srcPort << 16) | t.dstPort) >>> 0;
    this.proto[e] = t.proto;
    const s = t.proto === IPPROTO_TCP ? S_SYN_SENT : t.proto === IPPROTO_UDP ? S_UNREPLIED : S_ECHO;
    this.st[e] = s;
    this.lastSeenMs[e] = now;
    this.pkts[2 * e] = 1;
    this.pkts[2 * e + 1] = 0;
    this.count++;
    this.place(e << 1);
    this.place((e << 1) | 1);
    this.wheel.arm(e, now + this.timeoutMs[s]!);
    return e;
  }

  /** A packet of the connection passed: advance its state and refresh its deadline. */
  update(e: CtHandle, dir: CtDir, tcpFlags: number): void {
    const now = this.clock();
    this.pkts[2 * e + dir] = this.pkts[2 * e + dir]! + 1;
    this.lastSeenMs[e] = now;
    const s = next(this.st[e]!, dir, tcpFlags);
    this.st[e] = s;
    this.wheel.refresh(e, now + this.timeoutMs[s]!);
  }

  /** Activity seen elsewhere (the fast path's flow hit stamps) at clock time `at`. */
  touch(e: CtHandle, at: number): void {
    if (at <= this.lastSeenMs[e]!) return;
    this.lastSeenMs[e] = at;
    this.wheel.refresh(e, at + this.timeoutMs[this.st[e]!]!);
  }

  /**
   * Removes connections whose deadline passed. `prepare`, if given, first sees every connection
   * due and may return when each was last used elsewhere (clock ms, from flow hit stamps); such
   * a connection is refreshed instead. `removed` sees each one before it goes (its flows are
   * still readable). Returns the handles removed (free again once this returns).
   */
  expire(
    prepare?: (due: readonly CtHandle[]) => ((e: CtHandle) => number | undefined) | undefined,
    removed?: (e: CtHandle) => void,
  ): CtHandle[] {
    const now = this.clock();
    const due = this.wheel.due(now);
    if (due.length === 0) return due;
    const activity = prepare?.(due);
    const gone: CtHandle[] = [];
    for (const e of due) {
      const seen = activity?.(e);
      if (seen !== undefined) this.touch(e, seen);
      if (this.wheel.deadline(e) > now) {
        this.wheel.rearm(e);
        continue;
      }
      removed?.(e);
      this.remove(e);
      gone.push(e);
    }
    return gone;
  }

  /** Removes one connection (a revalidation found it no longer admitted); 0 is ignored. */
  remove(e: CtHandle): void {
    if (e <= 0 || e > this.high || this.st[e] === 0) return;
    this.unplace(e << 1);
    this.unplace((e << 1) | 1);
    this.wheel.unarm(e);
    this.flowKeys.clear(e);
    this.st[e] = 0;
    this.count--;
    this.free.push(e);
  }

  /** Live connections, oldest handle first. */
  entries(): CtHandle[] {
    const out: CtHandle[] = [];
    for (let e = 1; e <= this.high; e++) if (this.st[e] !== 0) out.push(e);
    return out;
  }

  state(e: CtHandle): CtState {
    return STATE_NAMES[this.st[e]!] as CtState;
  }

  /** When it expires unless something refreshes it (clock milliseconds). */
  deadline(e: CtHandle): number {
    return this.wheel.deadline(e);
  }

  /** The original direction's tuple. */
  tuple(e: CtHandle): CtTuple {
    const p = this.ports[e]!;
    return { proto: this.proto[e]!, src: this.src[e]!, dst: this.dst[e]!, srcPort: p >>> 16, dstPort: p & 0xffff };
  }

  /** The zones the original direction and the reply enter in. */
  zones(e: CtHandle): { orig: number; reply: number } {
    return { orig: this.origZone[e]!, reply: this.replyZone[e]! };
  }

  packets(e: CtHandle): { original: number; reply: number } {
    return { original: this.pkts[2 * e]!, reply: this.pkts[2 * e + 1]! };
  }

  /** Records a flow installed for this connection (removed with it); a 48-byte key. */
  addFlow(e: CtHandle, key: Uint8Array): void {
    this.flowKeys.add(e, key);
  }

  /** The keys of the flows installed for this connection (copies). */
  flows(e: CtHandle): Uint8Array[] {
    return this.flowKeys.list(e);
  }

  private matches(ref: number, zone: number, proto: number, s: number, d: number, ports: number): boolean {
    const e = ref >>> 1;
    if (this.proto[e] !== proto) return false;
    const p = this.ports[e]!;
    const icmp = proto === IPPROTO_ICMP;
    if ((ref & 1) === 0) {
      const kp = icmp ? p & 0xffff : p;
      return this.origZone[e] === zone && this.src[e] === s && this.dst[e] === d && kp === ports;
    }
    // The reply: addresses swapped; ports swapped, or for ICMP the identifier kept.
    const kp = icmp ? p & 0xffff : ((p << 16) | (p >>> 16)) >>> 0;
    return this.replyZone[e] === zone && this.src[e] === d && this.dst[e] === s && kp === ports;
  }

  /** The hash of one direction's key of connection `ref >> 1`. */
  private hashOf(ref: number): number {
    const e = ref >>> 1;
    const p = this.ports[e]!;
    const pr = this.proto[e]!;
    const icmp = pr === IPPROTO_ICMP;
    if ((ref & 1) === 0) return hash(this.origZone[e]!, pr, this.src[e]!, this.dst[e]!, icmp ? p & 0xffff : p);
    const kp = icmp ? p & 0xffff : ((p << 16) | (p >>> 16)) >>> 0;
    return hash(this.replyZone[e]!, pr, this.dst[e]!, this.src[e]!, kp);
  }

  private place(ref: number): void {
    const h = this.hashOf(ref);
    let i = h & this.mask;
    while (this.slots[i] !== 0) i = (i + 1) & this.mask;
    this.slots[i] = ref;
    this.hashes[i] = h;
  }

  private unplace(ref: number): void {
    const m = this.mask;
    let i = this.hashOf(ref) & m;
    while (this.slots[i] !== ref) {
      if (this.slots[i] === 0) return;
      i = (i + 1) & m;
    }
    // Backward-shift delete: pull later members of the probe run into the hole.
    for (let j = (i + 1) & m; this.slots[j] !== 0; j = (j + 1) & m) {
      const home = this.hashes[j]! & m;
      const between = i <= j ? home > i && home <= j : home > i || home <= j;
      if (between) continue;
      this.slots[i] = this.slots[j]!;
      this.hashes[i] = this.hashes[j]!;
      i = j;
    }
    this.slots[i] = 0;
  }

  private grow(n: number): void {
    const g = <T extends Uint32Array | Uint8Array | Float64Array>(a: T, len: number, make: (n: number) => T): T => {
      const b = make(len);
      b.set(a);
      return b;
    };
    this.origZone = g(this.origZone, n, (k) => new Uint32Array(k));
    this.replyZone = g(this.replyZone, n, (k) => new Uint32Array(k));
    this.src = g(this.src, n, (k) => new Uint32Array(k));
    this.dst = g(this.dst, n, (k) => new Uint32Array(k));
    this.ports = g(this.ports, n, (k) => new Uint32Array(k));
    this.proto = g(this.proto, n, (k) => new Uint8Array(k));
    this.st = g(this.st, n, (k) => new Uint8Array(k));
    this.lastSeenMs = g(this.lastSeenMs, n, (k) => new Float64Array(k));
    this.pkts = g(this.pkts, 2 * n, (k) => new Float64Array(k));
    this.wheel.grow(n);
  }

  private rehash(n: number): void {
    const old = this.slots;
    this.slots = new Int32Array(n);
    this.hashes = new Int32Array(n);
    this.mask = n - 1;
    for (const ref of old) if (ref !== 0) this.place(ref);
  }
}

function hash(zone: number, proto: number, s: number, d: number, ports: number): number {
  let h = Math.imul(zone ^ (proto << 24), 0x9e3779b1);
  h = Math.imul(h ^ s, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ d, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h ^ ports, 0x9e3779b1);
  return h ^ (h >>> 15);
}

/** The reply direction's tuple; an echo reply keeps the identifier where the request had it. */
function replyTuple(t: CtTuple): CtTuple {
  return t.proto === IPPROTO_ICMP
    ? { proto: t.proto, src: t.dst, dst: t.src, srcPort: ICMP_ECHO_REPLY << 8, dstPort: t.dstPort }
    : { proto: t.proto, src: t.dst, dst: t.src, srcPort: t.dstPort, dstPort: t.srcPort };
}

function next(s: number, dir: CtDir, flags: number): number {
  if (s === S_UNREPLIED) return dir === 1 ? S_REPLIED : s;
  if (s === S_REPLIED || s === S_ECHO) return s;
  if (flags & TCP_RST) return S_CLOSED;
  switch (s) {
    case S_SYN_SENT:
      return dir === 1 && (flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK) ? S_SYN_RECV : s;
    case S_SYN_RECV:
      return dir === 0 && (flags & TCP_ACK) !== 0 ? S_ESTABLISHED : s;
    case S_ESTABLISHED:
      return flags & TCP_FIN ? S_CLOSING : s;
    default:
      return s;
  }
}
