import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { featureWord, type RingFeatures } from '../../common/virtio/features.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { BROKEN_REASONS, SETUP_REFUSALS } from './queue-state.js';
import {
  MAX_QUEUE_SIZE,
  QF_READY,
  VQ_ARMS,
  VQ_AVAIL_WRAP,
  VQ_BROKEN,
  VQ_BROKEN_DETAIL,
  VQ_FLAGS,
  VQ_INFLIGHT,
  VQ_IRQ_SENT,
  VQ_IRQ_SUPPRESSED,
  VQ_LAYOUT,
  VQ_MAGIC,
  VQ_NEXT_AVAIL,
  VQ_NEXT_USED,
  VQ_POPPED,
  VQ_PUSHED,
  VQ_REJECTED,
  VQ_SIGNALLED_USED,
  VQ_SIGNALLED_VALID,
  VQ_SLOT_BYTES,
  VQ_SLOT_DESC_COUNT,
  VQ_SLOT_ID,
  VQ_TABLE,
  VQ_USED_WRAP,
} from '../../generated/virtio.js';

/** A queue configuration, as a driver writes it into the transport (queue_size, queue_desc, ...). */
export interface QueueConfig {
  size: number;
  features: RingFeatures;
  descGpa: bigint;
  driverGpa: bigint;
  deviceGpa: bigint;
}

/** Saved queue state: plain data, untrusted when restored (A6). */
export interface QueueSnapshot {
  config: QueueConfig;
  nextAvail: number;
  nextUsed: number;
  availWrap: number;
  usedWrap: number;
  signalledUsed: number;
  signalledValid: number;
  inflight: { token: number; id: number; descCount: number }[];
}

/** A device queue's state and counters, read out of band. */
export interface QueueStats {
  ready: boolean;
  broken: null | { reason: number; id: string; what: string; detail: number };
  inflight: number;
  popped: number;
  pushed: number;
  irqSent: number;
  irqSuppressed: number;
  rejected: number;
  arms: number;
}

const u16 = intIn(0, 0xffff);
const gpa = z
  .bigint({ error: 'a bigint guest-physical address in [0, 2^64)' })
  .min(0n)
  .max((1n << 64n) - 1n);
const configSchema = z.strictObject({
  size: intIn(1, MAX_QUEUE_SIZE),
  features: z.strictObject({ packed: z.boolean(), eventIdx: z.boolean(), indirect: z.boolean(), inOrder: z.boolean() }),
  descGpa: gpa,
  driverGpa: gpa,
  deviceGpa: gpa,
});
const snapshotSchema = z.strictObject({
  config: configSchema,
  nextAvail: u16,
  nextUsed: u16,
  availWrap: intIn(0, 1),
  usedWrap: intIn(0, 1),
  signalledUsed: u16,
  signalledValid: intIn(0, 1),
  inflight: z.array(z.strictObject({ token: u16, id: u16, descCount: intIn(1, MAX_QUEUE_SIZE) })).max(MAX_QUEUE_SIZE),
});

type Fn<A extends unknown[], R = number> = (...a: A) => R;

/** Parses a queue configuration at the boundary (the checks the kernel does not repeat: types, ranges). */
export function parseQueueConfig(config: unknown): QueueConfig {
  return parseArgs(configSchema, config, 'queue config');
}

/** What a queue asks of the device that owns it (DeviceQueue.setDeviceHooks). */
export interface DeviceHooks {
  /** The queue's state was rewritten: forget any request carried across turns. */
  reset(): void;
  /** Popped requests not given back yet (a burst in progress across turns). */
  pending(): number;
}

/**
 * Device side of one virtqueue: its state region (VQST) in host memory and the control-plane
 * operations on it — configure (A1-A4 checked by the kernel), reset, save and restore (A6),
 * statistics. The data path (pop/push) runs in kernels on DPU cores, on the same state; what
 * the device does with each kind of malformed ring is docs/virtio-policy.md.
 *
 * Other device kernels use the `virtio` family's Wasm exports on that state: `vq_setup`,
 * `vq_reset`, `vq_restore_indices` / `_inflight` / `_check`, `vq_burst_init`,
 * `vq_pop(vq, burst, max)` → chains (0 when not ready, −1 when broken), `vq_push(vq, burst,
 * count)`, `vq_arm(vq)`; the burst buffer holds each chain's validated, translated segments
 * (assembly/virtio/burst.ts).
 */
export class DeviceQueue {
  readonly state: StateRegion;
  readonly maxSize: number;
  readonly irqAddr: number;
  /** The word the queue's interrupt raises: irqAddr unless routed elsewhere (route()). */
  private vectorAddr: number;
  private readonly k: LoadedKernel;
  private configured: QueueConfig | null = null;
  /** The core whose job serves this queue, while one does. */
  private servedBy: number | null = null;
  private device: DeviceHooks | null = null;
  private gmap: number;
  private readonly life = new Lifetime('DeviceQueue', 'free()');

