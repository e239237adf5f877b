/**
 * The classic libpcap file format (what tcpdump -w writes; pcap-savefile(5)), little-endian,
 * microsecond timestamps, link type Ethernet:
 *
 *   file header, 24 bytes: u32 magic 0xa1b2c3d4, u16 major 2, u16 minor 4, i32 thiszone 0,
 *                           u32 sigfigs 0, u32 snaplen, u32 linktype (1 = Ethernet)
 *   per packet, 16 bytes:   u32 ts_sec, u32 ts_usec, u32 incl_len (bytes kept), u32 orig_len (on the wire)
 *                           then incl_len bytes of the frame
 */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_FILE_HEADER_BYTES = 24;
export const PCAP_RECORD_HEADER_BYTES = 16;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_DEFAULT_SNAPLEN = 65535;

export function pcapFileHeader(snaplen: number = PCAP_DEFAULT_SNAPLEN): Uint8Array {
  const b = new Uint8Array(PCAP_FILE_HEADER_BYTES);
  const v = new DataView(b.buffer);
  v.setUint32(0, PCAP_MAGIC_US, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 4, true);
  v.setInt32(8, 0, true);
  v.setUint32(12, 0, true);
  v.setUint32(16, snaplen, true);
  v.setUint32(20, LINKTYPE_ETHERNET, true);
  return b;
}

/**
 * Writes one record (header and the first min(frame.length, snaplen) bytes) at `at` in `out`;
 * returns the bytes written. `timeNs` is nanoseconds since the Unix epoch.
 */
export function writePcapRecord(
  out: Uint8Array,
  at: number,
  timeNs: bigint,
  frame: Uint8Array,
  snaplen: number,
  origLen = frame.length,
): number {
  const incl = Math.min(frame.length, snaplen);
  const v = new DataView(out.buffer, out.byteOffset + at, PCAP_RECORD_HEADER_BYTES);
  v.setUint32(0, Number(timeNs / 1_000_000_000n) >>> 0, true);
  v.setUint32(4, Number((timeNs % 1_000_000_000n) / 1000n), true);
  v.setUint32(8, incl, true);
  v.setUint32(12, origLen, true);
  out.set(frame.subarray(0, incl), at + PCAP_RECORD_HEADER_BYTES);
  return PCAP_RECORD_HEADER_BYTES + incl;
}

export interface PcapPacket {
  timeNs: bigint;
  origLen: number;
  data: Uint8Array;
}

/**
 * Reads a classic little-endian microsecond pcap file; the snaplen, link type and packets. A
 * truncated last record is left out (a writer may be mid-append). Throws RangeError on a header
 * that is not this format.
 */
export function readPcap(file: Uint8Array): { snaplen: number; linktype: number; packets: PcapPacket[] } {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (file.length < PCAP_FILE_HEADER_BYTES || v.getUint32(0, true) !== PCAP_MAGIC_US) {
    throw new RangeError('readPcap: not a little-endian microsecond pcap file');
  }
  const snaplen = v.getUint32(16, true);
  const linktype = v.getUint32(20, true);
  const packets: PcapPacket[] = [];
  let at = PCAP_FILE_HEADER_BYTES;
  while (at + PCAP_RECORD_HEADER_BYTES <= file.length) {
    const incl = v.getUint32(at + 8, true);
    if (at + PCAP_RECORD_HEADER_BYTES + incl > file.length) break;
    const timeNs = BigInt(v.getUint32(at, true)) * 1_000_000_000n + BigInt(v.getUint32(at + 4, true)) * 1000n;
    packets.push({
      timeNs,
      origLen: v.getUint32(at + 12, true),
      data: file.slice(at + PCAP_RECORD_HEADER_BYTES, at + PCAP_RECORD_HEADER_BYTES + incl),
    });
    at += PCAP_RECORD_HEADER_BYTES + incl;
  }
  return { snaplen, linktype, packets };
}
