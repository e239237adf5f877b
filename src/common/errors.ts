/**
 * Every error qingtian throws is a {@link QingtianError} with a stable `code`. Callers branch on
 * `code`, never on the message text.
 */
export const ErrorCode = {
  /** An API argument failed validation; the message names the field and the accepted range. */
  InvalidArgument: 'QT_INVALID_ARGUMENT',
  /** Host memory has no free block large enough. */
  OutOfMemory: 'QT_OUT_OF_MEMORY',
  /** A region was freed twice. */
  DoubleFree: 'QT_DOUBLE_FREE',
  /** A region was freed by an owner that does not own it. */
  NotOwner: 'QT_NOT_OWNER',
  /** A region id that was never handed out. */
  UnknownRegion: 'QT_UNKNOWN_REGION',
  /** A state region header does not carry the expected magic, layout version or size. */
  BadHeader: 'QT_BAD_HEADER',
  /** A kernel module breaks the kernel rules (imports, exports, data segments, ABI). */
  KernelRejected: 'QT_KERNEL_REJECTED',
  /** A kernel could not be loaded or initialised on a core. */
  KernelLoadFailed: 'QT_KERNEL_LOAD_FAILED',
  /** A kernel module is still in use by an attached job. */
  KernelBusy: 'QT_KERNEL_BUSY',
  /** A job was refused by a core (unknown kernel or entry, duplicate id, too many jobs). */
  JobRejected: 'QT_JOB_REJECTED',
  /** The core is stopped, failed, or its mailbox is full. */
  CoreUnavailable: 'QT_CORE_UNAVAILABLE',
  /** A command did not complete in time. */
  Timeout: 'QT_TIMEOUT',
  /** A virtqueue configuration or restored queue state was refused (bad-input ids A1-A6). */
  QueueRefused: 'QT_QUEUE_REFUSED',
  /** A device is not in a state that allows the operation (e.g. needs reset, not configured). */
  DeviceState: 'QT_DEVICE_STATE',
  /** A module's signature is missing, malformed, made by an untrusted key, or does not match its bytes. */
  BadSignature: 'QT_BAD_SIGNATURE',
  /** A hot swap was refused before its commit (name, missing export, self-test, nothing live); nothing changed. */
  SwapRefused: 'QT_SWAP_REFUSED',
  /** A hot swap's commit failed on a core (e.g. a state transform refused a job's state); it was undone. */
  SwapFailed: 'QT_SWAP_FAILED',
  /** A named resource (kernel file, suite, entry, rule id) does not exist. */
  NotFound: 'QT_NOT_FOUND',
  /** Text input (a ClassBench file, a prefix) is malformed; the message gives the line or field. */
  BadFormat: 'QT_BAD_FORMAT',
  /** A fixed-capacity structure (classifier, route table) has no room left. */
  CapacityExceeded: 'QT_CAPACITY_EXCEEDED',
  /** More shards are missing than an erasure code can rebuild: the data is lost. */
  TooManyErasures: 'QT_TOO_MANY_ERASURES',
  /** An object was used after dispose()/close(). */
  Disposed: 'QT_DISPOSED',
  /** A file or socket operation failed, or a volume request completed with an error status. */
  IoError: 'QT_IO_ERROR',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class QingtianError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'QingtianError';
    this.code = code;
    this.details = details;
  }
}

export function isQingtianError(e: unknown, code?: ErrorCode): e is QingtianError {
  return e instanceof QingtianError && (code === undefined || e.code === code);
}
