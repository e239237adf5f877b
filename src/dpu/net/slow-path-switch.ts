import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';
import { SpscRing } from '../core/spsc-ring.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import {
  NET_DUMP_RECORDS,
  NET_DUMP_BYTES,
  NET_KEY_BYTES,
  NET_RING_SPSC,
  NET_STAMP_NONE,
  NET_SW_NOW,
  NET_SW_ORDERED,
  NET_SW_UPCALL_BELL,
  NET_UPC_RECORD_BYTES,
} from './net-layout.js';

/** One end of a switch ring (an upcall ring or the downcall ring): what the slow path reads and writes. */
export interface SlowPathRing {
  readonly spsc: SpscRing;
  readonly recordBytes: number;
}

/**
 * What the slow-path runner needs from a vSwitch: its rings, its upcall bell, the doorbell of the
 * core serving it, its tick, and the last-hit stamps of installed flows. `VSwitch` is one (the
 * runner on the switch owner's thread); `SharedSwitchEnd` is one on another thread.
 */
export interface SlowPathSwitch {
  readonly state: { readonly base: number };
  readonly down: SlowPathRing;
  readonly upcallBellAddr: number;
  upcallRing(port: number): SlowPathRing;
  /** Wakes the serving core after downcalls were written (a no-op when none serves it). */
  kick(): void;
  setNow(tick: number): void;
  orderUpcalls(on: boolean): void;
  flowStamps(keys: readonly Uint8Array[]): (number | undefined)[];
}

/** Where a switch's slow-path end lives in host memory: plain numbers, to post to a worker. */
export interface SlowPathSwitchInit {
  /** The switch state region's base. */
  stateBase: number;
  /** The downcall ring region's base, its capacity (records). */
  down: { base: number; capacity: number };
  /** The ports' upcall rings. */
  upcallRings: { port: number; base: number; capacity: number }[];
  /** The serving core's doorbell and sleeping words (0: none serves it). */
  doorbell: number;
  sleeping: number;
}

/**
 * A switch's slow-path end on a thread other than the switch owner's: the rings over the shared
 * memory, the core's doorbell rung with a notify when the core sleeps, and flow stamps read with
 * this thread's own instance of the net kernel (a keyed probe that only reads the flow table).
 */
export class SharedSwitchEnd implements SlowPathSwitch {
  readonly state: { readonly base: number };
  readonly down: SlowPathRing;
  readonly upcallBellAddr: number;
  private readonly rings = new Map<number, SlowPathRing>();
  private readonly stampsFn: (state: number, keys: number, n: number, out: number) => number;
  private readonly area: Region;

  constructor(
    private readonly runtime: KernelRuntime,
    private readonly init: SlowPathSwitchInit,
  ) {
    const ring = (base: number, capacity: number): SlowPathRing => this.ringAt(base, capacity);
    this.state = { base: init.stateBase };
    this.upcallBellAddr = init.stateBase + NET_SW_UPCALL_BELL;
    this.down = ring(init.down.base, init.down.capacity);
    for (const r of init.upcallRings) this.rings.set(r.port, ring(r.base, r.capacity));
    this.stampsFn = runtime.kernel('net').fn<SharedSwitchEnd['stampsFn']>('net_flow_stamps');
    this.area = runtime.memory.alloc({
      name: 'slow-path:stamps',
      owner: 'slow-path',
      kind: 'core-scratch',
      sizeBytes: NET_DUMP_RECORDS + 256 * NET_DUMP_BYTES,
    });
  }

  /** A port that joined the switch after this end was made: its upcall ring. */
  addUpcallRing(r: { port: number; base: number; capacity: number }): void {
    this.rings.set(r.port, this.ringAt(r.base, r.capacity));
  }

  /** A port that left the switch: its ring is no longer this end's. */
  removeUpcallRing(port: number): void {
    this.rings.delete(port);
  }

  private ringAt(base: number, capacity: number): SlowPathRing {
    return {
      spsc: new SpscRing(this.runtime.memory.i32, base + NET_RING_SPSC, capacity, NET_UPC_RECORD_BYTES),
      recordBytes: NET_UPC_RECORD_BYTES,
    };
  }

  upcallRing(port: number): SlowPathRing {
    const r = this.rings.get(port);
    if (!r) throw new QingtianError(ErrorCode.NotFound, `slow-path switch end: no upcall ring for port ${port}`);
    return r;
  }

  kick(): void {
    if (this.init.doorbell === 0) return;
    const i32 = this.runtime.memory.i32;
    Atomics.add(i32, this.init.doorbell >> 2, 1);
    if (Atomics.load(i32, this.init.sleeping >> 2) !== 0) Atomics.notify(i32, this.init.doorbell >> 2, 1);
  }

  setNow(tick: number): void {
    Atomics.store(this.runtime.memory.i32, (this.init.stateBase + NET_SW_NOW) >> 2, tick | 0);
  }

  orderUpcalls(on: boolean): void {
    Atomics.store(this.runtime.memory.i32, (this.init.stateBase + NET_SW_ORDERED) >> 2, on ? 1 : 0);
  }

  flowStamps(keys: readonly Uint8Array[]): (number | undefined)[] {
    const out: (number | undefined)[] = [];
    const mem: HostMemoryApi = this.runtime.memory;
    const base = this.area.base;
    const outAt = base + 256 * NET_KEY_BYTES;
    for (let at = 0; at < keys.length; at += 256) {
      const n = Math.min(256, keys.length - at);
      for (let i = 0; i < n; i++) mem.u8.set(keys[at + i]!.subarray(0, NET_KEY_BYTES), base + i * NET_KEY_BYTES);
      if (this.stampsFn(this.init.stateBase, base, n, outAt) !== n)
        throw new QingtianError(
          ErrorCode.DeviceState,
          'slow-path switch end: net_flow_stamps refused the switch state',
        );
      for (let i = 0; i < n; i++) {
        const t = mem.view.getUint32(outAt + 4 * i, true);
        out.push(t === NET_STAMP_NONE ? undefined : t);
      }
    }
    return out;
  }

  /** Frees this end's scratch area (the rings belong to the switch). */
  free(): void {
    this.runtime.memory.free(this.area, 'slow-path');
  }
}