  constructor(
    private readonly rt: KernelRuntime,
    readonly guest: GuestMemoryView,
    readonly owner: string,
    opts: { maxSize: number; irqAddr: number },
  ) {
    this.maxSize = parseArgs(intIn(1, MAX_QUEUE_SIZE), opts.maxSize, 'DeviceQueue maxSize');
    this.k = rt.kernel('virtio');
    // Sized for the larger (packed) in-flight table, so either format fits.
    const bytes = this.k.fn<Fn<[number, number]>>('vq_state_bytes')(this.maxSize, 1);
    this.state = rt.memory.allocState({
      name: `${owner}:vq`,
      owner,
      kind: 'device-state',
      magic: VQ_MAGIC,
      layoutVersion: VQ_LAYOUT,
      payloadBytes: bytes,
    });
    this.irqAddr = opts.irqAddr;
    this.vectorAddr = opts.irqAddr;
    this.gmap = guest.gmapBase;
  }

  /** The interrupt word the queue raises (its own, `irqAddr`, unless routed). */
  get vector(): number {
    this.life.check('vector');
    return this.vectorAddr;
  }

  /**
   * Routes the queue's used-buffer interrupt to another word in host memory: virtio-pci's
   * queue_msix_vector, where several queues may share one vector and the vector reaches one
   * vCPU, which sleeps on that word. `null` routes it back to its own word. Takes effect at the
   * next configure(); refused while the queue is served (a burst may be raising it).
   */
  route(addr: number | null): void {
    this.life.check('route');
    this.refuseWhileServed('route()');
    const a = addr ?? this.irqAddr;
    if (!Number.isInteger(a) || a <= 0 || a % 4 !== 0 || a + 4 > this.rt.memory.sizeBytes)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `queue route addr: expected a 4-aligned host address inside host memory, got ${String(addr)}`,
      );
    this.vectorAddr = a;
  }

  /** The guest memory map (GMAP region) the next configure() or restore() translates through. */
  get gmapBase(): number {
    this.life.check('gmapBase');
    return this.gmap;
  }

  /**
   * Points the queue at another guest memory map (vhost-user SET_MEM_TABLE). The ring addresses
   * a configured queue holds were translated through the old map, so the caller re-applies its
   * configuration (save, then restore) afterwards.
   */
  setGuestMap(gmapBase: number): void {
    this.life.check('setGuestMap');
    this.gmap = gmapBase;
  }

  /**
   * Marks the queue as served by a job on `coreId` (its device attached it) or by none. While it
   * is served, configure(), reset() and restore() are refused: they would rewrite the state under
   * a burst in flight on that core.
   */
  setServedBy(coreId: number | null): void {
    this.life.check('setServedBy');
    this.servedBy = coreId;
  }

  /**
   * The device's side of the queue's life: `reset` runs whenever the queue's state is rewritten
   * (configure, reset, restore), so the device drops any request it carried across turns;
   * `pending` says how many popped requests it has not given back yet (save() refuses then).
   */
  setDeviceHooks(hooks: DeviceHooks | null): void {
    this.life.check('setDeviceHooks');
    this.device = hooks;
  }

  /** The core serving the queue, or null. */
  get core(): number | null {
    this.life.check('core');
    return this.servedBy;
  }

  /** Validates and applies a configuration (the kernel's checks, A1-A4). Refusal changes nothing. */
  configure(config: QueueConfig): void {
    this.life.check('configure');
    this.refuseWhileServed('configure()');
    const c = parseQueueConfig(config);
    if (c.size > this.maxSize)
      throw new QingtianError(
        ErrorCode.QueueRefused,
        `queue config.size: expected at most ${this.maxSize} (this device's maximum), got ${c.size}`,
        { id: 'A1' },
      );
    const rc = this.k.fn<Fn<[number, number, number, number, bigint, bigint, bigint, bigint, number, number]>>(
      'vq_setup',
    )(
      this.state.base,
      this.state.sizeBytes,
      c.size,
      c.features.packed ? 1 : 0,
      featureWord(c.features),
      c.descGpa,
      c.driverGpa,
      c.deviceGpa,
      this.gmap,
      this.vectorAddr,
    );
    if (rc !== 0) throw refusal(-rc, c);
    this.configured = c;
    this.device?.reset();
  }

  /** Device reset of this queue: it processes nothing until configured again (A5). */
  reset(): void {
    this.life.check('reset');
    this.refuseWhileServed('reset()');
    this.k.fn<Fn<[number], void>>('vq_reset')(this.state.base);
    this.configured = null;
    this.device?.reset();
  }

  get config(): QueueConfig | null {
    this.life.check('config');
    return this.configured;
  }

  /** Saves the queue (refused while a core serves it: detach its device first). */
  save(): QueueSnapshot {
    this.life.check('save');
    this.refuseWhileServed('save()');
    const c = this.configured;
    if (!c) throw new QingtianError(ErrorCode.DeviceState, `${this.owner}: queue is not configured; nothing to save`);
    const pending = this.device?.pending() ?? 0;
    if (pending > 0)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `${this.owner}: queue save() refused: its device is part-way through ${pending} request(s) ` +
          `spanning turns; attach it until they complete, then save`,
        { pending },
      );
    const v = this.rt.memory.view;
    const b = this.state.base;
    const inflight: QueueSnapshot['inflight'] = [];
    for (let t = 0; t < c.size; t++) {
      if (c.features.packed) {
        const e = b + VQ_TABLE + VQ_SLOT_BYTES * t;
        const count = v.getUint16(e + VQ_SLOT_DESC_COUNT, true);
        if (count) inflight.push({ token: t, id: v.getUint16(e + VQ_SLOT_ID, true), descCount: count });
      } else if ((v.getUint8(b + VQ_TABLE + (t >> 3)) >> (t & 7)) & 1) {
        inflight.push({ token: t, id: t, descCount: 1 });
      }
    }
    return {
      config: { ...c, features: { ...c.features } },
      nextAvail: v.getUint16(b + VQ_NEXT_AVAIL, true),
      nextUsed: v.getUint16(b + VQ_NEXT_USED, true),
      availWrap: v.getUint16(b + VQ_AVAIL_WRAP, true),
      usedWrap: v.getUint16(b + VQ_USED_WRAP, true),
      signalledUsed: v.getUint16(b + VQ_SIGNALLED_USED, true),
      signalledValid: v.getUint16(b + VQ_SIGNALLED_VALID, true),
      inflight,
    };
  }

  /**
   * Restores saved state through the same validating path as live configuration, then checks
   * the indices and the in-flight set (A6). On refusal the queue is left reset (not ready).
   */
  restore(snapshot: unknown): void {
    this.life.check('restore');
    this.refuseWhileServed('restore()');
    const s = parseArgs(snapshotSchema, snapshot, 'queue snapshot');
    this.configure(s.config);
    const b = this.state.base;
    let rc = this.k.fn<Fn<number[]>>('vq_restore_indices')(
      b,
      s.nextAvail,
      s.nextUsed,
      s.availWrap,
      s.usedWrap,
      s.signalledUsed,
      s.signalledValid,
    );
    for (const e of s.inflight) {
      if (rc !== 0) break;
      rc = this.k.fn<Fn<number[]>>('vq_restore_inflight')(b, e.token, e.id, e.descCount);
    }
    if (rc === 0) rc = this.k.fn<Fn<[number]>>('vq_restore_check')(b);
    if (rc !== 0) {
      this.reset();
      throw refusal(-rc, s.config);
    }
  }

  stats(): QueueStats {
    this.life.check('stats');
    const v = this.rt.memory.view;
    const b = this.state.base;
    const reason = v.getUint32(b + VQ_BROKEN, true);
    const n = (off: number): number => Number(v.getBigUint64(b + off, true));
    const info = BROKEN_REASONS[reason];
    return {
      ready: (v.getUint32(b + VQ_FLAGS, true) & QF_READY) !== 0,
      broken:
        reason === 0
          ? null
          : {
              reason,
              id: info?.id ?? '?',
              what: info?.what ?? 'unknown',
              detail: v.getUint32(b + VQ_BROKEN_DETAIL, true),
            },
      inflight: v.getUint32(b + VQ_INFLIGHT, true),
      popped: n(VQ_POPPED),
      pushed: n(VQ_PUSHED),
      irqSent: n(VQ_IRQ_SENT),
      irqSuppressed: n(VQ_IRQ_SUPPRESSED),
      rejected: n(VQ_REJECTED),
      arms: n(VQ_ARMS),
    };
  }

  free(): void {
    this.refuseWhileServed('free()');
    if (!this.life.end()) return;
    this.rt.memory.free(this.state, this.owner);
  }

  private refuseWhileServed(op: string): void {
    if (this.servedBy === null) return;
    throw new QingtianError(
      ErrorCode.DeviceState,
      `${this.owner}: queue ${op} refused: the queue is served by a job on core ${this.servedBy}; detach its device first`,
      { core: this.servedBy },
    );
  }
}

function refusal(code: number, c: QueueConfig): QingtianError {
  const r = SETUP_REFUSALS[code];
  return new QingtianError(
    ErrorCode.QueueRefused,
    `queue refused (${r?.id ?? '?'}: ${r?.what ?? `code ${code}`}): size ${c.size}, desc 0x${c.descGpa.toString(16)}, ` +
      `driver 0x${c.driverGpa.toString(16)}, device 0x${c.deviceGpa.toString(16)}`,
    { id: r?.id, code },
  );
}
