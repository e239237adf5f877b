import { fourcc } from '../../common/region-header.js';
import { COUNTER_BLOCK_BYTES } from './core-counters.js';
import { SpscRing } from './spsc-ring.js';

/**
 * A DPU core's control region (kind 'core-control', magic 'CORE'): everything the main thread
 * and the core share about the core itself. Hot words sit on their own cache lines.
 *
 *   +0      header
 *   +64     i32 doorbell   producers add 1 after publishing work, then notify if sleeping
 *   +128    i32 sleeping   1 while the core is (about to be) in Atomics.wait on the doorbell
 *   +132    i32 runState   CoreRunState below, written by the core (and by main on failure)
 *   +136    i32 mode       CoreMode code, written by the core when it applies SET_MODE
 *   +140    i32 jobCount
 *   +144    i32 nice       the core thread's scheduling priority (Linux nice) as the core set it
 *   +148    i32 niceRefused  1 when the requested priority was refused (not permitted): nice is then what the thread kept
 *   +152    i32 cpu        the CPU the core's thread is pinned to, -1 when not pinned
 *   +192    counters (core-counters.ts)
 *   +512    mailbox  (SPSC, main → core): MAILBOX_CAPACITY × 32-byte commands
 *   +...    events   (SPSC, core → main): EVENT_CAPACITY × 256-byte events
 */
export const CORE_MAGIC = fourcc('CORE');
export const CORE_LAYOUT = 1;

export const CTL_DOORBELL = 64;
export const CTL_SLEEPING = 128;
export const CTL_RUN_STATE = 132;
export const CTL_MODE = 136;
export const CTL_JOB_COUNT = 140;
export const CTL_NICE = 144;
export const CTL_NICE_REFUSED = 148;
export const CTL_CPU = 152;
export const CTL_COUNTERS = 192;
export const CTL_MAILBOX = 512;

export const MAILBOX_CAPACITY = 32;
export const COMMAND_BYTES = 32;
export const EVENT_CAPACITY = 128;
export const EVENT_BYTES = 256;
export const CTL_EVENTS = CTL_MAILBOX + SpscRing.bytes(MAILBOX_CAPACITY, COMMAND_BYTES);
export const CTL_BYTES = CTL_EVENTS + SpscRing.bytes(EVENT_CAPACITY, EVENT_BYTES);
export const MAX_JOBS_PER_CORE = 64;

if (CTL_COUNTERS + COUNTER_BLOCK_BYTES > CTL_MAILBOX) throw new Error('core-layout: counters overlap the mailbox');

/** Command record (8 × i32): seq, op, args[6]. */
export const Op = {
  Ping: 1,
  AttachJob: 2, // jobId, kernelKey, entryIndex, statePtr, budget, armIndex (-1: none)
  DetachJob: 3, // jobId
  Quiesce: 4,
  Resume: 5,
  LoadKernel: 6, // kernelKey, imageAddr, imageBytes, tablesAddr
  UnloadKernel: 7, // kernelKey
  SetMode: 8, // mode, idleSpinPolls
  Stop: 9,
  /**
   * Commit of a hot swap, between passes: every job of kernel `from` now runs the same-named
   * entries of kernel `to`, after the state transform (if any) ran on each job's state.
   * fromKey, toKey, transform (-1: none; else exportIndex << 1 | 1 when the export is in `from`,
   * | 0 when in `to`), layouts (fromLayout | toLayout << 16), requestedNs lo, hi (process.hrtime).
   * Ack: arg0 = pause in ns (requestedNs → jobs re-pointed), arg1 = jobs swapped.
   */
  SwapKernel: 10,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/**
 * Event record (64 × i32): seq, kind, status, jobId, arg0, arg1, messageBytes, reserved, then
 * EVENT_MESSAGE_BYTES of UTF-8 text from byte 32.
 *
 * JobRolledBack: a job that a swap had moved to a new kernel failed (trap or negative status)
 * while its previous kernel was still loaded; the core put it back on the previous kernel
 * (arg0 = the failed kernel's key, arg1 = the kernel it runs again) instead of detaching it.
 */
export const EventKind = { Ack: 1, JobFailed: 2, JobRolledBack: 3 } as const;
export const EVENT_MESSAGE_OFFSET = 32;
export const EVENT_MESSAGE_BYTES = EVENT_BYTES - EVENT_MESSAGE_OFFSET;

/** Status codes in acks and job-failure events. */
export const Status = {
  Ok: 0,
  UnknownOp: -1,
  NoSuchKernel: -2,
  NoSuchEntry: -3,
  JobExists: -4,
  NoSuchJob: -5,
  TooManyJobs: -6,
  KernelExists: -7,
  KernelInUse: -8,
  CompileFailed: -9,
  InitFailed: -10,
  BadArgument: -11,
  /** A state transform refused a job's state (or trapped); every job stays on its kernel. */
  TransformFailed: -12,
  /** A job trapped (Wasm RuntimeError); the event carries the trap message. */
  Trap: -100,
} as const;

export const RunState = { NotStarted: 0, Running: 1, Sleeping: 2, Quiesced: 3, Stopped: 4, Failed: 5 } as const;
export const RUN_STATE_NAMES = ['not-started', 'running', 'sleeping', 'quiesced', 'stopped', 'failed'] as const;
export type CoreRunState = (typeof RUN_STATE_NAMES)[number];

/** poll: never sleep; interrupt: sleep on the doorbell after every idle pass; adaptive: after idleSpinPolls idle passes. */
export const CORE_MODES = ['poll', 'interrupt', 'adaptive'] as const;
export type CoreMode = (typeof CORE_MODES)[number];
export const DEFAULT_IDLE_SPIN_POLLS = 4096;

/** The three SPSC rings and hot words of one core, as word indices into host memory. */
export function coreRings(i32: Int32Array, controlBase: number): { mailbox: SpscRing; events: SpscRing } {
  return {
    mailbox: new SpscRing(i32, controlBase + CTL_MAILBOX, MAILBOX_CAPACITY, COMMAND_BYTES),
    events: new SpscRing(i32, controlBase + CTL_EVENTS, EVENT_CAPACITY, EVENT_BYTES),
  };
}

/**
 * Rings a core's doorbell (any producer: main, a guest, another core): publish the work first,
 * then call this. The add is sequentially consistent, so a core that reads the doorbell before
 * polling either sees this work in its poll or finds the doorbell changed and does not sleep;
 * notify is only needed when the core says it is sleeping. Returns true when it woke the core
 * out of Atomics.wait (false: the core was awake, or had not yet entered the wait).
 */
export function ringDoorbell(i32: Int32Array, controlBase: number): boolean {
  const db = (controlBase + CTL_DOORBELL) >> 2;
  Atomics.add(i32, db, 1);
  return Atomics.load(i32, (controlBase + CTL_SLEEPING) >> 2) !== 0 && Atomics.notify(i32, db, 1) === 1;
}
