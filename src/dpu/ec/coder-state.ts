import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { HDR_BYTES } from '../../generated/common.js';
import { EC_MAX_SHARDS, EC_TABLE_BYTES } from '../../generated/ec.js';

export const CODER_MAGIC = 'ECRS';
export const CODER_LAYOUT = 1;
const OWNER = 'ec';
/** k and m are at most EC_MAX_SHARDS together: pointer arrays of one more entry always suffice. */
const PTRS = (EC_MAX_SHARDS + 1) * 4;
const SCRATCH = EC_MAX_SHARDS * EC_MAX_SHARDS;

/**
 * A coder's state region in its runtime's memory (one per ReedSolomon). Tables are built into it
 * by the kernel (ec_init_tables); the pointer arrays carry one call's shard addresses.
 *
 *   +0     header (64)                'ECRS', layout 1
 *   +64    srcPtrs   u32[256]         source shard addresses of the current call
 *   +1088  dstPtrs   u32[256]         output shard addresses of the current call
 *   +2112  scratch   u8[255 * 255]    a coefficient matrix on its way to ec_init_tables
 *   +E     encode    m * k * 32       nibble tables of the parity rows (E = 64-aligned)
 *   +E+T   slots     slots * T        decode tables, one erasure pattern each (T <= m * k * 32)
 */
export class CoderState {
  readonly region: StateRegion;
  readonly srcPtrs: number;
  readonly dstPtrs: number;
  readonly scratch: number;
  readonly encodeTables: number;
  readonly slotBytes: number;

  constructor(
    private readonly memory: HostMemoryApi,
    k: number,
    m: number,
    readonly slots: number,
  ) {
    const tableBytes = align(m * k * EC_TABLE_BYTES);
    const encodeOff = align(HDR_BYTES + 2 * PTRS + SCRATCH);
    this.region = memory.allocState({
      name: `ec:rs(${k},${m})`,
      owner: OWNER,
      kind: 'device-state',
      magic: CODER_MAGIC,
      layoutVersion: CODER_LAYOUT,
      payloadBytes: encodeOff - HDR_BYTES + tableBytes * (1 + slots),
    });
    const b = this.region.payload;
    this.srcPtrs = b;
    this.dstPtrs = b + PTRS;
    this.scratch = b + 2 * PTRS;
    this.encodeTables = b + encodeOff;
    this.slotBytes = tableBytes;
  }

  slot(i: number): number {
    return this.encodeTables + this.slotBytes * (1 + i);
  }

  /** Writes shard addresses into a pointer array. */
  setPointers(array: number, addrs: readonly number[]): void {
    const view = this.memory.view;
    for (let i = 0; i < addrs.length; i++) view.setUint32(array + 4 * i, addrs[i]!, true);
  }

  setBytes(addr: number, bytes: Uint8Array): void {
    this.memory.u8.set(bytes, addr);
  }

  free(): void {
    this.memory.free(this.region, OWNER);
  }
}

function align(n: number): number {
  return (n + 63) & ~63;
}
