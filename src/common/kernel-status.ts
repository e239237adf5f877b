import { ErrorCode, QingtianError } from './errors.js';

/**
 * What a kernel's negative status means to the caller. Kernels never throw: they return a status,
 * and each facade names its kernel's statuses with one of these kinds, so that the same condition
 * gives the same error code in every family.
 */
export const STATUS_KINDS = {
  /** The state region's header (magic, layout, size) does not match: a bug or a region freed under the call. */
  state: { code: ErrorCode.BadHeader, what: "the state region's header does not match" },
  /** An address range the call was given lies (partly) outside host memory. */
  range: { code: ErrorCode.InvalidArgument, what: 'an address range lies outside host memory' },
  /** A count, index, length or mode the kernel does not accept. */
  args: { code: ErrorCode.InvalidArgument, what: 'an argument is out of range' },
  /** A writer gave up: a lookup stayed on the copy it must change for the whole bounded wait. */
  busy: { code: ErrorCode.Timeout, what: 'a lookup stayed on the copy being updated for too long' },
  /** A fixed-capacity structure (slots, tables, pools, queues) has no room left. */
  full: { code: ErrorCode.CapacityExceeded, what: 'no room left' },
  /** The slot or id named does not hold a live entry. */
  missing: { code: ErrorCode.NotFound, what: 'no live entry there' },
} as const satisfies Record<string, { code: ErrorCode; what: string }>;

/** A kind of kernel status: see {@link STATUS_KINDS}. */
export type StatusKind = keyof typeof STATUS_KINDS;

/** A facade's kernel statuses: status value → its kind and, optionally, a more precise text. */
export type StatusTable = ReadonlyMap<number, { readonly kind: StatusKind; readonly what: string }>;

/**
 * Builds a facade's status table from `[status, kind, text?]` entries (status values as the
 * kernel exports them).
 */
export function statusTable(entries: readonly (readonly [number, StatusKind, string?])[]): StatusTable {
  return new Map(entries.map(([status, kind, what]) => [status, { kind, what: what ?? STATUS_KINDS[kind].what }]));
}

/**
 * The one way a kernel status becomes an error: the code comes from the status's kind, the message
 * names where and what; a status the table does not know (a kernel and a facade from different
 * builds) is `QT_KERNEL_FAULT`.
 */
export function kernelStatusError(
  where: string,
  status: number,
  table: StatusTable,
  details: Record<string, unknown> = {},
  note?: string,
): QingtianError {
  const meaning = table.get(status);
  const code = meaning ? STATUS_KINDS[meaning.kind].code : ErrorCode.KernelFault;
  const what = meaning?.what ?? 'a status this API does not know';
  return new QingtianError(code, `${where}: ${what}${note ? `; ${note}` : ''} (kernel status ${status})`, {
    ...details,
    status,
  });
}

/** `status` when it is not negative (a count, a result); else throws {@link kernelStatusError}. */
export function checkKernelStatus(where: string, status: number, table: StatusTable): number {
  if (status >= 0) return status;
  throw kernelStatusError(where, status, table);
}
