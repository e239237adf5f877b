import { ByteQueue } from './byte-queue.js';
import {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
  NBD_IHAVEOPT,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_DESCRIPTION,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_MAGIC,
  NBD_MAX_OPTION_BYTES,
  NBD_MAX_PAYLOAD,
  NBD_MIN_BLOCK,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_PREFERRED_BLOCK,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_MAGIC,
  NBD_REP_SERVER,
} from './nbd-constants.js';

/** An export as the negotiation offers it. */
export interface NbdExport {
  /** The export name clients ask for (the volume's name). */
  name: string;
  /** Free text sent with NBD_INFO_DESCRIPTION. */
  description: string;
  /** The export's size (the volume's). */
  sizeBytes: number;
  /** The storage engine's id of the volume behind it. */
  volumeId: number;
}

export type NegotiationOutcome =
  | { kind: 'continue' }
  | { kind: 'transmission'; export: NbdExport; leftover: Buffer | null }
  | { kind: 'close'; reason: string };

/** Transmission flags of every export: flush, FUA, trim and write zeroes, safe with several connections. */
export const TRANSMISSION_FLAGS =
  NBD_FLAG_HAS_FLAGS |
  NBD_FLAG_SEND_FLUSH |
  NBD_FLAG_SEND_FUA |
  NBD_FLAG_SEND_TRIM |
  NBD_FLAG_SEND_WRITE_ZEROES |
  NBD_FLAG_CAN_MULTI_CONN;

const CONTINUE: NegotiationOutcome = { kind: 'continue' };

/**
 * The server side of the fixed newstyle handshake: greeting, client flags, then options until
 * one enters transmission. EXPORT_NAME, INFO, GO (export, name, description and block-size
 * information), LIST and ABORT are served; other options get NBD_REP_ERR_UNSUP. An unknown
 * export gets NBD_REP_ERR_UNKNOWN (or, after EXPORT_NAME, which cannot fail politely, a close).
 * A client that is not fixed newstyle, sets unknown flags or breaks the option framing is
 * disconnected. Pure over bytes: what to send goes to `send`.
 */
export class Negotiation {
  private readonly bytes = new ByteQueue();
  private stage: 'flags' | 'options' | 'done' = 'flags';
  private noZeroes = false;

  constructor(
    private readonly exports: () => readonly NbdExport[],
    private readonly send: (b: Buffer) => void,
  ) {}

  /** The server's greeting; sent first, before the client says anything. */
  greet(): void {
    const b = Buffer.alloc(18);
    b.writeBigUInt64BE(NBD_MAGIC, 0);
    b.writeBigUInt64BE(NBD_IHAVEOPT, 8);
    b.writeUInt16BE(NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 16);
    this.send(b);
  }

  feed(chunk: Buffer): NegotiationOutcome {
    if (this.stage === 'done') return { kind: 'close', reason: 'data after the negotiation ended' };
    this.bytes.push(chunk);
    for (;;) {
      if (this.stage === 'flags') {
        if (this.bytes.length < 4) return CONTINUE;
        const flags = this.bytes.take(4).readUInt32BE(0);
        if ((flags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) !== 0)
          return this.close(`unknown client flags 0x${flags.toString(16)}`);
        if ((flags & NBD_FLAG_C_FIXED_NEWSTYLE) === 0) return this.close('the client is not fixed newstyle');
        this.noZeroes = (flags & NBD_FLAG_C_NO_ZEROES) !== 0;
        this.stage = 'options';
        continue;
      }
      if (this.bytes.length < 16) return CONTINUE;
      const head = this.bytes.peek(16);
      if (head.readBigUInt64BE(0) !== NBD_IHAVEOPT) return this.close('bad option magic');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      if (length > NBD_MAX_OPTION_BYTES) return this.close(`option ${option} with ${length} bytes of data`);
      if (this.bytes.length < 16 + length) return CONTINUE;
      this.bytes.skip(16);
      const data = this.bytes.take(length);
      const out = this.option(option, data);
      if (out.kind !== 'continue') return out;
    }
  }

