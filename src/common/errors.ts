/**
 * The stable codes of {@link QingtianError}. Every error qingtian throws carries one; callers
 * branch on `code`, never on the message text. The same condition gives the same code in every
 * API: an object used after it was ended is always `QT_DISPOSED`, an address range outside memory
 * always `QT_INVALID_ARGUMENT`, a full fixed-size structure always `QT_CAPACITY_EXCEEDED`.
 */
export const ErrorCode = {
  /** An argument or option failed validation; the message names the field, the accepted range and the value. */
  InvalidArgument: 'QT_INVALID_ARGUMENT',
  /** Host memory has no free block large enough; the message gives the bytes requested, largest free and free. */
  OutOfMemory: 'QT_OUT_OF_MEMORY',
  /** A region was freed twice. */
  DoubleFree: 'QT_DOUBLE_FREE',
  /** A region was freed by an owner that does not own it. */
  NotOwner: 'QT_NOT_OWNER',
  /** A region id that was never handed out. */
  UnknownRegion: 'QT_UNKNOWN_REGION',
  /** A state region's header does not carry the expected magic, layout version or size. */
  BadHeader: 'QT_BAD_HEADER',
  /** A kernel module breaks the kernel rules (imports, exports, data segments, ABI); the message says which. */
  KernelRejected: 'QT_KERNEL_REJECTED',
  /** A kernel's `qt_init` failed, or a core could not instantiate it. */
  KernelLoadFailed: 'QT_KERNEL_LOAD_FAILED',
  /** A kernel module cannot be unloaded: an attached job still uses it. */
  KernelBusy: 'QT_KERNEL_BUSY',
  /** A core refused a job's attach or detach (unknown kernel or entry, bad budget, duplicate id, too many jobs). */
  JobRejected: 'QT_JOB_REJECTED',
  /** The core is stopped or failed, or too many of its commands are outstanding. */
  CoreUnavailable: 'QT_CORE_UNAVAILABLE',
  /**
   * Something did not finish in time: a core did not acknowledge a command, a classifier or
   * route-table update found a lookup still on the copy it must change (nothing more was changed),
   * or the switch's core took no `host.network` change for 5 s (the message says whether the
   * change was made and waits for the core, or not made at all).
   */
  Timeout: 'QT_TIMEOUT',
  /** A virtqueue configuration or restored queue state was refused; the message names the bad-input id (A1–A6). */
  QueueRefused: 'QT_QUEUE_REFUSED',
  /** The driver's feature bits were refused: a bit the device does not offer, or VIRTIO_F_VERSION_1 missing. */
  FeaturesRefused: 'QT_FEATURES_REFUSED',
  /**
   * A device or vCPU is not in a state for the operation: a device reconfigured while started,
   * not started, its features not negotiated; a vCPU that exited.
   */
  DeviceState: 'QT_DEVICE_STATE',
  /** A module to swap in is unsigned, or its signature is malformed, untrusted, for other bytes or invalid. */
  BadSignature: 'QT_BAD_SIGNATURE',
  /**
   * A hot swap was refused before its commit (another module, a missing export, a failed
   * self-test, no live version); nothing changed.
   */
  SwapRefused: 'QT_SWAP_REFUSED',
  /** A core refused a hot swap's commit (e.g. a state transform refused a job's state); it was undone on every core. */
  SwapFailed: 'QT_SWAP_FAILED',
  /** A named thing does not exist: a kernel file, an export, a bench suite, a rule id. */
  NotFound: 'QT_NOT_FOUND',
  /** Text input (a ClassBench line, a topology or CDF file) is malformed; the message gives the line or field. */
  BadFormat: 'QT_BAD_FORMAT',
  /**
   * A fixed-capacity structure has no room left: a classifier's rule slots or tables, a route
   * table's groups or node heap (`details.resource`), a simulation's packet pool or event queue, a
   * guest's interrupt words.
   */
  CapacityExceeded: 'QT_CAPACITY_EXCEEDED',
  /** More shards are missing than an erasure code's parity shards: the data cannot be rebuilt. */
  TooManyErasures: 'QT_TOO_MANY_ERASURES',
  /** An object was used after the call that ends it: dispose(), close(), free(), destroy(), stop(), shutdown(). */
  Disposed: 'QT_DISPOSED',
  /** A vsock connection was refused or reset by its peer, broke the protocol, or lost its transport. */
  VsockReset: 'QT_VSOCK_RESET',
  /** An agent (host or guest) broke its protocol: a bad frame, an unsupported version, an unknown message. */
  AgentProtocol: 'QT_AGENT_PROTOCOL',
  /** An object (a VM, an agent) is not in a state that allows the operation; nothing was changed. */
  InvalidState: 'QT_INVALID_STATE',
  /** A kernel or worker answered what its API does not expect (an unknown status, a short count): a bug. */
  KernelFault: 'QT_KERNEL_FAULT',
  /** A file or socket operation failed, or a volume request completed with an error status. */
  IoError: 'QT_IO_ERROR',
  /**
   * Stored data is in an older format version that the call does not take as it is (a volume made
   * before its blocks carried an application tag); `details.version` and `details.expected` say
   * which, and the message names the way to upgrade it.
   */
  FormatVersion: 'QT_FORMAT_VERSION',
} as const;

/** One of the {@link ErrorCode} strings, e.g. `'QT_INVALID_ARGUMENT'`. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The one error type qingtian throws (or rejects with). Bad input breaks only the call, the
 * device or the connection it came from; nothing is written when a call is refused.
 *
 * ```ts
 * try {
 *   table.insert(key, value);
 * } catch (e) {
 *   if (isQingtianError(e, ErrorCode.Disposed)) reopen();
 *   else throw e;
 * }
 * ```
 */
export class QingtianError extends Error {
  /** What went wrong, stable across releases: branch on this, not on the message. */
  readonly code: ErrorCode;
  /** Machine-readable context: the `field` at fault, a kernel `status`, changes `applied` before the failure, … */
  readonly details: Readonly<Record<string, unknown>>;

  /**
   * @param code - the condition
   * @param message - for people: names the field, the accepted range and what was received
   * @param details - for programs: the same facts as values
   */
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'QingtianError';
    this.code = code;
    this.details = details;
  }
}

/** True when `e` is a {@link QingtianError}, and, if `code` is given, one with that code (a type guard). */
export function isQingtianError(e: unknown, code?: ErrorCode): e is QingtianError {
  return e instanceof QingtianError && (code === undefined || e.code === code);
}
