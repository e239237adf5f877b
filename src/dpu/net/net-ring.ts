import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { SpscRing } from '../core/spsc-ring.js';
import {
  NET_RING_BELL,
  NET_RING_CAPACITY,
  NET_RING_FULL,
  NET_RING_LAYOUT,
  NET_RING_MAGIC,
  NET_RING_RECORDS,
  NET_RING_RECORD_BYTES,
  NET_RING_SPSC,
} from './net-layout.js';

/**
 * A ring region ('NRNG', assembly/net/io-ring.ts): one single-producer/single-consumer ring of
 * fixed-size records between the switch and a non-core party (the slow path, a tunnel's socket
 * worker, a pcap writer), with the consumer's bell word and a count of records the producer lost
 * to a full ring. The TS end of either side is `spsc`.
 */
export class NetRing {
  readonly region: StateRegion;
  readonly spsc: SpscRing;
  readonly capacity: number;
  readonly recordBytes: number;

  constructor(
    private readonly memory: HostMemoryApi,
    readonly name: string,
    readonly owner: string,
    capacity: number,
    recordBytes: number,
  ) {
    this.capacity = parseArgs(intIn(1, 1 << 16), capacity, `${name} capacity`);
    if ((this.capacity & (this.capacity - 1)) !== 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${name} capacity: expected a power of two in [1, 65536], got ${capacity}`,
      );
    this.recordBytes = parseArgs(intIn(64, 1 << 16), recordBytes, `${name} recordBytes`);
    if (this.recordBytes % 64 !== 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${name} recordBytes: expected a multiple of 64 in [64, 65536], got ${recordBytes}`,
      );
    this.region = memory.allocState({
      name,
      owner,
      kind: 'device-state',
      magic: NET_RING_MAGIC,
      layoutVersion: NET_RING_LAYOUT,
      payloadBytes: NET_RING_RECORDS - 64 + this.capacity * this.recordBytes,
    });
    const v = memory.view;
    v.setUint32(this.region.base + NET_RING_CAPACITY, this.capacity, true);
    v.setUint32(this.region.base + NET_RING_RECORD_BYTES, this.recordBytes, true);
    this.spsc = new SpscRing(memory.i32, this.region.base + NET_RING_SPSC, this.capacity, this.recordBytes);
  }

  get base(): number {
    return this.region.base;
  }

  /** Host address of the consumer's bell word (wait on it with Atomics.waitAsync). */
  get bellAddr(): number {
    return this.region.base + NET_RING_BELL;
  }

  /** Records the producer could not write because the ring was full. */
  get full(): number {
    return Number(this.memory.view.getBigUint64(this.region.base + NET_RING_FULL, true));
  }

  /** Host address of record `wordIndex` as SpscRing hands it over (a word index). */
  static addr(wordIndex: number): number {
    return wordIndex << 2;
  }

  /** Rings the consumer's bell (after publishing). */
  ringBell(): void {
    const i = this.bellAddr >> 2;
    Atomics.add(this.memory.i32, i, 1);
    Atomics.notify(this.memory.i32, i);
  }

  free(): void {
    this.memory.free(this.region, this.owner);
  }
}
