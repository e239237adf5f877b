import { ErrorCode, QingtianError } from '../../common/errors.js';

/** "02:00:00:00:00:01" → its six bytes (wire order). */
export function macBytes(mac: string): Uint8Array {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(mac);
  if (!m)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `MAC address: expected six hex pairs like 02:00:00:00:00:01, got '${mac}'`,
    );
  return Uint8Array.from(m.slice(1, 7).map((h) => parseInt(h, 16)));
}

/** Six bytes → "02:00:00:00:00:01". */
export function macString(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** "198.18.0.1" → its four bytes (network order). */
export function ipv4Bytes(ip: string): Uint8Array {
  const parts = ip.split('.');
  const n = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  if (n.length !== 4 || n.some((x) => !(x >= 0 && x <= 255)))
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `IPv4 address: expected four numbers 0-255 like 198.18.0.1, got '${ip}'`,
    );
  return Uint8Array.from(n);
}

/** Four bytes → "198.18.0.1". */
export function ipv4String(b: Uint8Array): string {
  return Array.from(b.subarray(0, 4)).join('.');
}
