import { ErrorCode, QingtianError } from '../../common/errors.js';
import { MAILBOX_CAPACITY, coreRings, ringDoorbell } from './core-layout.js';
import {
  CMD_ARG_COUNT,
  CMD_ARGS,
  CMD_OP,
  CMD_SEQ,
  EV_ARG0,
  EV_ARG1,
  EV_JOB,
  EV_KIND,
  EV_MESSAGE_BYTES,
  EV_SEQ,
  EV_STATUS,
  EVENT_MESSAGE_OFFSET,
  EventKind,
  Op,
  Status,
  opName,
  type OpCode,
} from './core-protocol.js';
import type { SpscRing } from './spsc-ring.js';

/** Where the channel hands the events that are not acks (the core handle). */
export interface CoreEventSink {
  jobFailed(jobId: number, status: number, message: string): void;
  jobRolledBack(jobId: number, status: number, message: string, failedKey: number): void;
}

interface Pending {
  op: OpCode;
  /** Runs synchronously when the ack is drained, before any later event of the same batch is handled. */
  onOk: ((v: [number, number]) => void) | undefined;
  resolve(v: [number, number]): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const decoder = new TextDecoder();

/**
 * The main thread's end of one core's command protocol (core-protocol.ts): posts commands into
 * the core's mailbox under a sequence number, keeps each pending until its ack comes back on the
 * event ring or its timeout fires, and hands every other event to the sink. Events are drained
 * by a loop parked in Atomics.waitAsync on the event ring's head, so the main thread never
 * polls.
 */
export class CommandChannel {
  private readonly mailbox: SpscRing;
  private readonly events: SpscRing;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private pumping = false;

  constructor(
    private readonly coreId: number,
    private readonly i32: Int32Array,
    private readonly u8: Uint8Array,
    private readonly controlBase: number,
    private readonly timeoutMs: number,
    private readonly sink: CoreEventSink,
  ) {
    const rings = coreRings(i32, controlBase);
    this.mailbox = rings.mailbox;
    this.events = rings.events;
  }

  /** Empties both rings; only while no core task runs. */
  reset(): void {
    this.mailbox.reset();
    this.events.reset();
  }

  /** Starts draining the event ring (the core's task has been launched). */
  open(): void {
    this.pumping = true;
    void this.pump();
  }

  /**
   * Posts a command and resolves with its ack's two result words. `stampArgs`: arguments 4 and 5
   * become the low and high words of `process.hrtime.bigint()` taken as the record is written,
   * so a latency the core measures from them starts when the command became visible to it.
   */
  request(
    op: OpCode,
    args: number[],
    onOk?: (v: [number, number]) => void,
    stampArgs = false,
  ): Promise<[number, number]> {
    if (this.pending.size >= MAILBOX_CAPACITY) {
      return Promise.reject(
        new QingtianError(
          ErrorCode.CoreUnavailable,
          `core ${this.coreId}: ${this.pending.size} commands outstanding (mailbox capacity ${MAILBOX_CAPACITY})`,
        ),
      );
    }
    const seq = (this.seq = (this.seq % 0x7fffffff) + 1);
    const i32 = this.i32;
    return new Promise<[number, number]>((resolve, reject) => {
      const pushed = this.mailbox.push((w) => {
        i32[w + CMD_SEQ] = seq;
        i32[w + CMD_OP] = op;
        for (let k = 0; k < CMD_ARG_COUNT; k++) i32[w + CMD_ARGS + k] = (args[k] ?? 0) | 0;
        if (stampArgs) {
          const t0 = process.hrtime.bigint();
          i32[w + CMD_ARGS + 4] = Number(t0 & 0xffffffffn) | 0;
          i32[w + CMD_ARGS + 5] = Number(t0 >> 32n) | 0;
        }
      });
      if (!pushed) {
        reject(new QingtianError(ErrorCode.CoreUnavailable, `core ${this.coreId}: mailbox full`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(
          new QingtianError(
            ErrorCode.Timeout,
            `core ${this.coreId}: ${opName(op)} not acknowledged within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      timer.unref();
      this.pending.set(seq, { op, onOk, resolve, reject, timer });
      ringDoorbell(i32, this.controlBase);
    });
  }

  /** The core's task has ended: stops the drain loop and drains what the core left. */
  close(): void {
    this.pumping = false;
    Atomics.notify(this.i32, this.events.headIdx);
    this.drainEvents();
  }

  /** Rejects every command still waiting for its ack: the core `why` ('stopped', 'failed: …'). */
  failPending(why: string): void {
    for (const [seq, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(
        new QingtianError(ErrorCode.CoreUnavailable, `core ${this.coreId} ${why} before acknowledging ${opName(p.op)}`),
      );
      this.pending.delete(seq);
    }
  }

  private async pump(): Promise<void> {
    const i32 = this.i32;
    while (this.pumping) {
      this.drainEvents();
      const seen = Atomics.load(i32, this.events.headIdx);
      if (this.events.hasData() || !this.pumping) continue;
      const w = Atomics.waitAsync(i32, this.events.headIdx, seen);
      if (w.async) await w.value;
    }
    this.drainEvents();
  }

  private drainEvents(): void {
    const i32 = this.i32;
    const u8 = this.u8;
    for (;;) {
      let seq = 0,
        kind = 0,
        status = 0,
        jobId = 0,
        arg0 = 0,
        arg1 = 0,
        message = '';
      const got = this.events.pop((w) => {
        seq = i32[w + EV_SEQ]!;
        kind = i32[w + EV_KIND]!;
        status = i32[w + EV_STATUS]!;
        jobId = i32[w + EV_JOB]!;
        arg0 = i32[w + EV_ARG0]!;
        arg1 = i32[w + EV_ARG1]!;
        const len = i32[w + EV_MESSAGE_BYTES]!;
        const at = w * 4 + EVENT_MESSAGE_OFFSET;
        message = len > 0 ? decoder.decode(u8.slice(at, at + len)) : '';
      });
      if (!got) return;
      if (kind === EventKind.Ack) this.settle(seq, status, message, arg0, arg1);
      else if (kind === EventKind.JobFailed) this.sink.jobFailed(jobId, status, message);
      else if (kind === EventKind.JobRolledBack) this.sink.jobRolledBack(jobId, status, message, arg0);
    }
  }

  private settle(seq: number, status: number, message: string, arg0: number, arg1: number): void {
    const p = this.pending.get(seq);
    if (!p) return;
    this.pending.delete(seq);
    clearTimeout(p.timer);
    if (status === Status.Ok) {
      p.onOk?.([arg0, arg1]);
      p.resolve([arg0, arg1]);
    } else {
      const code =
        p.op === Op.AttachJob || p.op === Op.DetachJob
          ? ErrorCode.JobRejected
          : p.op === Op.LoadKernel
            ? ErrorCode.KernelLoadFailed
            : p.op === Op.SwapKernel
              ? ErrorCode.SwapFailed
              : p.op === Op.UnloadKernel && status === Status.KernelInUse
                ? ErrorCode.KernelBusy
                : ErrorCode.InvalidArgument;
      p.reject(
        new QingtianError(code, `core ${this.coreId}: ${opName(p.op)} failed (status ${status}): ${message}`, {
          status,
        }),
      );
    }
  }
}
