import type { Socket } from 'node:net';
import type { EngineRequest, RequestSink } from '../engine/engine-request.js';
import { VolumeFlag, VolumeOp } from '../engine/volume-queue-layout.js';
import type { VolumeStatus } from '../volume/volume-status.js';
import {
  NBD_CMD_DISC,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_ENOSPC,
  NBD_MAX_PAYLOAD,
  NBD_SIMPLE_REPLY_MAGIC,
} from './nbd-constants.js';
import { Negotiation, type NbdExport } from './negotiation.js';
import { RequestParser, type NbdRequest } from './request-parser.js';

const BLOCK = 4096;
/** Requests a connection may have in the engine; past it the socket is not read until some complete. */
const MAX_INFLIGHT = 256;
/** Replies are built in chunks of this size (a larger read gets a chunk of its own size). */
const REPLY_CHUNK = 256 << 10;

/** What a connection needs from the server: the exports and the engine to queue requests on. */
export interface NbdBackend {
  exports(): readonly NbdExport[];
  submit(volumeId: number, req: EngineRequest): void;
}

/** Counters of one connection (the server sums them). */
export interface NbdConnectionCounters {
  requests: number;
  /** Requests answered with an error by the connection itself (bad type, flags, range). */
  refused: number;
  /** Requests that completed with an error status from the volume. */
  failed: number;
  bytesRead: number;
  bytesWritten: number;
}

/**
 * One NBD client: the fixed newstyle negotiation, then requests parsed off the stream, checked
 * (type, flags, range) and queued on the storage engine as EngineRequests whose completions come
 * back here; replies are written once per engine burst (the socket corked around them). A
 * malformed request is answered with the protocol's error (EINVAL, ENOSPC) and the connection
 * goes on; a stream that cannot be followed (bad magic, an oversized write) is closed cleanly
 * after the replies already due. Nothing here can stop the server or another connection.
 */
export class NbdConnection implements RequestSink {
  readonly counters: NbdConnectionCounters = { requests: 0, refused: 0, failed: 0, bytesRead: 0, bytesWritten: 0 };
  private readonly negotiation: Negotiation;
  private readonly parser = new RequestParser(NBD_MAX_PAYLOAD);
  private export: NbdExport | null = null;
  /**
   * Requests in flight live in MAX_INFLIGHT preallocated slots (the engine request object and
   * the client's 8-byte handle), taken from and returned to a free list: a request allocates
   * nothing of its own past what the parser hands over.
   */
  private readonly slots: EngineRequest[];
  private readonly handles = Buffer.alloc(MAX_INFLIGHT * 8);
  private readonly free = new Int32Array(MAX_INFLIGHT);
  private freeCount = MAX_INFLIGHT;
  private inflight = 0;
  /**
   * Replies are built in place in a slab: a burst's replies go out as one socket write of the
   * slab's part [burstStart, slabEnd), and the next burst continues after it. A part handed to
   * the socket is never written again; a new slab is taken when one is used up.
   */
  private slab: Buffer = Buffer.allocUnsafe(REPLY_CHUNK);
  private burstStart = 0;
  private slabEnd = 0;
  private ready: Buffer[] = [];
  private closing = false;
  private closed = false;
  private paused = false;
  /** Why the connection was closed by the server, if it was. */
  closeReason: string | null = null;

  constructor(
    private readonly socket: Socket,
    private readonly backend: NbdBackend,
    private readonly onClose: (c: NbdConnection) => void,
  ) {
    this.slots = Array.from({ length: MAX_INFLIGHT }, (_, i) => {
      this.free[i] = MAX_INFLIGHT - 1 - i;
      const r: EngineRequest = {
        op: VolumeOp.Read,
        flags: 0,
        lba: 0,
        blocks: 0,
        bytes: 0,
        skew: 0,
        addr: -1,
        heap: null,
        tag: i,
        sink: this,
        queuedAt: 0,
      };
      return r;
    });
    this.negotiation = new Negotiation(
      () => backend.exports(),
      (b) => this.socket.write(b),
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.guard(() => this.onData(chunk)));
    socket.on('drain', () => this.resume());
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    this.negotiation.greet();
  }

  /** Ends the connection now (server shutdown). */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  complete(req: EngineRequest, status: VolumeStatus, data: Uint8Array | null): void {
    this.inflight--;
    const slot = req.tag;
    req.heap = null;
    if (status !== 0) this.counters.failed++;
    else if (data) this.counters.bytesRead += data.length;
    this.reply(this.handles, slot * 8, status, status === 0 ? data : null);
    this.free[this.freeCount++] = slot;
  }

  endBurst(): void {
    this.guard(() => this.afterBurst());
  }

