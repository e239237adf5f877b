import { ByteQueue } from './byte-queue.js';
import { NBD_CMD_WRITE, NBD_REQUEST_MAGIC, REQUEST_HEADER_BYTES } from './nbd-constants.js';

/** One transmission-phase request as it came off the wire (nothing about it is trusted yet). */
export interface NbdRequest {
  flags: number;
  type: number;
  /** The client's 8-byte handle, returned as is in the reply. */
  handle: Buffer;
  /** Offset in bytes; offsets past 2^53 come out inexact, but every such offset is past any export. */
  offset: number;
  length: number;
  /** The data of a WRITE (length bytes), else null. */
  payload: Buffer | null;
}

/** What the parser yields: a whole request, a need for more bytes, or a stream it cannot follow. */
export type ParseResult =
  | { kind: 'request'; request: NbdRequest }
  | { kind: 'more' }
  /** The stream cannot be parsed on: the connection must be closed (bad magic, oversized write). */
  | { kind: 'fatal'; reason: string };

const MORE: ParseResult = { kind: 'more' };

/**
 * Cuts the client's byte stream into requests: the 28-byte header (magic, command flags, type,
 * handle, offset, length) and, for a WRITE, its payload. It checks only what it needs to stay in
 * step with the stream: the magic (a wrong one means the stream is lost) and that a WRITE's
 * payload is one the server is willing to buffer. Everything else (type, flags, range,
 * alignment) is the connection's to answer with an error reply.
 */
export class RequestParser {
  private readonly bytes = new ByteQueue();
  private failed: string | null = null;

  constructor(private readonly maxPayload: number) {}

  push(chunk: Buffer): void {
    if (this.failed === null) this.bytes.push(chunk);
  }

  /** Bytes received and not yet parsed. */
  get buffered(): number {
    return this.bytes.length;
  }

  next(): ParseResult {
    if (this.failed !== null) return { kind: 'fatal', reason: this.failed };
    if (this.bytes.length < REQUEST_HEADER_BYTES) return MORE;
    const h = this.bytes.peek(REQUEST_HEADER_BYTES);
    const magic = h.readUInt32BE(0);
    if (magic !== NBD_REQUEST_MAGIC) return this.fail(`bad request magic 0x${magic.toString(16).padStart(8, '0')}`);
    const type = h.readUInt16BE(6);
    const length = h.readUInt32BE(24);
    let payload: Buffer | null = null;
    if (type === NBD_CMD_WRITE) {
      if (length > this.maxPayload)
        return this.fail(`write of ${length} bytes: more than the ${this.maxPayload}-byte payload limit`);
      if (this.bytes.length < REQUEST_HEADER_BYTES + length) return MORE;
    }
    const flags = h.readUInt16BE(4);
    const handle = Buffer.from(h.subarray(8, 16));
    const offset = h.readUInt32BE(16) * 2 ** 32 + h.readUInt32BE(20);
    this.bytes.skip(REQUEST_HEADER_BYTES);
    if (type === NBD_CMD_WRITE) payload = this.bytes.take(length);
    return { kind: 'request', request: { flags, type, handle, offset, length, payload } };
  }

  private fail(reason: string): ParseResult {
    this.failed = reason;
    this.bytes.clear();
    return { kind: 'fatal', reason };
  }
}
