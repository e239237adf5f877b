import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { M_TCP_FLAGS } from '../../generated/flow.js';
import { toDatapathDowncall } from './datapath-actions.js';
import type { Downcall } from './flow-actions.js';
import {
  NET_FLUSH_NONE,
  NET_KEY_BYTES,
  NET_KEY_IN_PORT,
  NET_SW_FLUSH_MODE,
  NET_KEY_VNI,
  NET_UPC_ACTION,
  NET_UPC_L2_MISMATCH,
  NET_UPF_FROM_TUNNEL,
  NET_UPC_FRAME_CAP,
  NET_UPF_NET_HDR,
  NET_UPF_PENDING,
  NET_UPF_TRUNCATED,
} from './net-layout.js';
import type { Revalidator } from './revalidator.js';
import type { SlowPath } from './slow-path.js';
import type { MissedPacket } from './slow-path-types.js';
import { FairDrain, type UpcallSource } from './upcall-queue.js';
import {
  takeUpcall,
  writeDowncall,
  type Downcall as DatapathDowncall,
  type FlushTerm,
  type UpcallRecord,
} from './upcall-record.js';
import type { SlowPathSwitch } from './slow-path-switch.js';

/** A downcall waiting for room in the ring, with what its upcall carried; or a bare release. */
type Queued = { d: Downcall; extra?: Extra } | { release: number };
/** Terms one masked flush of the fast path takes (assembly/net/upcall.ts NET_DOWN_FLUSH_MASKED). */
const MASKED_FLUSH_TERMS = 2;
/** Releases one RELEASE downcall carries (its frame area, 4 bytes each). */
const RELEASES_PER_RECORD = NET_UPC_FRAME_CAP >> 2;
interface Extra {
  netHdr?: Uint8Array | undefined;
  flags?: number | undefined;
  release?: number | undefined;
}

export interface SlowPathRunnerOptions {
  /** Milliseconds; also the switch's tick. */
  clock: () => number;
  /** Upcalls taken from one port per visit, and per burst in all. Defaults 4 and 64. */
  quantum?: number | undefined;
  burst?: number | undefined;
  /**
   * How often idle connections are swept (ms), at least. Default 1000. A sweep that had to scan a
   * big flow table spaces the next one out so sweeping takes at most 1/20 of the time.
   */
  sweepMs?: number | undefined;
}

/** The slow-path loop's counters: {@link NetworkStats}.runner. */
export interface RunnerStats {
  /** Bursts of upcalls handled. */
  bursts: number;
  /** Upcalls taken from the ports' rings. */
  upcalls: number;
  /** Downcalls written to the switch. */
  downcalls: number;
  /** Downcalls waiting for room in the downcall ring. */
  backlog: number;
  /** Milliseconds spent handling upcalls (pump): the loop's busy time, whatever thread it runs on. */
  busyMs: number;
}

/**
 * Runs the slow path against a vSwitch: drains the per-port upcall rings fairly in bursts,
 * decides each burst with the slow path and writes the answers to the downcall ring; keeps the
 * switch's tick and sweeps idle connections. Whoever owns it calls pump() when the upcall bell
 * moved (host.network: the switch's own core, slow-path-host-job.ts). Per burst, never per
 * packet of the fast path: only packets no flow matched come here.
 */
export class SlowPathRunner {
  private readonly drain: FairDrain<UpcallRecord>;
  private readonly backlog: Queued[] = [];
  /** This burst's upcalls by seq: the sender's header, and the pending hash of counted ones. */
  private readonly extras = new Map<number, Extra>();
  private flushSent = false;
  /** Flushes wanted: everything, or the flows matching any of these terms (deduplicated). */
  private wantFlush = { all: false, terms: new Map<string, FlushTerm>() };
  private lastSweep = 0;
  private sweepGap = 0;
  private readonly stats0: RunnerStats = {
    bursts: 0,
    upcalls: 0,
    downcalls: 0,
    backlog: 0,
    busyMs: 0,
  };

  constructor(
    private readonly sw: SlowPathSwitch,
    private readonly memory: HostMemoryApi,
    private readonly slow: SlowPath,
    private readonly reval: Revalidator,
    private readonly options: SlowPathRunnerOptions,
  ) {
    this.drain = new FairDrain({ quantum: options.quantum, budget: options.burst });
    // This runner answers every counted upcall once: the fast path may keep flows in order.
    sw.orderUpcalls(true);
  }

