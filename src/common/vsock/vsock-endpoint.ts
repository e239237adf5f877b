import { ErrorCode, QingtianError } from '../errors.js';
import * as V from '../../generated/vsock.js';
import { VsockSocket, type ConnSlot } from './vsock-socket.js';

/** Where an endpoint is and how to tell its engine that something changed. */
export interface EndpointAccess {
  /** The shared buffer behind host memory. */
  readonly buffer: ArrayBufferLike;
  /** Host address of the endpoint region ('VSEP'). */
  readonly base: number;
  /** Wakes the engine (rings the device core's doorbell, or schedules a driver run). */
  kick(): void;
  /** Clock in ms for close timeouts. Default: performance.now. */
  now?: () => number;
  /** How long a clean close waits for the peer's RST before sending one (ms). Default 2000. */
  closeTimeoutMs?: number;
}

/** A listening port: `close()` stops accepting (established connections stay). */
export interface VsockListener {
  readonly port: number;
  close(): void;
}

/** `RX_PACKETS` → `rxPackets`, as the names below are made at run time. */
type Camel<S extends string> = S extends `${infer H}_${infer T}`
  ? `${Lowercase<H>}${Capitalize<Camel<T>>}`
  : Lowercase<S>;
type CounterOf<K> = K extends `EPC_${infer N}` ? Camel<N> : never;

/** The name of one endpoint counter: an `EPC_*` index of the layout, camel-cased (`EPC_RX_PACKETS`: `rxPackets`). */
export type VsockEndpointCounter = CounterOf<Exclude<Extract<keyof typeof V, `EPC_${string}`>, 'EPC_COUNT'>>;

/** Counters of an endpoint (the engine's, read out of band), by name. */
export type VsockEndpointStats = Record<VsockEndpointCounter, number>;

const COUNTER_NAMES: [VsockEndpointCounter, number][] = Object.entries(V)
  .filter(([k, v]) => k.startsWith('EPC_') && k !== 'EPC_COUNT' && typeof v === 'number')
  .map(([k, v]) => [
    k
      .slice(4)
      .toLowerCase()
      .replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase()) as VsockEndpointCounter,
    v as number,
  ]);

/**
 * The application's side of a vsock endpoint (assembly/vsock/endpoint.ts): the socket API over
 * the connection table the engine shares. The control plane holds one per vsock device (host
 * side, CID 2); a host agent holds the one of its driver. Whoever drives the engine calls
 * `poll()` after the engine signalled, and the endpoint services its sockets and listeners.
 */
