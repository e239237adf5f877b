import { Duplex } from 'node:stream';
import { ErrorCode, QingtianError } from '../errors.js';
import * as V from '../../generated/vsock.js';

/** Why a connection ended, by the engine's CR_* code. */
export const CLOSE_REASONS: Readonly<Record<number, string>> = {
  [V.CR_NONE]: 'none',
  [V.CR_REFUSED]: 'refused',
  [V.CR_RESET]: 'reset',
  [V.CR_CLEAN]: 'closed',
  [V.CR_ABORTED]: 'aborted',
  [V.CR_VIOLATION]: 'protocol-violation',
  [V.CR_TRANSPORT]: 'transport-reset',
  [V.CR_NO_SLOT]: 'no-slot',
};

/** What a socket needs from its endpoint: the shared words and rings of its connection slot. */
export interface ConnSlot {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  /** Byte address of the connection's words. */
  readonly conn: number;
  readonly rxRing: number;
  readonly txRing: number;
  readonly ringBytes: number;
  readonly index: number;
  readonly generation: number;
  /** Tells the engine something changed (data written or consumed, a request posted). */
  kick(): void;
  /** The endpoint forgets the slot (after its release). */
  forget(): void;
  /** The endpoint's clock, in ms (close timeouts). */
  now(): number;
  /** Asks the endpoint to call service() again after `ms` (a close waiting for the peer's RST). */
  recheckIn(ms: number): void;
}

/** Largest chunk handed to the readable side at once. */
const READ_CHUNK = 64 * 1024;

/**
 * One vsock stream connection, as a Node Duplex: bytes written go into the connection's
 * transmit ring, bytes the peer sent come out of its receive ring. The protocol (credit,
 * SHUTDOWN, RST) is the engine's; this side only posts requests and moves bytes. `end()` sends
 * SHUTDOWN(SEND) once the written data is out; `destroy()` closes cleanly (the data written goes
 * out, then SHUTDOWN both ways and the peer's RST), `destroy(err)` resets the connection (RST).
 */
export class VsockSocket extends Duplex {
  private wantRead = false;
  private pendingWrite: { buf: Uint8Array; off: number; cb: (e?: Error | null) => void } | null = null;
  private eofPushed = false;
  private releasing = false;
  private closingSince = 0;
  private connectSettle: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(
    private readonly slot: ConnSlot,
    private readonly closeTimeoutMs: number,
  ) {
    super({ allowHalfOpen: true });
    // After a clean close by the peer, reading to the end is all that is left.
    this.once('end', () => {
      if (this.state() === V.CS_CLOSED && !this.destroyed) this.destroy();
    });
  }

  /** This side's port (an ephemeral one is known once connected). */
  get localPort(): number {
    return this.word(V.CONN_LOCAL_PORT);
  }

  /** The peer's port. */
  get remotePort(): number {
    return this.word(V.CONN_PEER_PORT);
  }

  /** The slot index (for tests and stats). */
  get connIndex(): number {
    return this.slot.index;
  }

  /** Resolves once the peer accepted (outgoing connections). */
  connected(): Promise<void> {
    if (this.state() !== V.CS_CONNECTING && this.state() !== V.CS_CLAIMED) return Promise.resolve();
    return new Promise((resolve, reject) => (this.connectSettle = { resolve, reject }));
  }

  /** The engine's CS_* state of the connection. */
  state(): number {
    return Atomics.load(this.slot.i32, (this.slot.conn + V.CONN_STATE) >> 2) >>> 0;
  }

  /** Why the connection closed (a CLOSE_REASONS name), or null while it is open. */
  closeReason(): string | null {
    if (this.state() !== V.CS_CLOSED) return null;
    return CLOSE_REASONS[this.word(V.CONN_CLOSE_REASON)] ?? 'unknown';
  }

  private word(off: number): number {
    return Atomics.load(this.slot.i32, (this.slot.conn + off) >> 2) >>> 0;
  }

  private setWord(off: number, v: number): void {
    Atomics.store(this.slot.i32, (this.slot.conn + off) >> 2, v | 0);
  }