  /** Drains `port`'s upcall ring from now on. */
  addPort(port: number): void {
    const ring = this.sw.upcallRing(port);
    const mem = this.memory;
    const src: UpcallSource<UpcallRecord> = {
      port,
      pending: () => ring.spsc.size(),
      take: () => takeUpcall(mem, ring),
    };
    this.drain.add(src);
  }

  removePort(port: number): void {
    this.drain.remove(port);
  }

  /** Downcalls still to write, or a flush wanted or still running in the fast path. */
  busy(): boolean {
    this.flush();
    return this.backlog.length > 0 || this.flushSent || this.wantFlush.all || this.wantFlush.terms.size > 0;
  }

  /** Nothing to write and no flush wanted or sent: cheaper than busy(), which also writes what fits. */
  idle(): boolean {
    return this.backlog.length === 0 && !this.flushSent && !this.wantFlush.all && this.wantFlush.terms.size === 0;
  }

  stats(): RunnerStats {
    return { ...this.stats0, backlog: this.backlog.length };
  }

  /** Sends downcalls the slow path made outside a burst (the revalidator's flushes). */
  send(downcalls: Downcall[]): void {
    this.enqueue(downcalls);
    this.flush();
  }

  /** Handles the upcalls waiting now, in fair bursts (at most `maxBursts`); returns how many. */
  pump(maxBursts = Infinity): number {
    const now = this.tick();
    const t0 = performance.now();
    let total = 0;
    for (let b = 0; b < maxBursts && this.drain.hasWork(); b++) {
      const recs = this.drain.drain();
      if (recs.length === 0) break;
      total += recs.length;
      this.stats0.bursts++;
      this.stats0.upcalls += recs.length;
      const pkts = recs.map((r) => this.missed(r));
      this.enqueue(this.slow.handle(pkts));
      // Counted upcalls the slow path answered with nothing (drops): release them too.
      for (const x of this.extras.values()) if (x.release !== undefined) this.backlog.push({ release: x.release });
      this.flush();
      this.extras.clear();
    }
    if (now - this.lastSweep >= Math.max(this.options.sweepMs ?? 1000, this.sweepGap)) this.sweep(now);
    this.flush();
    this.stats0.busyMs += performance.now() - t0;
    return total;
  }

  private tick(): number {
    const now = this.options.clock();
    this.sw.setNow(Math.floor(now) >>> 0);
    return now;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    const ct = this.slow.conntrack;
    // The stamps of only the due connections' flows, one keyed probe each.
    this.reval.sweep((due) => {
      const keys: Uint8Array[] = [];
      const owner: number[] = [];
      for (const e of due)
        for (const k of ct.flows(e)) {
          keys.push(k);
          owner.push(e);
        }
      if (keys.length === 0) return undefined;
      const t0 = performance.now();
      const stamps = this.sw.flowStamps(keys);
      this.sweepGap = 20 * (performance.now() - t0);
      const last = new Map<number, number>();
      stamps.forEach((t, i) => {
        if (t === undefined) return;
        const e = owner[i]!;
        last.set(e, Math.max(last.get(e) ?? 0, t));
      });
      return (e) => last.get(e);
    });
  }

  /**
   * Queues downcalls; flushes are collected apart (see flush()). The first answer to an upcall of
   * this burst takes its header and, for a counted upcall, its release.
   */
  private enqueue(downcalls: Downcall[]): void {
    for (const d of downcalls) {
      if (d.op === 'flush-all') this.wantFlush.all = true;
      else if (d.op === 'flush-cookie') {
        const t = { cookie: (d.cookie & d.mask) >>> 0, mask: d.mask >>> 0 };
        this.wantFlush.terms.set(`${t.cookie}/${t.mask}`, t);
      } else {
        const extra = 'seq' in d ? this.extras.get(d.seq) : undefined;
        if (extra && 'seq' in d) this.extras.set(d.seq, { ...extra, release: undefined });
        this.backlog.push(extra ? { d, extra } : { d });
      }
    }
  }