export class VsockEndpoint {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly view: DataView;
  private readonly sockets = new Map<number, VsockSocket>();
  private readonly listeners = new Map<number, { slot: number; onConnection: (s: VsockSocket) => void }>();
  private readonly now: () => number;
  private readonly closeTimeoutMs: number;
  private recheck: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly access: EndpointAccess) {
    this.i32 = new Int32Array(access.buffer);
    this.u8 = new Uint8Array(access.buffer);
    this.view = new DataView(access.buffer);
    this.now = access.now ?? (() => performance.now());
    this.closeTimeoutMs = access.closeTimeoutMs ?? 2000;
    if (this.view.getUint32(access.base, true) !== V.EP_MAGIC) {
      throw new QingtianError(ErrorCode.BadHeader, `vsock endpoint at ${access.base}: no 'VSEP' header`);
    }
  }

  get base(): number {
    return this.access.base;
  }

  private ep(off: number): number {
    return Atomics.load(this.i32, (this.access.base + off) >> 2) >>> 0;
  }

  get localCid(): number {
    return this.ep(V.EP_LOCAL_CID);
  }

  get peerCid(): number {
    return this.ep(V.EP_PEER_CID);
  }

  get maxConns(): number {
    return this.ep(V.EP_MAX_CONNS);
  }

  get ringBytes(): number {
    return this.ep(V.EP_RING_BYTES);
  }

  /** Open sockets (connected, connecting, or closing). */
  get socketCount(): number {
    return this.sockets.size;
  }

  /** Accepts connections to `port`; each one is handed to `onConnection`. */
  listen(port: number, onConnection: (socket: VsockSocket) => void): VsockListener {
    this.assertOpen();
    checkPort(port, 'listen port');
    if (this.listeners.has(port))
      throw new QingtianError(ErrorCode.InvalidArgument, `vsock listen port: ${port} is already listening`);
    const used = new Set([...this.listeners.values()].map((l) => l.slot));
    let slot = 0;
    while (slot < V.EP_MAX_LISTENERS && used.has(slot)) slot++;
    if (slot === V.EP_MAX_LISTENERS)
      throw new QingtianError(ErrorCode.CapacityExceeded, `vsock: all ${V.EP_MAX_LISTENERS} listener slots are in use`);
    const at = this.access.base + V.EP_LISTENERS + slot * V.EP_LISTENER_BYTES;
    this.view.setUint32(at, port, true);
    Atomics.store(this.i32, (at + 4) >> 2, 1); // release: the port is written before the slot goes active
    this.listeners.set(port, { slot, onConnection });
    return {
      port,
      close: () => {
        const l = this.listeners.get(port);
        if (!l) return;
        Atomics.store(this.i32, (this.access.base + V.EP_LISTENERS + l.slot * V.EP_LISTENER_BYTES + 4) >> 2, 0);
        this.listeners.delete(port);
      },
    };
  }

  /**
   * Connects to `port` on the peer. Resolves with the socket once the peer accepted; rejects
   * with QT_VSOCK_RESET when it refused (nobody listening, no room), QT_CAPACITY_EXCEEDED when
   * this side has no free connection slot.
   */
  async connect(port: number, options: { localPort?: number } = {}): Promise<VsockSocket> {
    this.assertOpen();
    checkPort(port, 'connect port');
    const localPort = options.localPort ?? 0;
    if (localPort !== 0) checkPort(localPort, 'connect localPort');
    const base = this.access.base;
    const n = this.maxConns;
    for (let i = 0; i < n; i++) {
      const conn = base + V.EP_CONNS + i * V.CONN_BYTES;
      if (Atomics.compareExchange(this.i32, (conn + V.CONN_STATE) >> 2, V.CS_FREE, V.CS_CLAIMED) !== V.CS_FREE)
        continue;
      // The slot is ours while CLAIMED: fill it, make it visible to the engine's scan, then ask.
      this.view.setUint32(conn + V.CONN_LOCAL_PORT, localPort, true);
      this.view.setUint32(conn + V.CONN_PEER_PORT, port, true);
      const gen = (this.view.getUint32(conn + V.CONN_GENERATION, true) + 1) >>> 0;
      this.view.setUint32(conn + V.CONN_GENERATION, gen, true);
      this.raiseHighWater(i);
      const socket = this.adopt(i, gen);
      Atomics.or(this.i32, (conn + V.CONN_APP_REQ) >> 2, V.AR_CONNECT);
      this.access.kick();
      await socket.connected();
      return socket;
    }
    throw new QingtianError(
      ErrorCode.CapacityExceeded,
      `vsock connect to port ${port}: all ${n} connection slots are in use`,
    );
  }

  /** Services every socket and accepts new connections. Call after the engine signalled. */
  poll(): void {
    if (this.closed) return;
    const hw = this.ep(V.EP_HIGH_WATER);
    const base = this.access.base;
    for (let i = 0; i < hw; i++) {
      const conn = base + V.EP_CONNS + i * V.CONN_BYTES;
      const known = this.sockets.get(i);
      if (known) {
        known.service();
        // A socket whose slot was freed is forgotten here: the slot may already hold a new connection.
        if (this.sockets.get(i) === known) continue;
      }
      const s = Atomics.load(this.i32, (conn + V.CONN_STATE) >> 2);
      if (s !== V.CS_ESTABLISHED && s !== V.CS_CLOSED) continue;
      if (this.view.getUint32(conn + V.CONN_ORIGIN, true) !== V.ORIGIN_INCOMING) continue;
      // A connection the engine accepted: hand it to its listener, or end it if nobody listens any more.
      const gen = this.view.getUint32(conn + V.CONN_GENERATION, true);
      const socket = this.adopt(i, gen);
      const l = this.listeners.get(socket.localPort);
      if (l) l.onConnection(socket);
      else socket.destroy();
      socket.service();
    }
  }

  /** The engine's counters for this endpoint. */
  stats(): VsockEndpointStats {
    const out = {} as VsockEndpointStats;
    for (const [name, idx] of COUNTER_NAMES)
      out[name] = Number(this.view.getBigUint64(this.access.base + V.EP_COUNTERS + 8 * idx, true));
    return out;
  }

  /** One counter of {@link stats} by its EPC_* index, read without allocating (low word first). */
  counter(index: number): number {
    const w = (this.access.base + V.EP_COUNTERS + 8 * index) >> 2;
    return (this.i32[w]! >>> 0) + (this.i32[w + 1]! >>> 0) * 2 ** 32;
  }

  /** Destroys every socket (RST) and stops listening. */
  close(): void {
    if (this.closed) return;
    for (const port of [...this.listeners.keys()]) {
      const l = this.listeners.get(port)!;
      Atomics.store(this.i32, (this.access.base + V.EP_LISTENERS + l.slot * V.EP_LISTENER_BYTES + 4) >> 2, 0);
    }
    this.listeners.clear();
    for (const s of this.sockets.values()) s.destroy();
    this.poll();
    this.closed = true;
    if (this.recheck) clearTimeout(this.recheck);
  }

  private adopt(i: number, generation: number): VsockSocket {
    const conn = this.access.base + V.EP_CONNS + i * V.CONN_BYTES;
    const rings = this.access.base + ((V.EP_CONNS + this.maxConns * V.CONN_BYTES + 63) & ~63);
    const ringBytes = this.ringBytes;
    const slot: ConnSlot = {
      i32: this.i32,
      u8: this.u8,
      conn,
      rxRing: rings + i * 2 * ringBytes,
      txRing: rings + i * 2 * ringBytes + ringBytes,
      ringBytes,
      index: i,
      generation,
      kick: () => this.access.kick(),
      forget: () => {
        if (this.sockets.get(i) === socket) this.sockets.delete(i);
      },
      now: this.now,
      recheckIn: (ms) => this.scheduleRecheck(ms),
    };
    const socket = new VsockSocket(slot, this.closeTimeoutMs);
    this.sockets.set(i, socket);
    return socket;
  }

  private scheduleRecheck(ms: number): void {
    if (this.recheck || this.closed) return;
    this.recheck = setTimeout(() => {
      this.recheck = null;
      this.poll();
    }, ms + 1);
    this.recheck.unref();
  }

  private raiseHighWater(i: number): void {
    const idx = (this.access.base + V.EP_HIGH_WATER) >> 2;
    for (;;) {
      const hw = Atomics.load(this.i32, idx) >>> 0;
      if (i < hw || Atomics.compareExchange(this.i32, idx, hw, i + 1) === hw) return;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new QingtianError(ErrorCode.Disposed, 'vsock endpoint is closed');
  }
}

function checkPort(port: number, field: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xfffffffe) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `vsock ${field}: expected an integer in [0, 4294967294], got ${String(port)}`,
    );
  }
}
