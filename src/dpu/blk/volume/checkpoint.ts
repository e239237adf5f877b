import { closeSync, constants, fdatasyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from './crc32.js';

/**
 * Checkpoints of the block map: the whole LBA -> log map and the segments' ages, written to
 * one of two slot files in turn, so that a checkpoint torn by a crash leaves the other one (and
 * the journal epoch it names, which is not emptied until the new checkpoint is durable) intact.
 *
 *   +0 u32 magic 'QTCK'  +4 u32 version 1  +8 u32 seq  +12 u32 journal epoch to replay after it
 *   +16 u32 blocks  +20 u32 segments  +24 u32 crc32(payload)  +28..59 0  +60 u32 crc32(bytes 0..59)
 *   +64 payload: u32 map[blocks] (pba + 1, 0 unmapped), f64 age[segments]
 */
export const CHECKPOINT_MAGIC = 0x4b435451; // 'QTCK'
const HEADER_BYTES = 64;
export const CHECKPOINT_FILES = ['checkpoint-0', 'checkpoint-1'] as const;

export interface CheckpointData {
  seq: number;
  journalEpoch: number;
  map: Uint32Array;
  age: Float64Array;
}

/** Writes checkpoint `seq` into its slot and fdatasyncs it. */
export function writeCheckpoint(dir: string, c: CheckpointData): void {
  const header = Buffer.alloc(HEADER_BYTES);
  const mapBytes = new Uint8Array(c.map.buffer, c.map.byteOffset, c.map.byteLength);
  const ageBytes = new Uint8Array(c.age.buffer, c.age.byteOffset, c.age.byteLength);
  header.writeUInt32LE(CHECKPOINT_MAGIC, 0);
  header.writeUInt32LE(1, 4);
  header.writeUInt32LE(c.seq >>> 0, 8);
  header.writeUInt32LE(c.journalEpoch >>> 0, 12);
  header.writeUInt32LE(c.map.length, 16);
  header.writeUInt32LE(c.age.length, 20);
  header.writeUInt32LE(crc32(ageBytes, crc32(mapBytes)), 24);
  header.writeUInt32LE(crc32(header.subarray(0, 60)), 60);
  const fd = openSync(join(dir, CHECKPOINT_FILES[c.seq % 2]!), constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    let pos = 0;
    for (const part of [header, mapBytes, ageBytes]) {
      let done = 0;
      while (done < part.length) done += writeSync(fd, part, done, part.length - done, pos + done);
      pos += part.length;
    }
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The newest intact checkpoint of a volume with this shape, or null if neither slot holds one. */
export function readCheckpoint(dir: string, blocks: number, segments: number): CheckpointData | null {
  let best: CheckpointData | null = null;
  for (const file of CHECKPOINT_FILES) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, file));
    } catch {
      continue;
    }
    const c = parse(bytes, blocks, segments);
    if (c && (!best || seqAfter(c.seq, best.seq))) best = c;
  }
  return best;
}

function parse(b: Buffer, blocks: number, segments: number): CheckpointData | null {
  const size = HEADER_BYTES + blocks * 4 + segments * 8;
  if (b.length < size) return null;
  if (b.readUInt32LE(0) !== CHECKPOINT_MAGIC || b.readUInt32LE(4) !== 1) return null;
  if (b.readUInt32LE(60) !== crc32(b.subarray(0, 60))) return null;
  if (b.readUInt32LE(16) !== blocks || b.readUInt32LE(20) !== segments) return null;
  const mapBytes = b.subarray(HEADER_BYTES, HEADER_BYTES + blocks * 4);
  const ageBytes = b.subarray(HEADER_BYTES + blocks * 4, size);
  if (crc32(ageBytes, crc32(mapBytes)) !== b.readUInt32LE(24)) return null;
  const map = new Uint32Array(blocks);
  new Uint8Array(map.buffer).set(mapBytes);
  const age = new Float64Array(segments);
  new Uint8Array(age.buffer).set(ageBytes);
  return { seq: b.readUInt32LE(8), journalEpoch: b.readUInt32LE(12), map, age };
}

/** Sequence comparison that survives u32 wrap-around. */
function seqAfter(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
