import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { bufferRange } from '../kernels/buffer-range.js';

/**
 * Checks of the shard arguments of the erasure-coding API, with messages that name the argument,
 * what is accepted and what was given. Nothing is written before they pass.
 */
export function invalid(where: string, message: string, details: Record<string, unknown> = {}): QingtianError {
  return new QingtianError(ErrorCode.InvalidArgument, `${where}: ${message}`, details);
}

/** An array of exactly `count` Uint8Arrays of one length; returns that length. */
export function shardArray(where: string, field: string, what: string, value: unknown, count: number): number {
  if (!Array.isArray(value) || value.length !== count) {
    const got = Array.isArray(value) ? `${value.length} entries` : typeof value;
    throw invalid(where, `${field}: expected an array of ${count} Uint8Array (${what}), got ${got}`, { field });
  }
  let len = -1;
  value.forEach((s: unknown, i) => {
    if (!(s instanceof Uint8Array))
      throw invalid(where, `${field}[${i}]: expected a Uint8Array, got ${describe(s)}`, { field: `${field}[${i}]` });
    if (len < 0) len = s.length;
    else if (s.length !== len) {
      throw invalid(
        where,
        `${field}[${i}]: expected ${len} bytes (the length of ${field}[0]; all shards have one length), got ${s.length}`,
        { field: `${field}[${i}]` },
      );
    }
  });
  return len;
}

/** A shard index in [0, count). */
export function shardIndex(where: string, field: string, value: unknown, count: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= count) {
    throw invalid(where, `${field}: expected an integer in [0, ${count - 1}], got ${describe(value)}`, { field });
  }
  return value;
}

/**
 * Host addresses of shards: integers with [addr, addr + len) inside one buffer region of `memory`
 * (kernels/buffer-range.ts).
 */
export function addressArray(
  where: string,
  field: string,
  value: unknown,
  count: number,
  len: number,
  memory: HostMemoryApi,
): number[] {
  if (!Array.isArray(value) || value.length !== count) {
    throw invalid(
      where,
      `${field}: expected an array of ${count} host addresses, got ${Array.isArray(value) ? `${value.length} entries` : typeof value}`,
      { field },
    );
  }
  return value.map((a: unknown, i) => address(where, `${field}[${i}]`, a, len, memory));
}

/**
 * The same check as addressArray, writing each address into a u32 pointer array at `ptrs` as it
 * goes (the zero-copy hot path: no intermediate arrays). Nothing is read by a kernel before the
 * whole array has passed.
 */
export function writeAddresses(
  where: string,
  field: string,
  value: unknown,
  count: number,
  len: number,
  memory: HostMemoryApi,
  view: DataView,
  ptrs: number,
): void {
  if (!Array.isArray(value) || value.length !== count) {
    throw invalid(
      where,
      `${field}: expected an array of ${count} host addresses, got ${Array.isArray(value) ? `${value.length} entries` : typeof value}`,
      { field },
    );
  }
  for (let i = 0; i < count; i++) {
    view.setUint32(ptrs + 4 * i, address(where, `${field}[${i}]`, value[i], len, memory), true);
  }
}

/** One shard address: an integer whose [a, a + len) lies inside one buffer region of `memory`. */
export function address(where: string, field: string, a: unknown, len: number, memory: HostMemoryApi): number {
  const memBytes = memory.sizeBytes;
  if (typeof a !== 'number' || !Number.isInteger(a) || a < 1 || a + len > memBytes) {
    throw invalid(
      where,
      `${field}: expected a host address in [1, ${memBytes - len}] (the shard's ${len} bytes inside the runtime's memory), got ${describe(a)}`,
      { field },
    );
  }
  return bufferRange(memory, where, field, a, len);
}

/** A shard length for the zero-copy forms: an integer in [0, memBytes]. */
export function shardBytes(where: string, value: unknown, memBytes: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > memBytes) {
    throw invalid(where, `shardBytes: expected an integer in [0, ${memBytes}], got ${describe(value)}`, {
      field: 'shardBytes',
    });
  }
  return value;
}

export function tooManyErasures(where: string, missing: readonly number[], m: number): QingtianError {
  return new QingtianError(
    ErrorCode.TooManyErasures,
    `${where}: ${missing.length} shards missing (${missing.join(', ')}); at most ${m} (the parity shards) can be rebuilt`,
    { missing: [...missing], parityShards: m },
  );
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? (v.constructor?.name ?? 'an object') : typeof v;
}
