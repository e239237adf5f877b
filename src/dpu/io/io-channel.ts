import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import type { DpuCore } from '../core/dpu-core.js';
import { SpscRing } from '../core/spsc-ring.js';
import {
  IO_CAPACITY,
  IO_COMPLETED,
  IO_CORE_CONTROL,
  IO_CORE_RINGS,
  IO_FAILED,
  IO_HANDLED,
  IO_KICKS,
  IO_LAYOUT,
  IO_MAGIC,
  IO_MAX_CAPACITY,
  IO_RECORD,
  IO_RECORD_BYTES,
  IO_RINGS,
  IO_STOP,
  IO_SUBMITTED,
  IO_WAKEUPS,
} from '../../generated/common.js';

/** Options of {@link IoChannel}. Unknown keys are refused. */
export interface IoChannelOptions {
  /** Region name (and owner, unless `owner` is given): the device or job the channel serves. */
  name: string;
  owner?: string;
  /** Records per ring, a power of two in [1, 4096]: the most requests the kernel keeps in flight. Default 64. */
  capacity?: number;
}

/** An I/O channel's counters, read out of band: the kernel's side and the worker's. */
export interface IoChannelStats {
  /** Requests the kernel submitted / completions it consumed / times it had to notify a sleeping worker. */
  submitted: number;
  completed: number;
  kicks: number;
  /** Submitted and not yet consumed. */
  inflight: number;
  /** Requests the worker handled / of which failed (negative result) / times it woke / times it rang the core. */
  handled: number;
  failed: number;
  wakeups: number;
  coreRings: number;
}

const optionsSchema = z.strictObject({
  name: nameString(64),
  owner: nameString(64).optional(),
  capacity: intIn(1, IO_MAX_CAPACITY)
    .refine((c) => (c & (c - 1)) === 0, { error: `a power of two in [1, ${IO_MAX_CAPACITY}]` })
    .optional(),
});

/**
 * One I/O channel in host memory: a request ring (kernel → I/O worker), a completion ring
 * (worker → kernel), the worker's doorbell, and counters read out of band. A device allocates
 * one per I/O worker it talks to, writes `base` into its state for its kernel, and calls
 * `bindCore` with the core that runs that kernel so the worker can wake it. See IoWorker for the
 * other end.
 */
export class IoChannel {
  readonly region: StateRegion;
  readonly capacity: number;
  readonly owner: string;
  private worker: string | null = null;
  private readonly life = new Lifetime('IoChannel', 'free()');

  constructor(
    private readonly memory: HostMemoryApi,
    options: IoChannelOptions,
  ) {
    const o = parseArgs(optionsSchema, options, 'I/O channel options');
    this.capacity = o.capacity ?? 64;
    this.owner = o.owner ?? o.name;
    this.region = memory.allocState({
      name: `${o.name}:io`,
      owner: this.owner,
      kind: 'device-state',
      magic: IO_MAGIC,
      layoutVersion: IO_LAYOUT,
      payloadBytes: IO_RINGS - 64 + 2 * SpscRing.bytes(this.capacity, IO_RECORD_BYTES),
    });
    memory.view.setUint32(this.base + IO_CAPACITY, this.capacity, true);
    memory.view.setUint32(this.base + IO_RECORD, IO_RECORD_BYTES, true);
  }

  get base(): number {
    this.life.check('base');
    return this.region.base;
  }

  /**
   * The core whose doorbell the worker rings after posting completions (the one running the
   * kernel side), or null for none (a kernel in poll mode, or run from the main thread).
   */
  bindCore(core: DpuCore | null): void {
    this.life.check('bindCore');
    Atomics.store(this.memory.i32, (this.base + IO_CORE_CONTROL) >> 2, core ? core.controlBase : 0);
  }

  stats(): IoChannelStats {
    this.life.check('stats');
    const v = this.memory.view;
    const n = (off: number): number => Number(v.getBigUint64(this.base + off, true));
    const submitted = n(IO_SUBMITTED);
    const completed = n(IO_COMPLETED);
    return {
      submitted,
      completed,
      kicks: n(IO_KICKS),
      inflight: submitted - completed,
      handled: n(IO_HANDLED),
      failed: n(IO_FAILED),
      wakeups: n(IO_WAKEUPS),
      coreRings: n(IO_CORE_RINGS),
    };
  }

  /** Called by IoWorker: one worker per channel (the rings are single-consumer, single-producer). */
  claim(worker: string): void {
    this.life.check('claim');
    if (this.worker !== null)
      throw new QingtianError(ErrorCode.DeviceState, `${this.owner}: I/O channel already served by ${this.worker}`);
    this.worker = worker;
    Atomics.store(this.memory.i32, (this.base + IO_STOP) >> 2, 0);
  }

  /** Called by IoWorker once its thread has exited. */
  release(): void {
    this.worker = null;
  }

  /** Frees the channel. Close its worker and detach the kernel using it first. A second free does nothing. */
  free(): void {
    if (this.life.ended) return;
    if (this.worker !== null)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.owner}: I/O channel still served by ${this.worker}; close it first`,
      );
    this.life.end();
    this.memory.free(this.region, this.owner);
  }
}
