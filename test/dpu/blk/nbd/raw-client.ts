import { connect, type Socket } from 'node:net';

/**
 * A minimal NBD client for tests: it speaks the protocol byte by byte so that tests can also
 * send what a real client never would.
 */
export class RawClient {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(target: { port: number; host?: string } | { path: string }): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1');
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  /** Reads exactly n bytes (rejects if the server closes first). */
  async read(n: number): Promise<Buffer> {
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection closed with ${this.buf.length} of ${n} bytes`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves when the server has closed the connection (after draining what it sent). */
  async closed(): Promise<void> {
    while (!this.ended) await new Promise<void>((r) => this.waiters.push(r));
  }

  write(b: Buffer): void {
    this.socket.write(b);
  }

  /** Greeting, client flags (fixed newstyle, no zeroes). Returns the handshake flags. */
  async hello(): Promise<number> {
    const g = await this.read(18);
    this.write(u32(3));
    return g.readUInt16BE(16);
  }

  option(opt: number, data: Buffer = Buffer.alloc(0)): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(0x49484156454f5054n, 0);
    h.writeUInt32BE(opt, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  /** One option reply: option, type, data. */
  async optionReply(): Promise<{ option: number; type: number; data: Buffer }> {
    const h = await this.read(20);
    const len = h.readUInt32BE(16);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: await this.read(len) };
  }

  /** NBD_OPT_GO for `name`; returns the INFO replies by type, or the error reply type. */
  async go(name: string, infos: number[] = [3]): Promise<{ type: number; info: Map<number, Buffer> }> {
    const n = Buffer.from(name);
    const d = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
    d.writeUInt32BE(n.length, 0);
    n.copy(d, 4);
    d.writeUInt16BE(infos.length, 4 + n.length);
    infos.forEach((t, i) => d.writeUInt16BE(t, 6 + n.length + 2 * i));
    this.option(7, d);
    const info = new Map<number, Buffer>();
    for (;;) {
      const r = await this.optionReply();
      if (r.type === 3) info.set(r.data.readUInt16BE(0), r.data);
      else return { type: r.type, info };
    }
  }

  request(
    type: number,
    offset: number,
    length: number,
    opts: { flags?: number; handle?: bigint; magic?: number; payload?: Buffer } = {},
  ): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(opts.magic ?? 0x25609513, 0);
    h.writeUInt16BE(opts.flags ?? 0, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(opts.handle ?? 1n, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    this.write(opts.payload ? Buffer.concat([h, opts.payload]) : h);
  }

  /** A simple reply: error and handle (and `dataLength` bytes of data if the error is 0). */
  async reply(dataLength = 0): Promise<{ error: number; handle: bigint; data: Buffer | null }> {
    const h = await this.read(16);
    if (h.readUInt32BE(0) !== 0x67446698) throw new Error(`bad reply magic ${h.readUInt32BE(0).toString(16)}`);
    const error = h.readUInt32BE(4);
    const handle = h.readBigUInt64BE(8);
    return { error, handle, data: error === 0 && dataLength > 0 ? await this.read(dataLength) : null };
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

export function u32(x: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(x, 0);
  return b;
}