  /**
   * Writes what fits into the downcall ring. The fast path flushes over many runs, one flush at a
   * time, and a flush removes flows installed while it runs. So the flushes wanted meanwhile wait
   * for the one in progress and then go as one: an exact cookie, a masked flush of at most two
   * terms (one port's flows in and out), or everything. While a flush is wanted or running no flow
   * is installed: its packet is re-injected only, and the next packet of the flow comes up again
   * and is installed once the flush is over.
   */
  private flush(): void {
    const flushing = this.flushing();
    const wanted = this.wantFlush.all || this.wantFlush.terms.size > 0;
    let wrote = false;
    if (wanted && !flushing) {
      const terms = [...this.wantFlush.terms.values()];
      const d: DatapathDowncall =
        this.wantFlush.all || terms.length > MASKED_FLUSH_TERMS
          ? { op: 'flush-all' }
          : terms.length === 1 && terms[0]!.mask === 0xffffffff
            ? { op: 'flush-cookie', cookie: terms[0]!.cookie }
            : { op: 'flush-masked', terms };
      if (writeDowncall(this.memory, this.sw.down, d)) {
        this.flushSent = true;
        this.wantFlush = { all: false, terms: new Map() };
        this.stats0.downcalls++;
        wrote = true;
      }
    }
    const hold = this.flushSent || wanted;
    let n = 0;
    while (n < this.backlog.length) {
      // A run of bare releases (and installs skipped while a flush runs) goes as one record.
      const hashes: number[] = [];
      let m = n;
      for (; m < this.backlog.length && hashes.length < RELEASES_PER_RECORD; m++) {
        const q = this.backlog[m]!;
        if ('release' in q) hashes.push(q.release);
        else if (hold && q.d.op === 'install') {
          if (q.extra?.release !== undefined) hashes.push(q.extra.release);
        } else break;
      }
      if (m > n) {
        if (hashes.length > 0) {
          if (!writeDowncall(this.memory, this.sw.down, { op: 'release', hashes })) break;
          wrote = true;
          this.stats0.downcalls++;
        }
        n = m;
        continue;
      }
      const q = this.backlog[n]! as { d: Downcall; extra?: Extra };
      let d = q.d;
      if (hold && d.op === 'install-reinject') {
        const { seq, port, actions, frame, cookie, encoded } = d;
        d = { op: 'reinject', seq, port, actions, frame: frame!, cookie };
        if (encoded) d.encoded = encoded;
      }
      const out = toDatapathDowncall(d, q.extra);
      if (q.extra?.release !== undefined && 'actions' in out) out.release = q.extra.release;
      if (!writeDowncall(this.memory, this.sw.down, out)) break;
      wrote = true;
      n++;
      this.stats0.downcalls++;
    }
    this.backlog.splice(0, n);
    // One doorbell for the whole burst of downcalls.
    if (wrote) this.sw.kick();
  }

  /** Whether a flush this runner sent may still be going (not yet consumed, or its lap not over). */
  private flushing(): boolean {
    if (!this.flushSent) return false;
    const v = this.memory.view;
    if (this.sw.down.spsc.size() > 0 || v.getUint32(this.sw.state.base + NET_SW_FLUSH_MODE, true) !== NET_FLUSH_NONE)
      return true;
    this.flushSent = false;
    return false;
  }

  private missed(r: UpcallRecord): MissedPacket {
    // The record is a private copy: the key is a view into it. The key the fast path looked up
    // carries the logical ingress port: the upcall's port.
    const key = r.parse.subarray(0, NET_KEY_BYTES);
    key[NET_KEY_IN_PORT] = r.port & 0xff;
    key[NET_KEY_IN_PORT + 1] = r.port >>> 8;
    const p: MissedPacket = {
      seq: r.seq,
      port: r.port,
      reason: r.reason === NET_UPC_L2_MISMATCH ? 'l2-mismatch' : r.reason === NET_UPC_ACTION ? 'action' : 'miss',
      key,
      tcpFlags: r.parse[M_TCP_FLAGS]!,
      frame: r.frame,
      truncated: (r.flags & NET_UPF_TRUNCATED) !== 0,
    };
    if ((r.flags & NET_UPF_FROM_TUNNEL) !== 0) {
      const v = new DataView(key.buffer, key.byteOffset, NET_KEY_BYTES);
      const ip = new DataView(r.remoteIp.buffer, r.remoteIp.byteOffset, 4);
      p.tunnel = { vni: v.getUint32(NET_KEY_VNI, true), address: ip.getUint32(0, false), port: r.remotePort };
    }
    const extra: Extra = {};
    if ((r.flags & NET_UPF_NET_HDR) !== 0) {
      extra.netHdr = r.netHdr;
      extra.flags = NET_UPF_NET_HDR;
    }
    if ((r.flags & NET_UPF_PENDING) !== 0) extra.release = r.hash;
    if (extra.netHdr || extra.release !== undefined) this.extras.set(r.seq, extra);
    return p;
  }
}
