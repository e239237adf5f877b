/**
 * The command protocol between the main thread and one DPU core. Commands travel in the core's
 * mailbox (an SPSC ring, main → core), events in its event ring (core → main); both rings sit in
 * the core's control region (core-layout.ts). The core takes commands between passes, so each
 * one lands at a burst boundary. Every command gets exactly one Ack, carrying its seq; JobFailed
 * and JobRolledBack are sent unasked (seq 0). All words are little-endian i32.
 *
 * Command record, COMMAND_BYTES (16 words):
 *
 * | word | field | meaning                                                    |
 * |------|-------|------------------------------------------------------------|
 * | 0    | seq   | 1 … 2^31-1, chosen by the sender, echoed by the ack         |
 * | 1    | op    | Op                                                         |
 * | 2–15 | args  | arg0 … arg13, per op (table below); unused arguments are 0 |
 *
 * Event record, EVENT_BYTES (64 words):
 *
 * | word | field        | meaning                                                        |
 * |------|--------------|----------------------------------------------------------------|
 * | 0    | seq          | the command's seq (Ack), 0 otherwise                           |
 * | 1    | kind         | EventKind                                                      |
 * | 2    | status       | Status: the command's (Ack), the job's failure (other kinds)   |
 * | 3    | jobId        | the job (JobFailed, JobRolledBack), 0 for Ack                  |
 * | 4    | arg0         | result word 0 (per op / per kind, tables below)                |
 * | 5    | arg1         | result word 1                                                  |
 * | 6    | messageBytes | length of the message                                          |
 * | 7    | reserved     | 0                                                              |
 * | 8–63 | message      | EVENT_MESSAGE_BYTES of UTF-8 text: why (empty for a plain Ok)  |
 *
 * Ops:
 *
 * | op | name         | args                                                                  | ack arg0, arg1       |
 * |----|--------------|-----------------------------------------------------------------------|----------------------|
 * | 1  | Ping         | –                                                                     | 0, 0                 |
 * | 2  | AttachJob    | jobId, kernelKey, entryIndex, statePtr, budget, armIndex (-1: none),  | 0, 0                 |
 * |    |              | weight, workAddr (0: none), clockAddr (0: none), splitAddr (0: none)  |                      |
 * | 3  | DetachJob    | jobId                                                                 | 0, 0                 |
 * | 4  | Quiesce      | –                                                                     | 0, 0                 |
 * | 5  | Resume       | –                                                                     | 0, 0                 |
 * | 6  | LoadKernel   | kernelKey, imageAddr, imageBytes, tablesAddr                          | ns to compile, 0     |
 * | 7  | UnloadKernel | kernelKey                                                             | 0, 0                 |
 * | 8  | SetMode      | mode (index in CORE_MODES), idleSpinPolls                             | 0, 0                 |
 * | 9  | Stop         | –                                                                     | 0, 0                 |
 * | 10 | SwapKernel   | fromKey, toKey, transform, layouts, requestedNs lo, requestedNs hi    | pause ns, jobs moved |
 * | 11 | SetJobWeight | jobId, weight                                                         | 0, 0                 |
 * | 12 | AttachHostJob | jobId, kind (index in HOST_JOB_KINDS), initAddr, initBytes           | 0, 0                 |
 *
 * AttachJob: `weight` (MIN_WEIGHT … MAX_WEIGHT, fair-share.ts) is the job's share of the core
 * under contention; `workAddr`, when not 0, is the host address (8-aligned) of a u64 to which the
 * job's kernel adds the work units it did, which the core's deficit round robin charges;
 * `clockAddr`, when not 0, the address (8-aligned) of an f64 the core writes its clock into
 * before each call (ns, process.hrtime: the kernel's only clock); `splitAddr`, when not 0, the
 * address of a burst split block (burst-split.ts) the core observes after each call that did work.
 *
 * AttachHostJob (host-job.ts): `initBytes` of UTF-8 JSON at `initAddr`, read before the ack. The
 * first job of a kind makes the core import its module, a pause of its passes paid once. A host
 * job shares the job ids and DetachJob with kernel jobs; one that throws is detached with a
 * JobFailed event.
 *
 * SwapKernel: `transform` is -1 for none, else exportIndex << 1 | 1 when the export is in `from`,
 * | 0 when it is in `to`; `layouts` is fromLayout | toLayout << 16; requestedNs is
 * process.hrtime.bigint() as the record was written, so the pause is measured from the moment
 * the command became visible to the core until its jobs run the new kernel. Ack words that hold
 * nanoseconds saturate at 2^31-1.
 *
 * Events:
 *
 * | kind | name          | status                        | arg0                   | arg1                       |
 * |------|---------------|-------------------------------|------------------------|----------------------------|
 * | 1    | Ack           | the command's Status          | per op (above)         | per op (above)             |
 * | 2    | JobFailed     | Trap, or the entry's status   | 0                      | 0                          |
 * | 3    | JobRolledBack | Trap, or the entry's status   | the failed kernel's key | the kernel it runs again   |
 *
 * JobFailed: the job trapped or returned a negative status; the core detached it. JobRolledBack:
 * a job that a swap had moved failed while its previous kernel was still loaded; the core put
 * it back on the previous kernel instead of detaching it.
 */

export const COMMAND_BYTES = 64;
export const EVENT_BYTES = 256;

/** Word indices in a command record. */
export const CMD_SEQ = 0;
export const CMD_OP = 1;
export const CMD_ARGS = 2;
export const CMD_ARG_COUNT = 14;

/** Word indices in an event record; the message starts at byte EVENT_MESSAGE_OFFSET. */
export const EV_SEQ = 0;
export const EV_KIND = 1;
export const EV_STATUS = 2;
export const EV_JOB = 3;
export const EV_ARG0 = 4;
export const EV_ARG1 = 5;
export const EV_MESSAGE_BYTES = 6;
export const EVENT_MESSAGE_OFFSET = 32;
export const EVENT_MESSAGE_BYTES = EVENT_BYTES - EVENT_MESSAGE_OFFSET;

export const Op = {
  Ping: 1,
  AttachJob: 2,
  DetachJob: 3,
  Quiesce: 4,
  Resume: 5,
  LoadKernel: 6,
  UnloadKernel: 7,
  SetMode: 8,
  Stop: 9,
  SwapKernel: 10,
  SetJobWeight: 11,
  AttachHostJob: 12,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

const OP_NAMES = Object.fromEntries(Object.entries(Op).map(([k, v]) => [v, k])) as Record<number, string>;

/** The name of an op code, for messages ('AttachJob'). */
export function opName(op: number): string {
  return OP_NAMES[op] ?? `op ${op}`;
}

export const EventKind = { Ack: 1, JobFailed: 2, JobRolledBack: 3 } as const;

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

/** A duration in ns as an ack word: saturates at 2^31-1 (~2.1 s); a negative one (clocks misbehaving) is 0. */
export function ackNs(ns: bigint | number): number {
  const x = Number(ns);
  return x <= 0 ? 0 : x >= 0x7fffffff ? 0x7fffffff : Math.round(x);
}

/** Jobs one core runs at most (AttachJob beyond it: TooManyJobs). */
export const MAX_JOBS_PER_CORE = 64;
