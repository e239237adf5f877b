import { BlkDevice } from '../../../src/dpu/blk/blk-device.js';
import type { BlkOptions } from '../../../src/dpu/blk/blk-config.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { createDriver, type Buf, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import type { RingFeatures } from '../../../src/common/virtio/features.js';
import { featureWord } from '../../../src/common/virtio/features.js';
import { GuardedGuest, MIB } from '../virtio/helpers.js';

export const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };

/** The request types and statuses of §5.2.6, as a driver writes and reads them. */
export const T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, GET_LIFETIME: 10, DISCARD: 11, WRITE_ZEROES: 13 } as const;
export const S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;

/**
 * A blk device over a guarded guest, configured by the TS driver, with its kernel run on this
 * thread one burst at a time (the same Wasm a DPU core runs).
 */
export class BlkRig {
  readonly memory = new HostMemory({ sizeBytes: 64 * MIB });
  readonly rt = new LoaderRuntime(this.memory);
  readonly gg: GuardedGuest;
  readonly dev: BlkDevice;
  readonly drivers: VirtqueueDriver[] = [];
  private readonly run: (job: number, budget: number) => number;

  constructor(options: Partial<BlkOptions> = {}, features: RingFeatures = SPLIT) {
    this.gg = new GuardedGuest(this.memory, 'blk', 4 * MIB);
    this.dev = new BlkDevice(this.rt, this.gg.guest, 'blk0', { backend: 'ram', capacityBytes: MIB, ...options });
    this.dev.negotiate(this.dev.features() & ~ringBitsNotIn(features));
    for (let q = 0; q < this.dev.queues.length; q++) {
      const d = createDriver(this.gg.guest, { size: 64, features, notify: () => undefined });
      this.dev.setQueue(q, { size: 64, descGpa: d.descGpa, driverGpa: d.driverGpa, deviceGpa: d.deviceGpa });
      this.drivers.push(d);
    }
    this.run = this.rt.kernel('blk').fn('blk_run');
  }

  get guest() {
    return this.gg.guest;
  }

  /** A guest buffer holding `bytes` (or `len` bytes of `fill`). */
  buf(bytesOrLen: Uint8Array | number, fill = 0): Buf {
    const data = typeof bytesOrLen === 'number' ? new Uint8Array(bytesOrLen).fill(fill) : bytesOrLen;
    const gpa = this.guest.allocGpa(Math.max(1, data.length), 64);
    this.guest.write(gpa, data);
    return { gpa, len: data.length };
  }

  /** A 16-byte request header. */
  header(type: number, sector: bigint | number = 0n, reserved = 0): Buf {
    const h = new DataView(new ArrayBuffer(16));
    h.setUint32(0, type, true);
    h.setUint32(4, reserved, true);
    h.setBigUint64(8, BigInt(sector), true);
    return this.buf(new Uint8Array(h.buffer));
  }

  /** A status byte, 0xff until the device writes it. */
  status(): Buf {
    return this.buf(1, 0xff);
  }

  /** DISCARD / WRITE_ZEROES ranges. */
  ranges(list: { sector: bigint | number; count: number; flags?: number }[]): Buf {
    const v = new DataView(new ArrayBuffer(16 * list.length));
    list.forEach((r, i) => {
      v.setBigUint64(16 * i, BigInt(r.sector), true);
      v.setUint32(16 * i + 8, r.count, true);
      v.setUint32(16 * i + 12, r.flags ?? 0, true);
    });
    return this.buf(new Uint8Array(v.buffer));
  }

  /** Submits one chain on queue `q`, runs one burst of that queue's job, returns its used length. */
  submit(out: Buf[], inb: Buf[], q = 0): number {
    const d = this.drivers[q]!;
    const token = d.add(out, inb);
    if (token === null) throw new Error('ring full');
    d.kick();
    const n = this.run(this.dev.jobBase(q), 64);
    if (n < 0) throw new Error(`blk_run returned ${n}`);
    const done = d.reap();
    if (done.length !== 1 || done[0]!.token !== token) throw new Error(`expected one completion, got ${done.length}`);
    return done[0]!.len;
  }

  byte(b: Buf, at = 0): number {
    return this.guest.ram.getUint8(Number(b.gpa) + at);
  }

  bytes(b: Buf): Uint8Array {
    return this.guest.read(b.gpa, b.len);
  }
}

function ringBitsNotIn(f: RingFeatures): bigint {
  const all = featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true });
  return all & ~featureWord(f);
}

/** `len` bytes of a pattern that differs per seed. */
export function pattern(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = (i * 31 + seed * 17 + (i >> 9)) & 0xff;
  return out;
}
