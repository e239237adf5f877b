import { z } from 'zod';
import type { HostMemoryApi, Region, StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import type { IoChannel } from './io-channel.js';
import {
  IOP_ARG0_STEP,
  IOP_BUFFERS,
  IOP_BUFFER_BYTES,
  IOP_BYTES,
  IOP_CHANNEL,
  IOP_COMPLETED,
  IOP_DEPTH,
  IOP_FAILED,
  IOP_ISSUED,
  IOP_LAST_VALUE,
  IOP_MAGIC,
  IOP_OP,
  IOP_RESULT_SUM,
  IOP_TOTAL,
} from '../../generated/core.js';

/** Options of {@link IoProbe}. Unknown keys are refused. */
export interface IoProbeOptions {
  name: string;
  /** Op of every request (the worker's handler defines them). */
  op: number;
  /** Requests kept in flight, 1..64 (at most the channel's capacity). */
  depth: number;
  /** Requests to complete in all; 0: no limit. */
  total: number;
  /** Length of every request's buffer, 1..1 MiB. */
  bufferBytes: number;
  /** arg0 of request n is n × arg0Step (a file offset). Default 0. */
  arg0Step?: number;
}

/** A probe's counters, read out of band. */
export interface IoProbeStats {
  issued: number;
  completed: number;
  failed: number;
  resultSum: number;
  lastValue: bigint;
}

const optionsSchema = z.strictObject({
  name: nameString(64),
  op: intIn(0, 0xffffffff),
  depth: intIn(1, 64),
  total: intIn(0, 0xffffffff),
  bufferBytes: intIn(1, 1 << 20),
  arg0Step: intIn(0, Number.MAX_SAFE_INTEGER).optional(),
});

/**
 * The state and buffers of a core_io_probe job (kernel family 'core', entry `core_io_probe`,
 * arm `core_io_probe_arm`): it keeps `depth` requests in flight on `channel` until `total`
 * completed, without ever waiting for one. Attach it with
 * `core.attachJob({ kernel, entry: 'core_io_probe', arm: 'core_io_probe_arm', state: probe.state.base, budget })`.
 */
export class IoProbe {
  readonly state: StateRegion;
  readonly buffers: Region;
  readonly bufferBytes: number;
  private readonly life = new Lifetime('IoProbe', 'free()');

  constructor(
    private readonly memory: HostMemoryApi,
    channel: IoChannel,
    options: IoProbeOptions,
  ) {
    const o = parseArgs(optionsSchema, options, 'I/O probe options');
    parseArgs(
      intIn(1, Math.min(64, channel.capacity)),
      o.depth,
      'I/O probe options.depth (at most the channel capacity)',
    );
    this.bufferBytes = o.bufferBytes;
    this.buffers = memory.alloc({
      name: `${o.name}:buffers`,
      owner: o.name,
      kind: 'job-state',
      sizeBytes: Math.ceil((o.depth * o.bufferBytes) / 4096) * 4096,
    });
    this.state = memory.allocState({
      name: `${o.name}:state`,
      owner: o.name,
      kind: 'job-state',
      magic: IOP_MAGIC,
      layoutVersion: 1,
      payloadBytes: IOP_BYTES - 64,
    });
    const v = memory.view;
    const b = this.state.base;
    v.setUint32(b + IOP_CHANNEL, channel.base, true);
    v.setUint32(b + IOP_OP, o.op, true);
    v.setUint32(b + IOP_DEPTH, o.depth, true);
    v.setUint32(b + IOP_TOTAL, o.total, true);
    v.setUint32(b + IOP_BUFFERS, this.buffers.base, true);
    v.setUint32(b + IOP_BUFFER_BYTES, o.bufferBytes, true);
    v.setBigUint64(b + IOP_ARG0_STEP, BigInt(o.arg0Step ?? 0), true);
  }

  /** Buffer slot `s` (the bytes the worker read into or wrote from for the request in it). */
  buffer(slot: number): Uint8Array {
    this.life.check('buffer');
    const at = this.buffers.base + slot * this.bufferBytes;
    return this.memory.u8.subarray(at, at + this.bufferBytes);
  }

  /** Read out of band, never by messaging the core: the figures may be a burst behind. */
  stats(): IoProbeStats {
    this.life.check('stats');
    const v = this.memory.view;
    const b = this.state.base;
    return {
      issued: v.getUint32(b + IOP_ISSUED, true),
      completed: v.getUint32(b + IOP_COMPLETED, true),
      failed: v.getUint32(b + IOP_FAILED, true),
      resultSum: Number(v.getBigUint64(b + IOP_RESULT_SUM, true)),
      lastValue: v.getBigUint64(b + IOP_LAST_VALUE, true),
    };
  }

  /** Frees the state and buffers (detach the job first). A second free does nothing. */
  free(): void {
    if (!this.life.end()) return;
    this.memory.free(this.state, this.state.owner);
    this.memory.free(this.buffers, this.buffers.owner);
  }
}
