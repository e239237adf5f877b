import { open, type FileHandle } from 'node:fs/promises';
import {
  PCAP_DEFAULT_SNAPLEN,
  PCAP_FILE_HEADER_BYTES,
  PCAP_RECORD_HEADER_BYTES,
  pcapFileHeader,
  writePcapRecord,
} from './pcap-format.js';

const CHUNK_BYTES = 256 * 1024;

/**
 * Appends packets to a classic libpcap file (pcap-format.ts). Records collect in a buffer that is
 * written when full, on flush() and on close(); writes are sequential and never block the
 * thread (it runs on an I/O worker, or on the main thread for light use).
 */
export class PcapWriter {
  private buf = new Uint8Array(CHUNK_BYTES);
  private used = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  /** Packets appended, and bytes of the file so far (header included). */
  packets = 0;
  bytes = PCAP_FILE_HEADER_BYTES;

  private constructor(
    private readonly file: FileHandle,
    readonly snaplen: number,
  ) {}

  /** Creates (or truncates) the file and writes its header. */
  static async open(path: string, snaplen: number = PCAP_DEFAULT_SNAPLEN): Promise<PcapWriter> {
    const file = await open(path, 'w');
    try {
      await file.write(pcapFileHeader(snaplen));
    } catch (e) {
      await file.close();
      throw e;
    }
    return new PcapWriter(file, snaplen);
  }

  /** Adds one packet (its first `snaplen` bytes); `timeNs` since the Unix epoch. */
  append(timeNs: bigint, frame: Uint8Array, origLen = frame.length): void {
    if (this.closed) throw new RangeError('PcapWriter: closed');
    const need = PCAP_RECORD_HEADER_BYTES + Math.min(frame.length, this.snaplen);
    if (this.used + need > this.buf.length) {
      this.writeOut();
      if (need > this.buf.length) this.buf = new Uint8Array(need);
    }
    this.used += writePcapRecord(this.buf, this.used, timeNs, frame, this.snaplen, origLen);
    this.packets++;
    this.bytes += need;
  }

  /** Resolves once everything appended so far is in the file. */
  async flush(): Promise<void> {
    this.writeOut();
    await this.chain;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.file.close();
  }

  private writeOut(): void {
    if (this.used === 0) return;
    const chunk = this.buf.slice(0, this.used);
    this.used = 0;
    this.chain = this.chain.then(async () => {
      await this.file.write(chunk);
    });
  }
}
