import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import type { RegionKind } from '../../common/region-kind.js';
import { describe } from '../../common/validate.js';

/**
 * The kinds of region a zero-copy `*At` call may read or write: buffers a caller allocated
 * (`core-scratch`) and guest RAM. State regions (a flow table, a queue, a core's control block),
 * kernel images and tables, bitmaps, the reserved low 64 KiB and free memory are refused.
 */
export const BUFFER_KINDS: readonly RegionKind[] = ['core-scratch', 'guest-ram'];

/**
 * Checks that [addr, addr + len) lies inside one live region of a buffer kind and returns addr;
 * else QT_INVALID_ARGUMENT naming the field, what is accepted and the region the range hit.
 * Every address of a zero-copy call passes here before a kernel sees any of them.
 */
export function bufferRange(memory: HostMemoryApi, where: string, field: string, addr: unknown, len: number): number {
  const accepted = `a range inside one region of kind ${BUFFER_KINDS.join(' or ')}`;
  if (typeof addr !== 'number' || !Number.isInteger(addr) || addr < 0)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: ${field}: expected a host address, got ${describe(addr)}`,
      {
        field,
      },
    );
  const r = memory.regionAt(addr);
  if (!r)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: ${field}: expected ${accepted}, got 0x${addr.toString(16)}, which lies in no allocated region` +
        (addr < 65536 ? ' (the low 64 KiB are reserved)' : ''),
      { field, address: addr },
    );
  if (!BUFFER_KINDS.includes(r.kind))
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: ${field}: expected ${accepted}, got 0x${addr.toString(16)} in region '${r.name}' (${r.kind}, owner ${r.owner})`,
      { field, address: addr, region: r.name, kind: r.kind, owner: r.owner },
    );
  if (addr + len > r.base + r.sizeBytes)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${where}: ${field}: expected ${accepted}, got ${len} bytes at 0x${addr.toString(16)}, past the end of region '${r.name}' (0x${r.base.toString(16)} + ${r.sizeBytes})`,
      { field, address: addr, region: r.name },
    );
  return addr;
}
