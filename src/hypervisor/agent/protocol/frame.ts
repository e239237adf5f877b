import * as F from '../../../generated/guest.js';

/** Frame kinds. */
export const FrameKind = { Request: F.AFK_REQUEST, Response: F.AFK_RESPONSE, Event: F.AFK_EVENT } as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** One frame of an agent protocol (assembly/guest/agent-frame.ts has the layout). */
export interface Frame {
  version: number;
  kind: number;
  type: number;
  id: number;
  status: number;
  body: Uint8Array;
}

/** Encodes a frame: the 20-byte header, then the body. */
export function encodeFrame(f: Omit<Frame, 'version'> & { version?: number }): Buffer {
  const out = Buffer.allocUnsafe(F.AF_HEADER_BYTES + f.body.length);
  out.writeUInt32LE(F.AF_MAGIC, F.AF_OFF_MAGIC);
  out.writeUInt8(f.version ?? F.AF_VERSION, F.AF_OFF_VERSION);
  out.writeUInt8(f.kind, F.AF_OFF_KIND);
  out.writeUInt16LE(f.type, F.AF_OFF_TYPE);
  out.writeUInt32LE(f.id >>> 0, F.AF_OFF_ID);
  out.writeUInt16LE(f.status, F.AF_OFF_STATUS);
  out.writeUInt16LE(0, F.AF_OFF_FLAGS);
  out.writeUInt32LE(f.body.length, F.AF_OFF_LENGTH);
  out.set(f.body, F.AF_HEADER_BYTES);
  return out;
}

/** Why a byte stream stopped being a sequence of frames. */
export class FrameError extends Error {
  constructor(
    message: string,
    /** The id of the frame that broke it, when its header was readable (0 otherwise). */
    readonly id: number,
  ) {
    super(message);
  }
}

/**
 * Cuts a byte stream into frames. Bytes arrive in any pieces; `push` returns the frames that are
 * now complete. A bad magic or a length above `maxBody` throws FrameError: the stream cannot be
 * resynchronised, so its connection must end.
 */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBody: number) {}

  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    let at = 0;
    while (this.buf.length - at >= F.AF_HEADER_BYTES) {
      const magic = this.buf.readUInt32LE(at + F.AF_OFF_MAGIC);
      const id = this.buf.readUInt32LE(at + F.AF_OFF_ID);
      if (magic !== F.AF_MAGIC)
        throw new FrameError(`frame magic: expected 0x${F.AF_MAGIC.toString(16)}, got 0x${magic.toString(16)}`, 0);
      const length = this.buf.readUInt32LE(at + F.AF_OFF_LENGTH);
      if (length > this.maxBody)
        throw new FrameError(`frame length: expected at most ${this.maxBody} bytes, got ${length}`, id);
      if (this.buf.length - at < F.AF_HEADER_BYTES + length) break;
      frames.push({
        version: this.buf.readUInt8(at + F.AF_OFF_VERSION),
        kind: this.buf.readUInt8(at + F.AF_OFF_KIND),
        type: this.buf.readUInt16LE(at + F.AF_OFF_TYPE),
        id,
        status: this.buf.readUInt16LE(at + F.AF_OFF_STATUS),
        body: this.buf.subarray(at + F.AF_HEADER_BYTES, at + F.AF_HEADER_BYTES + length),
      });
      at += F.AF_HEADER_BYTES + length;
    }
    this.buf = at === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(at);
    return frames;
  }
}