  private request(bits: number): void {
    Atomics.or(this.slot.i32, (this.slot.conn + V.CONN_APP_REQ) >> 2, bits);
    this.slot.kick();
  }

  override _read(): void {
    this.wantRead = true;
    this.pull();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const s = this.state();
    if (s !== V.CS_ESTABLISHED && s !== V.CS_CONNECTING) {
      cb(this.closedError('write'));
      return;
    }
    if ((this.word(V.CONN_PEER_SHUT) & V.VSOCK_SHUTDOWN_RCV) !== 0) {
      cb(this.peerShutError());
      return;
    }
    this.pendingWrite = { buf: chunk, off: 0, cb };
    if (s === V.CS_ESTABLISHED) this.flush();
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.state() === V.CS_ESTABLISHED) this.request(V.AR_SHUT_SEND);
    cb();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    const s = this.state();
    // Like close() on a TCP socket: without an error, what was written still goes out, then
    // SHUTDOWN both ways and the peer's RST (§5.10.6.5); with one, RST at once.
    if (s === V.CS_ESTABLISHED || s === V.CS_CONNECTING || s === V.CS_CLOSING) {
      const clean = err === null && s !== V.CS_CONNECTING;
      this.request(clean ? V.AR_CLOSE : V.AR_ABORT);
    }
    if (this.pendingWrite) {
      const w = this.pendingWrite;
      this.pendingWrite = null;
      w.cb(err ?? this.closedError('write'));
    }
    this.releasing = true;
    this.closingSince = this.slot.now();
    this.slot.recheckIn(this.closeTimeoutMs);
    this.connectSettle?.reject(err ?? this.closedError('connect'));
    this.connectSettle = null;
    this.service();
    cb(err);
  }

  /**
   * Called by the endpoint whenever the engine signalled: settle a connect, move bytes both
   * ways, turn the peer's SHUTDOWN or RST into end-of-stream or an error, release a dead slot.
   */
  service(): void {
    const s = this.state();
    if (this.releasing) {
      if (s === V.CS_CLOSED) {
        Atomics.or(this.slot.i32, (this.slot.conn + V.CONN_APP_REQ) >> 2, V.AR_RELEASE);
        this.slot.kick();
      } else if (s === V.CS_FREE || this.word(V.CONN_GENERATION) !== this.slot.generation) {
        this.slot.forget();
      } else if (s === V.CS_CLOSING) {
        // §5.10.6.5: no RST from the peer in time: force it.
        if (this.slot.now() - this.closingSince >= this.closeTimeoutMs) this.request(V.AR_ABORT);
        else this.slot.recheckIn(this.closeTimeoutMs);
      }
      return;
    }
    if (this.connectSettle && s !== V.CS_CONNECTING && s !== V.CS_CLAIMED) {
      const settle = this.connectSettle;
      this.connectSettle = null;
      if (s === V.CS_ESTABLISHED || s === V.CS_CLOSING) {
        settle.resolve();
        this.emit('connect');
      } else {
        // The caller gets the error from connect(); the socket it never saw just goes away.
        settle.reject(this.closedError('connect'));
        this.destroy();
        return;
      }
    }
    if (this.wantRead) this.pull();
    if (this.pendingWrite && (s === V.CS_ESTABLISHED || s === V.CS_CLOSING)) this.flush();
    if (s === V.CS_CLOSED) this.onClosed();
  }

  /** Moves received bytes to the readable side while it wants them; end-of-stream after the peer's SHUTDOWN(SEND). */
  private pull(): void {
    const { i32, u8, conn, rxRing, ringBytes } = this.slot;
    while (this.wantRead) {
      const head = Atomics.load(i32, (conn + V.CONN_RX_CNT) >> 2) >>> 0;
      const tail = this.word(V.CONN_RX_TAIL);
      const avail = (head - tail) >>> 0;
      if (avail === 0) break;
      const n = Math.min(avail, READ_CHUNK);
      const at = tail & (ringBytes - 1);
      const first = Math.min(n, ringBytes - at);
      const chunk = Buffer.allocUnsafe(n);
      chunk.set(u8.subarray(rxRing + at, rxRing + at + first), 0);
      if (first < n) chunk.set(u8.subarray(rxRing, rxRing + n - first), first);
      // Release: the bytes are copied out before the engine may overwrite them.
      this.setWord(V.CONN_RX_TAIL, (tail + n) >>> 0);
      this.slot.kick(); // credit for the peer
      this.wantRead = this.push(chunk);
    }
    const s = this.state();
    if (s === V.CS_CLOSED && this.word(V.CONN_CLOSE_REASON) !== V.CR_CLEAN) {
      this.onClosed(); // a reset is an error, not an end of stream
      return;
    }
    const drained = this.word(V.CONN_RX_CNT) === this.word(V.CONN_RX_TAIL);
    const peerDone = (this.word(V.CONN_PEER_SHUT) & 2) !== 0 || s === V.CS_CLOSED;
    if (drained && peerDone && !this.eofPushed && this.wantRead) {
      this.eofPushed = true;
      this.push(null);
    }
  }

  /** Copies the pending write into the transmit ring as far as it has room. */
  private flush(): void {
    const w = this.pendingWrite;
    if (!w) return;
    if ((this.word(V.CONN_PEER_SHUT) & V.VSOCK_SHUTDOWN_RCV) !== 0) {
      this.pendingWrite = null;
      w.cb(this.peerShutError());
      return;
    }
    const { i32, u8, conn, txRing, ringBytes } = this.slot;
    const head = this.word(V.CONN_TX_HEAD);
    const tail = Atomics.load(i32, (conn + V.CONN_TX_CNT) >> 2) >>> 0;
    let room = ringBytes - ((head - tail) >>> 0);
    let pos = head;
    while (room > 0 && w.off < w.buf.length) {
      const at = pos & (ringBytes - 1);
      const n = Math.min(room, ringBytes - at, w.buf.length - w.off);
      u8.set(w.buf.subarray(w.off, w.off + n), txRing + at);
      w.off += n;
      pos = (pos + n) >>> 0;
      room -= n;
    }
    if (pos !== head) {
      // Release: the bytes are in the ring before the engine sees the new producer index.
      this.setWord(V.CONN_TX_HEAD, pos);
      this.slot.kick();
    }
    if (w.off === w.buf.length) {
      this.pendingWrite = null;
      w.cb();
    }
  }

  /** The engine closed the connection: end-of-stream for a clean close, an error otherwise. */
  private onClosed(): void {
    if (this.pendingWrite) {
      const w = this.pendingWrite;
      this.pendingWrite = null;
      w.cb(this.closedError('write'));
    }
    // A clean close ends the stream once the data left in the ring is read (pull() pushes the
    // end, the 'end' handler destroys); anything else is an error now.
    if (this.word(V.CONN_CLOSE_REASON) === V.CR_CLEAN) {
      if (this.readableEnded && !this.destroyed) this.destroy();
      return;
    }
    if (!this.destroyed) this.destroy(this.closedError('connection'));
  }

  /** The peer said it receives no more (SHUTDOWN with RCV, §5.10.6.5): what is written cannot be delivered. */
  private peerShutError(): QingtianError {
    return new QingtianError(
      ErrorCode.VsockReset,
      `vsock write on port ${this.localPort} -> ${this.remotePort}: the peer shut down its receiving side`,
      { reason: 'peer-shutdown', localPort: this.localPort, remotePort: this.remotePort },
    );
  }

  private closedError(what: string): QingtianError {
    const reason = CLOSE_REASONS[this.word(V.CONN_CLOSE_REASON)] ?? 'unknown';
    return new QingtianError(
      ErrorCode.VsockReset,
      `vsock ${what} on port ${this.localPort} -> ${this.remotePort}: connection ${this.state() === V.CS_CLOSED ? reason : 'not open'}`,
      { reason, localPort: this.localPort, remotePort: this.remotePort },
    );
  }
}