  private option(option: number, data: Buffer): NegotiationOutcome {
    switch (option) {
      case NBD_OPT_EXPORT_NAME: {
        const e = this.find(data.toString('utf8'));
        if (!e) return this.close(`EXPORT_NAME of an unknown export ${JSON.stringify(data.toString('utf8'))}`);
        const b = Buffer.alloc(this.noZeroes ? 10 : 134);
        b.writeBigUInt64BE(BigInt(e.sizeBytes), 0);
        b.writeUInt16BE(TRANSMISSION_FLAGS, 8);
        this.send(b);
        return this.enter(e);
      }
      case NBD_OPT_ABORT:
        this.reply(option, NBD_REP_ACK, null);
        return this.close('the client aborted');
      case NBD_OPT_LIST: {
        if (data.length !== 0) return this.error(option, NBD_REP_ERR_INVALID, 'LIST takes no data');
        for (const e of this.exports()) {
          const name = Buffer.from(e.name, 'utf8');
          const b = Buffer.alloc(4 + name.length);
          b.writeUInt32BE(name.length, 0);
          name.copy(b, 4);
          this.reply(option, NBD_REP_SERVER, b);
        }
        this.reply(option, NBD_REP_ACK, null);
        return CONTINUE;
      }
      case NBD_OPT_INFO:
      case NBD_OPT_GO:
        return this.infoOrGo(option, data);
      default:
        return this.error(option, NBD_REP_ERR_UNSUP, `option ${option} is not supported`);
    }
  }

  private infoOrGo(option: number, data: Buffer): NegotiationOutcome {
    if (data.length < 6) return this.error(option, NBD_REP_ERR_INVALID, 'INFO/GO data shorter than 6 bytes');
    const nameLen = data.readUInt32BE(0);
    if (nameLen > data.length - 6) return this.error(option, NBD_REP_ERR_INVALID, 'export name runs past the data');
    const name = data.toString('utf8', 4, 4 + nameLen);
    const count = data.readUInt16BE(4 + nameLen);
    if (data.length !== 6 + nameLen + 2 * count)
      return this.error(option, NBD_REP_ERR_INVALID, 'information request count does not match the length');
    const e = this.find(name);
    if (!e) return this.error(option, NBD_REP_ERR_UNKNOWN, `no export ${JSON.stringify(name)}`);
    const asked = new Set<number>();
    for (let i = 0; i < count; i++) asked.add(data.readUInt16BE(6 + nameLen + 2 * i));
    const exp = Buffer.alloc(12);
    exp.writeUInt16BE(NBD_INFO_EXPORT, 0);
    exp.writeBigUInt64BE(BigInt(e.sizeBytes), 2);
    exp.writeUInt16BE(TRANSMISSION_FLAGS, 10);
    this.reply(option, NBD_REP_INFO, exp);
    // Block sizes go out whether asked or not: requests that ignore them still work (the server
    // reads and patches partial blocks), they are only slower.
    const bs = Buffer.alloc(14);
    bs.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
    bs.writeUInt32BE(NBD_MIN_BLOCK, 2);
    bs.writeUInt32BE(NBD_PREFERRED_BLOCK, 6);
    bs.writeUInt32BE(NBD_MAX_PAYLOAD, 10);
    this.reply(option, NBD_REP_INFO, bs);
    if (asked.has(NBD_INFO_NAME)) this.reply(option, NBD_REP_INFO, infoString(NBD_INFO_NAME, e.name));
    if (asked.has(NBD_INFO_DESCRIPTION))
      this.reply(option, NBD_REP_INFO, infoString(NBD_INFO_DESCRIPTION, e.description));
    this.reply(option, NBD_REP_ACK, null);
    return option === NBD_OPT_GO ? this.enter(e) : CONTINUE;
  }

  private find(name: string): NbdExport | undefined {
    const all = this.exports();
    return name === '' ? all[0] : all.find((e) => e.name === name);
  }

  private enter(e: NbdExport): NegotiationOutcome {
    this.stage = 'done';
    const leftover = this.bytes.length > 0 ? this.bytes.take(this.bytes.length) : null;
    return { kind: 'transmission', export: e, leftover };
  }

  private error(option: number, type: number, message: string): NegotiationOutcome {
    this.reply(option, type, Buffer.from(message, 'utf8'));
    return CONTINUE;
  }

  private reply(option: number, type: number, data: Buffer | null): void {
    const b = Buffer.alloc(20 + (data?.length ?? 0));
    b.writeBigUInt64BE(NBD_REP_MAGIC, 0);
    b.writeUInt32BE(option, 8);
    b.writeUInt32BE(type, 12);
    b.writeUInt32BE(data?.length ?? 0, 16);
    data?.copy(b, 20);
    this.send(b);
  }

  private close(reason: string): NegotiationOutcome {
    this.stage = 'done';
    this.bytes.clear();
    return { kind: 'close', reason };
  }
}

function infoString(type: number, s: string): Buffer {
  const text = Buffer.from(s, 'utf8');
  const b = Buffer.alloc(2 + text.length);
  b.writeUInt16BE(type, 0);
  text.copy(b, 2);
  return b;
}
