import { Buffer } from 'node:buffer';

/**
 * Result arrays for the copying forms of the kernel APIs. Zero-filling a fresh array costs about
 * as much as the kernel work it holds, and every byte of a result is written by the kernel before
 * it is returned, so memory is taken uninitialised: results of up to 512 KiB a call are carved
 * from 4 MiB slabs, never handed out twice (as Node's Buffer pool does with 8 KiB); larger ones
 * get their own allocation. Results of one call share a backing buffer, and a result kept alive
 * keeps its slab alive (`.slice()` detaches one).
 */
const SLAB_BYTES = 4 << 20;
const SMALL_BYTES = 512 << 10;
let slab: Buffer | null = null;
let slabUsed = 0;

function take(bytes: number): { buffer: ArrayBufferLike; offset: number } {
  if (bytes > SMALL_BYTES) {
    const b = Buffer.allocUnsafeSlow(bytes);
    return { buffer: b.buffer, offset: b.byteOffset };
  }
  if (!slab || slabUsed + bytes > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const offset = slab.byteOffset + slabUsed;
  slabUsed = (slabUsed + bytes + 7) & ~7;
  return { buffer: slab.buffer, offset };
}

export function outputArrays(count: number, len: number): Uint8Array[] {
  const { buffer, offset } = take(count * len);
  const out = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) out[i] = new Uint8Array(buffer, offset + i * len, len);
  return out;
}

export function outputArray(len: number): Uint8Array {
  const { buffer, offset } = take(len);
  return new Uint8Array(buffer, offset, len);
}
