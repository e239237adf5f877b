/**
 * Peer: CRC-16/T10-DIF and T10 PI in plain JavaScript — the byte-wise table CRC (Linux
 * lib/crc-t10dif.c's generic loop) and big-endian PI through a DataView, types 1 and 2.
 */
const T = new Uint16Array(256);
for (let b = 0; b < 256; b++) {
  let c = b << 8;
  for (let i = 0; i < 8; i++) c = c & 0x8000 ? ((c << 1) ^ 0x8bb7) & 0xffff : (c << 1) & 0xffff;
  T[b] = c;
}

export function jsCrc16(data: Uint8Array, start = 0, end = data.length, crc = 0): number {
  for (let i = start; i < end; i++) crc = ((crc << 8) ^ T[((crc >> 8) ^ data[i]!) & 0xff]!) & 0xffff;
  return crc;
}

export function jsDifGenerate(buf: Uint8Array, bs: number, appTag: number, refTag: number): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const unit = bs + 8;
  for (let i = 0, o = 0; o < buf.length; i++, o += unit) {
    dv.setUint16(o + bs, jsCrc16(buf, o, o + bs));
    dv.setUint16(o + bs + 2, appTag);
    dv.setUint32(o + bs + 4, (refTag + i) >>> 0);
  }
}

/** Index of the first failing block, or -1. */
export function jsDifVerify(buf: Uint8Array, bs: number, refTag: number): number {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const unit = bs + 8;
  for (let i = 0, o = 0; o < buf.length; i++, o += unit) {
    if (dv.getUint16(o + bs + 2) === 0xffff) continue;
    if (dv.getUint16(o + bs) !== jsCrc16(buf, o, o + bs) || dv.getUint32(o + bs + 4) !== (refTag + i) >>> 0) return i;
  }
  return -1;
}
