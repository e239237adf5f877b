import type { VolumeOp } from './volume-queue-layout.js';
import type { VolumeStatus } from '../volume/volume-status.js';

/** Where a request came from, and where its completion goes. */
export interface RequestSink {
  /**
   * Delivers one completion. `data` is the read result of a request made with `heap` (else
   * null): a view of the engine's staging memory, valid only during the call (copy what you keep).
   */
  complete(req: EngineRequest, status: VolumeStatus, data: Uint8Array | null): void;
  /** After a burst of completions: publish them (one ring release, one notify, one socket write). */
  endBurst(): void;
}

/**
 * One block request inside the storage worker, as the QoS scheduler queues it and the engine
 * serves it. Its data is either at a host address (volume queues: the submitter's window) or,
 * for requests from sockets, in a heap Buffer (writes) / returned as one (reads).
 */
export interface EngineRequest {
  op: VolumeOp;
  flags: number;
  lba: number;
  blocks: number;
  /** Bytes of data (QoS bandwidth tokens): the exact length asked for. */
  bytes: number;
  /**
   * Where the request starts inside its first block (0: block-aligned). A request that starts
   * or ends inside a block (sockets only; queues refuse them) is served by reading the blocks
   * it touches and, for writes, patching them and writing them back, in one step.
   */
  skew: number;
  /** Host address of the data, or -1 when `heap` carries it. */
  addr: number;
  heap: Buffer | null;
  tag: number;
  sink: RequestSink;
  /** performance.now() when the engine took it off its ring or socket (for the latency histogram). */
  queuedAt?: number;
}