  /** Whatever goes wrong in one connection ends that connection, never the server's thread. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      this.closeReason = `internal error: ${e instanceof Error ? e.message : String(e)}`;
      this.socket.destroy();
      this.teardown();
    }
  }

  private afterBurst(): void {
    this.flushReplies();
    if (this.paused && this.inflight < MAX_INFLIGHT / 2) this.resume();
    if (this.closing && this.inflight === 0) this.finishClose();
    else if (!this.paused) this.process();
  }

  private onData(chunk: Buffer): void {
    if (this.closed || this.closing) return;
    if (!this.export) {
      const out = this.negotiation.feed(chunk);
      if (out.kind === 'close') return this.hangUp(out.reason);
      if (out.kind === 'continue') return;
      this.export = out.export;
      if (!out.leftover) return;
      chunk = out.leftover;
    }
    this.parser.push(chunk);
    this.process();
  }

  /** Takes requests off the parser while there is room in flight. */
  private process(): void {
    while (!this.closing && this.inflight < MAX_INFLIGHT) {
      const r = this.parser.next();
      if (r.kind === 'more') break;
      if (r.kind === 'fatal') {
        this.flushReplies();
        this.hangUp(r.reason);
        return;
      }
      this.request(r.request);
    }
    this.flushReplies();
    if (this.inflight >= MAX_INFLIGHT && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private request(q: NbdRequest): void {
    this.counters.requests++;
    const e = this.export!;
    const t = q.type;
    if (t === NBD_CMD_DISC) {
      this.closing = true;
      if (this.inflight === 0) this.finishClose();
      return;
    }
    let op: VolumeOp;
    let allowed = 0;
    let flags = 0;
    if (t === NBD_CMD_READ) op = VolumeOp.Read;
    else if (t === NBD_CMD_WRITE) [op, allowed] = [VolumeOp.Write, NBD_CMD_FLAG_FUA];
    else if (t === NBD_CMD_FLUSH) op = VolumeOp.Flush;
    else if (t === NBD_CMD_TRIM) [op, allowed] = [VolumeOp.Discard, NBD_CMD_FLAG_FUA];
    else if (t === NBD_CMD_WRITE_ZEROES)
      [op, allowed] = [VolumeOp.WriteZeroes, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE];
    else return this.refuse(q, NBD_EINVAL);
    if ((q.flags & ~allowed) !== 0) return this.refuse(q, NBD_EINVAL);
    if (q.flags & NBD_CMD_FLAG_FUA) flags |= VolumeFlag.Fua;
    if (op === VolumeOp.WriteZeroes && (q.flags & NBD_CMD_FLAG_NO_HOLE) === 0) flags |= VolumeFlag.Unmap;
    if (op === VolumeOp.Flush) {
      if (q.offset !== 0 || q.length !== 0) return this.refuse(q, NBD_EINVAL);
    } else {
      if (q.length === 0) return this.refuse(q, NBD_EINVAL);
      if (q.offset + q.length > e.sizeBytes) return this.refuse(q, op === VolumeOp.Read ? NBD_EINVAL : NBD_ENOSPC);
      if (op === VolumeOp.Read && q.length > NBD_MAX_PAYLOAD) return this.refuse(q, NBD_EINVAL);
    }
    const lba = Math.floor(q.offset / BLOCK);
    const end = Math.ceil((q.offset + q.length) / BLOCK);
    // process() keeps inflight < MAX_INFLIGHT, so a slot is free.
    const slot = this.free[--this.freeCount]!;
    const r = this.slots[slot]!;
    q.handle.copy(this.handles, slot * 8, 0, 8);
    if (q.payload) this.counters.bytesWritten += q.payload.length;
    this.inflight++;
    r.op = op;
    r.flags = flags;
    r.lba = lba;
    r.blocks = end - lba;
    r.bytes = q.length;
    r.skew = q.offset - lba * BLOCK;
    r.heap = q.payload;
    this.backend.submit(e.volumeId, r);
  }

  private refuse(q: NbdRequest, error: number): void {
    this.counters.refused++;
    this.reply(q.handle, 0, error, null);
  }

  /** Appends a simple reply (and its data, copied now: `data` may be transient) to the burst. */
  private reply(handle: Buffer, handleAt: number, error: number, data: Uint8Array | null): void {
    if (this.closed) return;
    const need = 16 + (data?.length ?? 0);
    if (this.slabEnd + need > this.slab.length) {
      if (this.slabEnd > this.burstStart) this.ready.push(this.slab.subarray(this.burstStart, this.slabEnd));
      this.slab = Buffer.allocUnsafe(Math.max(REPLY_CHUNK, need));
      this.burstStart = this.slabEnd = 0;
    }
    const o = this.slab;
    const at = this.slabEnd;
    o.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, at);
    o.writeUInt32BE(error, at + 4);
    handle.copy(o, at + 8, handleAt, handleAt + 8);
    if (data) o.set(data, at + 16);
    this.slabEnd += need;
  }

  private flushReplies(): void {
    if (this.closed) return;
    if (this.slabEnd > this.burstStart) {
      this.ready.push(this.slab.subarray(this.burstStart, this.slabEnd));
      this.burstStart = this.slabEnd;
    }
    if (this.ready.length === 0) return;
    const out = this.ready;
    this.ready = [];
    if (out.length === 1) this.socket.write(out[0]!);
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
    }
    // Nothing left in the stream's buffer: the kernel took every byte during the write, and no
    // one holds the slab any more. Reuse it from the start instead of taking a new one (a fresh
    // 256 KiB slab a few dozen replies is what kept the collector busy).
    if (this.socket.writableLength === 0 && this.ready.length === 0 && this.slabEnd === this.burstStart) {
      this.slabEnd = this.burstStart = 0;
    }
    if (this.socket.writableNeedDrain && !this.paused) {
      // The client is not reading its replies: stop reading its requests until it does.
      this.paused = true;
      this.socket.pause();
    }
  }

  private resume(): void {
    if (!this.paused || this.closed || this.socket.writableNeedDrain || this.inflight >= MAX_INFLIGHT) return;
    this.paused = false;
    this.socket.resume();
    this.process();
  }

  /** A stream the server cannot follow: close cleanly, after what is already due. */
  private hangUp(reason: string): void {
    this.closeReason = reason;
    this.closing = true;
    if (this.inflight === 0) this.finishClose();
  }

  private finishClose(): void {
    this.flushReplies();
    this.socket.end();
    this.teardown();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing = true;
    this.onClose(this);
  }
}
