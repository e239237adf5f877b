import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, oneOf, parseArgs } from '../../common/validate.js';
import { SIMD_CHOICES, type SimdChoice } from '../kernel-flavour.js';
import { defaultRuntime, type KernelRuntime } from '../kernel-runtime.js';
import { addressIn, stagingFor } from '../staging.js';
import { difKernel } from './dif-kernel.js';

export interface CrcOptions {
  runtime?: KernelRuntime | undefined;
  simd?: SimdChoice | undefined;
}

const CHUNK_BYTES = 1 << 20;
const optionsSchema = z
  .object({
    runtime: z.custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'memory' in v && 'kernel' in v, { error: 'a KernelRuntime' }).optional(),
    simd: oneOf(SIMD_CHOICES).optional(),
  })
  .optional();
const seedSchema = intIn(0, 0xffff);

/**
 * CRC-16/T10-DIF (polynomial 0x8BB7, init 0, no reflection, no final xor; "123456789" -> 0xD0DB)
 * of `data`, continuing from `seed` (a previous CRC, to checksum a stream in pieces). Data that
 * is not a view over the runtime's memory is copied in, 1 MiB at a time.
 */
export function crc16t10dif(data: Uint8Array, seed = 0, options?: CrcOptions): number {
  if (!(data instanceof Uint8Array)) throw new QingtianError(ErrorCode.InvalidArgument, `crc16t10dif: data: expected a Uint8Array, got ${typeof data}`, { field: 'data' });
  let crc = parseArgs(seedSchema, seed, 'crc16t10dif: seed');
  const o = parseArgs(optionsSchema, options, 'crc16t10dif options');
  const runtime = o?.runtime ?? defaultRuntime();
  const k = difKernel(runtime, o?.simd ?? 'auto');
  const at = addressIn(runtime.memory.memory, data);
  if (at >= 0) return check(k.crc16(crc, at, data.length));
  if (data.length === 0) return crc;
  const base = stagingFor(runtime).reserve(Math.min(CHUNK_BYTES, data.length));
  const u8 = runtime.memory.u8;
  for (let off = 0; off < data.length; off += CHUNK_BYTES) {
    const piece = data.subarray(off, off + CHUNK_BYTES);
    u8.set(piece, base);
    crc = check(k.crc16(crc, base, piece.length));
  }
  return crc;
}

/** The same CRC over [address, address + length) of the runtime's memory (no copy). */
export function crc16t10difAt(address: number, length: number, seed = 0, options?: CrcOptions): number {
  const o = parseArgs(optionsSchema, options, 'crc16t10difAt options');
  const runtime = o?.runtime ?? defaultRuntime();
  const mem = runtime.memory.sizeBytes;
  const len = parseArgs(intIn(0, mem), length, 'crc16t10difAt: length');
  const addr = parseArgs(intIn(1, mem - len), address, 'crc16t10difAt: address');
  return check(difKernel(runtime, o?.simd ?? 'auto').crc16(parseArgs(seedSchema, seed, 'crc16t10difAt: seed'), addr, len));
}

function check(status: number): number {
  if (status < 0) throw new QingtianError(ErrorCode.InvalidArgument, `crc16t10dif: the dif kernel refused the range (status ${status})`, { status });
  return status;
}
