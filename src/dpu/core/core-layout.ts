import { fourcc } from '../../common/region-header.js';
import { BURST_LATENCY_BYTES } from './burst-latency.js';
import { COUNTER_BLOCK_BYTES } from './core-counters.js';
import { COMMAND_BYTES, EVENT_BYTES } from './core-protocol.js';
import { JOB_COUNTERS_BYTES } from './job-counters.js';
import { PAUSE_TRACE_BYTES } from './pause-trace.js';
import { SpscRing } from './spsc-ring.js';

/**
 * A DPU core's control region (kind 'core-control', magic 'CORE'): everything the main thread
 * and the core share about the core itself. Hot words sit on their own cache lines.
 *
 *   +0      header
 *   +64     i32 doorbell   producers add 1 after publishing work, then notify if sleeping
 *   +128    i32 sleeping   1 while the core is (about to be) in Atomics.wait on the doorbell
 *   +132    i32 runState   CoreRunState below, written by the core (and by main on failure)
 *   +136    i32 mode       CoreMode code, written by the core when it applies SetMode
 *   +140    i32 jobCount
 *   +144    i32 nice       the core thread's scheduling priority (Linux nice) as the core set it
 *   +148    i32 niceRefused  1 when the requested priority was refused (not permitted): nice is then what
 *                            the thread kept
 *   +152    i32 cpu        the CPU the core's thread is pinned to, -1 when not pinned
 *   +192    counters (core-counters.ts)
 *   +352    pause trace of the last swap commit (pause-trace.ts)
 *   +512    mailbox  (SPSC, main → core): MAILBOX_CAPACITY command records
 *   +...    events   (SPSC, core → main): EVENT_CAPACITY event records
 *   +...    per-job counters (job-counters.ts)
 *   +...    per-job burst durations (burst-latency.ts), 64-aligned
 *
 * The records and what they mean are the core's command protocol (core-protocol.ts).
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
export const CTL_TRACE = 352;
export const CTL_MAILBOX = 512;

export const MAILBOX_CAPACITY = 32;
export const EVENT_CAPACITY = 128;
export const CTL_EVENTS = CTL_MAILBOX + SpscRing.bytes(MAILBOX_CAPACITY, COMMAND_BYTES);
export const CTL_JOBS = CTL_EVENTS + SpscRing.bytes(EVENT_CAPACITY, EVENT_BYTES);
export const CTL_BURSTS = Math.ceil((CTL_JOBS + JOB_COUNTERS_BYTES) / 64) * 64;
export const CTL_BYTES = CTL_BURSTS + BURST_LATENCY_BYTES;

if (CTL_COUNTERS + COUNTER_BLOCK_BYTES > CTL_TRACE) throw new Error('core-layout: counters overlap the pause trace');
if (CTL_TRACE + PAUSE_TRACE_BYTES > CTL_MAILBOX) throw new Error('core-layout: the pause trace overlaps the mailbox');

export const RunState = { NotStarted: 0, Running: 1, Sleeping: 2, Quiesced: 3, Stopped: 4, Failed: 5 } as const;
/**
 * Where a core's reactor is: `not-started`, `running`, `sleeping` (on its doorbell), `quiesced`
 * (no burst runs until resume), `stopped`, or `failed` (its thread ended with an error).
 */
export type CoreRunState = 'not-started' | 'running' | 'sleeping' | 'quiesced' | 'stopped' | 'failed';
/** The run states by their RunState value. */
export const RUN_STATE_NAMES = [
  'not-started',
  'running',
  'sleeping',
  'quiesced',
  'stopped',
  'failed',
] as const satisfies readonly CoreRunState[];

/**
 * How an idle core waits: `poll` never sleeps (lowest latency, a whole CPU); `interrupt` sleeps on
 * its doorbell after every idle pass; `adaptive` after `idleSpinPolls` idle passes in a row.
 */
export type CoreMode = 'poll' | 'interrupt' | 'adaptive';
/** The modes by their value in the control region. */
export const CORE_MODES = ['poll', 'interrupt', 'adaptive'] as const satisfies readonly CoreMode[];
export const DEFAULT_IDLE_SPIN_POLLS = 4096;

/** The two SPSC rings of one core (mailbox and events) over host memory. */
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
