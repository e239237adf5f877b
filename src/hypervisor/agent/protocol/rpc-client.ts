import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { FrameKind, FrameReader, encodeFrame, type Frame } from './frame.js';
import { AgentStatus, statusError } from './status.js';

interface Pending {
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

/**
 * The calling end of an agent protocol over one stream: a request frame per call with a fresh
 * id, a promise per request settled by the response with that id (or a timeout), and 'event'
 * for frames the agent sends unasked. Bodies are opaque here (JSON for the host agent, binary
 * structs for the guest agent); statuses other than ok become QingtianErrors (status.ts).
 * Events: 'event' (frame), 'close' (error | null).
 */
export class RpcClient extends EventEmitter {
  private readonly reader: FrameReader;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: Error | null = null;
  private ended = false;

  constructor(
    private readonly socket: Duplex,
    private readonly opts: { maxBody: number; timeoutMs: number; name: string },
  ) {
    super();
    this.reader = new FrameReader(opts.maxBody);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.shut(e));
    socket.on('close', () => this.shut(null));
    socket.on('end', () => this.shut(null));
  }

  /** Requests not answered yet. */
  get inFlight(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** Sends one request; resolves with its (ok) response frame. */
  call(type: number, body: Uint8Array, what: string, timeoutMs = this.opts.timeoutMs): Promise<Frame> {
    if (this.ended) {
      return Promise.reject(
        new QingtianError(ErrorCode.AgentProtocol, `${this.opts.name} ${what}: the connection is closed`, {
          cause: this.closedWith?.message,
        }),
      );
    }
    const id = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    return new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QingtianError(ErrorCode.Timeout, `${this.opts.name} ${what}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, what });
      this.socket.write(encodeFrame({ kind: FrameKind.Request, type, id, status: 0, body }));
    });
  }

  close(): void {
    this.socket.destroy();
    this.shut(null);
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.socket.destroy();
      this.shut(new QingtianError(ErrorCode.AgentProtocol, `${this.opts.name}: ${(e as Error).message}`));
      return;
    }
    for (const f of frames) {
      if (f.kind === FrameKind.Event) {
        this.emit('event', f);
        continue;
      }
      const p = this.pending.get(f.id);
      if (f.kind !== FrameKind.Response || !p) continue; // late answers to timed-out requests
      this.pending.delete(f.id);
      clearTimeout(p.timer);
      if (f.status === AgentStatus.ok) p.resolve(f);
      else p.reject(statusError(f.status, `${this.opts.name} ${p.what}`, Buffer.from(f.body).toString('utf8')));
    }
  }

  private shut(err: Error | null): void {
    if (this.ended) return;
    this.ended = true;
    this.closedWith = err;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(
        new QingtianError(ErrorCode.AgentProtocol, `${this.opts.name} ${p.what}: connection closed before the answer`, {
          cause: err?.message,
        }),
      );
      this.pending.delete(id);
    }
    this.emit('close', err);
  }
}
