import { ErrorCode, QingtianError } from '../../common/errors.js';
import { fourcc } from '../../common/region-header.js';
import { ringFeatures } from '../../common/virtio/features.js';
import type { QueueSnapshot } from './device-queue.js';

/**
 * A saved virtio device (VirtioBackend.save()) as bytes: what migration ships and what restore()
 * takes back. Little-endian, no host addresses (they mean nothing on another host), every
 * length explicit so a reader never guesses:
 *
 *   +0  u32 'QTDS'   +4 u32 format (1)   +8 u32 device magic   +12 u32 device layout version
 *   +16 u64 negotiated features   +24 u32 device status   +28 u32 queue count
 *   +32 u32 config space bytes    +36 u32 device payload bytes
 *   +40 per queue: u32 present (0 | 1); when present:
 *         u32 size, u64 descGpa, u64 driverGpa, u64 deviceGpa,
 *         u16 nextAvail, nextUsed, availWrap, usedWrap, signalledUsed, signalledValid,
 *         u32 inflight count, then per in-flight chain: u16 token, u16 id, u32 descCount
 *   then the config space, then the device payload; nothing after it.
 *
 * Decoding checks only the framing (lengths, magic, format). The contents are untrusted and go
 * through the same validating setters as a live configuration (virtio A6).
 */
export const SNAPSHOT_MAGIC = fourcc('QTDS');
export const SNAPSHOT_FORMAT = 1;

export interface DeviceSnapshot {
  deviceMagic: number;
  layoutVersion: number;
  features: bigint;
  status: number;
  /** Ring features of each present queue's config follow from `features`. */
  queues: (QueueSnapshot | null)[];
  config: Uint8Array;
  payload: Uint8Array;
}

export function encodeSnapshot(s: DeviceSnapshot): Uint8Array {
  let bytes = 40 + s.config.length + s.payload.length;
  for (const q of s.queues) bytes += q ? 4 + 4 + 24 + 12 + 4 + 8 * q.inflight.length : 4;
  const out = new Uint8Array(bytes);
  const v = new DataView(out.buffer);
  v.setUint32(0, SNAPSHOT_MAGIC, true);
  v.setUint32(4, SNAPSHOT_FORMAT, true);
  v.setUint32(8, s.deviceMagic, true);
  v.setUint32(12, s.layoutVersion, true);
  v.setBigUint64(16, s.features, true);
  v.setUint32(24, s.status, true);
  v.setUint32(28, s.queues.length, true);
  v.setUint32(32, s.config.length, true);
  v.setUint32(36, s.payload.length, true);
  let at = 40;
  for (const q of s.queues) {
    v.setUint32(at, q ? 1 : 0, true);
    at += 4;
    if (!q) continue;
    v.setUint32(at, q.config.size, true);
    v.setBigUint64(at + 4, q.config.descGpa, true);
    v.setBigUint64(at + 12, q.config.driverGpa, true);
    v.setBigUint64(at + 20, q.config.deviceGpa, true);
    at += 28;
    for (const x of [q.nextAvail, q.nextUsed, q.availWrap, q.usedWrap, q.signalledUsed, q.signalledValid]) {
      v.setUint16(at, x, true);
      at += 2;
    }
    v.setUint32(at, q.inflight.length, true);
    at += 4;
    for (const e of q.inflight) {
      v.setUint16(at, e.token, true);
      v.setUint16(at + 2, e.id, true);
      v.setUint32(at + 4, e.descCount, true);
      at += 8;
    }
  }
  out.set(s.config, at);
  out.set(s.payload, at + s.config.length);
  return out;
}

/** Parses the framing; throws QT_BAD_FORMAT naming the field and the byte offset. */
export function decodeSnapshot(bytes: Uint8Array): DeviceSnapshot {
  if (!(bytes instanceof Uint8Array))
    throw new QingtianError(ErrorCode.InvalidArgument, 'device snapshot: expected a Uint8Array');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, field: string): number => {
    if (at + n > bytes.length) {
      throw new QingtianError(
        ErrorCode.BadFormat,
        `device snapshot: ${field}: expected ${n} bytes at offset ${at}, the snapshot has ${bytes.length}`,
        { field, offset: at },
      );
    }
    const here = at;
    at += n;
    return here;
  };
  const u16 = (field: string): number => v.getUint16(need(2, field), true);
  const u32 = (field: string): number => v.getUint32(need(4, field), true);
  const u64 = (field: string): bigint => v.getBigUint64(need(8, field), true);
  const magic = u32('magic');
  if (magic !== SNAPSHOT_MAGIC)
    throw new QingtianError(
      ErrorCode.BadFormat,
      `device snapshot: magic: expected 0x${SNAPSHOT_MAGIC.toString(16)} ('QTDS'), got 0x${magic.toString(16)}`,
    );
  const format = u32('format');
  if (format !== SNAPSHOT_FORMAT)
    throw new QingtianError(ErrorCode.BadFormat, `device snapshot: format: expected ${SNAPSHOT_FORMAT}, got ${format}`);
  const deviceMagic = u32('deviceMagic');
  const layoutVersion = u32('layoutVersion');
  const features = u64('features');
  const status = u32('status');
  const queueCount = u32('queueCount');
  const configBytes = u32('configBytes');
  const payloadBytes = u32('payloadBytes');
  const ring = ringFeatures(features);
  const queues: (QueueSnapshot | null)[] = [];
  for (let i = 0; i < queueCount; i++) {
    const f = `queue[${i}]`;
    // Every queue takes at least 4 bytes: a huge count fails here, before any allocation.
    const present = u32(`${f}.present`);
    if (present === 0) {
      queues.push(null);
      continue;
    }
    if (present !== 1)
      throw new QingtianError(ErrorCode.BadFormat, `device snapshot: ${f}.present: expected 0 or 1, got ${present}`);
    const size = u32(`${f}.size`);
    const descGpa = u64(`${f}.descGpa`);
    const driverGpa = u64(`${f}.driverGpa`);
    const deviceGpa = u64(`${f}.deviceGpa`);
    const nextAvail = u16(`${f}.nextAvail`);
    const nextUsed = u16(`${f}.nextUsed`);
    const availWrap = u16(`${f}.availWrap`);
    const usedWrap = u16(`${f}.usedWrap`);
    const signalledUsed = u16(`${f}.signalledUsed`);
    const signalledValid = u16(`${f}.signalledValid`);
    const count = u32(`${f}.inflightCount`);
    need(8 * count, `${f}.inflight`);
    at -= 8 * count;
    const inflight: QueueSnapshot['inflight'] = [];
    for (let k = 0; k < count; k++) {
      inflight.push({ token: u16(`${f}.inflight`), id: u16(`${f}.inflight`), descCount: u32(`${f}.inflight`) });
    }
    queues.push({
      config: { size, features: { ...ring }, descGpa, driverGpa, deviceGpa },
      nextAvail,
      nextUsed,
      availWrap,
      usedWrap,
      signalledUsed,
      signalledValid,
      inflight,
    });
  }
  const config = bytes.slice(need(configBytes, 'config'), at);
  const payload = bytes.slice(need(payloadBytes, 'payload'), at);
  if (at !== bytes.length)
    throw new QingtianError(
      ErrorCode.BadFormat,
      `device snapshot: expected ${at} bytes in all, got ${bytes.length} (trailing bytes)`,
    );
  return { deviceMagic, layoutVersion, features, status, queues, config, payload };
}
