import type { Duplex } from 'node:stream';
import { isQingtianError } from '../../common/errors.js';
import { parseArgs } from '../../common/validate.js';
import type { VsockEndpoint, VsockListener } from '../../common/vsock/vsock-endpoint.js';
import { AF_VERSION } from '../../generated/guest.js';
import { FrameKind, FrameReader, encodeFrame, type Frame } from './protocol/frame.js';
import {
  AGENT_MAX_BODY,
  AGENT_PORT,
  EVENTS,
  MESSAGES,
  messageName,
  type EventBody,
  type EventName,
  type MessageName,
  type Response,
} from './protocol/messages.js';
import { AgentError, AgentStatus, type AgentStatusName } from './protocol/status.js';
import type { z } from 'zod';

/** What the agent does for each request: parsed arguments in, a result (checked against the schema) out. */
export type AgentHandlers = {
  [K in MessageName]: (args: z.output<(typeof MESSAGES)[K]['request']>) => Promise<Response<K>> | Response<K>;
};

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * The host agent's server loop: listens on AGENT_PORT of its vsock endpoint and, per
 * connection, cuts the stream into frames, refuses what is malformed (status and message, the
 * connection goes on; only a frame that breaks the framing itself ends it), checks each request
 * against its schema and dispatches it to the handlers. Requests before `hello` are refused.
 * Events go to every connection that said hello.
 */
export class AgentServer {
  private listener: VsockListener | null = null;
  private readonly conns = new Set<{ socket: Duplex; hello: boolean }>();
  private requests = 0;
  private errors = 0;

  constructor(
    private readonly endpoint: VsockEndpoint,
    private readonly handlers: AgentHandlers,
    private readonly port = AGENT_PORT,
  ) {}

  get stats(): { requests: number; errors: number; connections: number } {
    return { requests: this.requests, errors: this.errors, connections: this.conns.size };
  }

  start(): void {
    this.listener = this.endpoint.listen(this.port, (socket) => this.serve(socket));
  }

  /** Sends an event to every connection past its hello. */
  emit<K extends EventName>(name: K, body: EventBody<K>): void {
    const checked = EVENTS[name].body.parse(body);
    const frame = encodeFrame({
      kind: FrameKind.Event,
      type: EVENTS[name].type,
      id: 0,
      status: 0,
      body: encoder.encode(JSON.stringify(checked)),
    });
    for (const c of this.conns) if (c.hello && !c.socket.destroyed) c.socket.write(frame);
  }

  close(): void {
    this.listener?.close();
    for (const c of this.conns) c.socket.destroy();
    this.conns.clear();
  }

  private serve(socket: Duplex): void {
    const conn = { socket, hello: false };
    this.conns.add(conn);
    const reader = new FrameReader(AGENT_MAX_BODY);
    socket.on('error', () => undefined); // a reset connection just goes away
    socket.on('close', () => this.conns.delete(conn));
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        // The framing is broken: answer once, then end the connection (it cannot be resynchronised).
        this.errors++;
        this.reply(socket, 0, 0, 'bad-frame', (e as Error).message);
        socket.destroy(); // a clean close: the answer goes out first
        return;
      }
      for (const f of frames) void this.handle(conn, f);
    });
  }

  private async handle(conn: { socket: Duplex; hello: boolean }, f: Frame): Promise<void> {
    this.requests++;
    const name = messageName(f.type);
    try {
      if (f.version !== AF_VERSION)
        throw new AgentError('unsupported-version', `frame version ${f.version} (this agent speaks ${AF_VERSION})`);
      if (f.kind !== FrameKind.Request)
        throw new AgentError('bad-frame', `frame kind ${f.kind}: the agent takes requests only`);
      if (!name)
        throw new AgentError('unknown-type', `message type ${f.type} is not in protocol version ${AF_VERSION}`);
      if (name !== 'hello' && !conn.hello) throw new AgentError('bad-state', `${name}: say hello first`);
      let json: unknown;
      try {
        json = f.body.length === 0 ? {} : JSON.parse(decoder.decode(f.body));
      } catch {
        throw new AgentError('bad-request', `${name}: the body is not UTF-8 JSON`);
      }
      let args: unknown;
      try {
        args = parseArgs(MESSAGES[name].request, json, name);
      } catch (e) {
        throw new AgentError('bad-request', (e as Error).message);
      }
      const handler = this.handlers[name] as (a: unknown) => unknown;
      const result = MESSAGES[name].response.parse(await handler(args));
      if (name === 'hello') conn.hello = true;
      this.reply(conn.socket, f.type, f.id, 'ok', JSON.stringify(result));
    } catch (e) {
      this.errors++;
      if (e instanceof AgentError) this.reply(conn.socket, f.type, f.id, e.status, e.message);
      else if (isQingtianError(e)) this.reply(conn.socket, f.type, f.id, 'internal', `${e.code}: ${e.message}`);
      else this.reply(conn.socket, f.type, f.id, 'internal', e instanceof Error ? e.message : String(e));
    }
  }

  private reply(socket: Duplex, type: number, id: number, status: AgentStatusName, body: string): void {
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(
      encodeFrame({ kind: FrameKind.Response, type, id, status: AgentStatus[status], body: encoder.encode(body) }),
    );
  }
}
