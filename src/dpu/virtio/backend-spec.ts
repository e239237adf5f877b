import { z } from 'zod';
import { intIn } from '../../common/validate.js';
import { DpuCore, type Job } from '../core/dpu-core.js';
import { MAX_WEIGHT, MIN_WEIGHT } from '../core/fair-share.js';
import type { QueueConfig, QueueStats } from './device-queue.js';
import { DEV_MAX_QUEUES, MAX_QUEUE_SIZE } from '../../generated/virtio.js';

// The shapes a VirtioBackend (virtio-backend.ts) is described and driven with, and the strict
// schemas its boundary parses them with.

/** What a device tells the base about itself (fixed for the device's life). */
export interface BackendSpec {
  /** Magic of the device's state region: four ASCII characters ('VNET', 'VBLK', ...). */
  magic: string;
  /** Layout version of that region; kernels check it on every entry. */
  layoutVersion: number;
  /** Bytes of the device's own words, from DEV_PAYLOAD (256) on. */
  payloadBytes: number;
  /** Number of virtqueues, 1..32. */
  queues: number;
  /** Largest size the driver may give each queue, 1..32768. */
  maxQueueSize: number;
  /** Feature bits offered to the driver; VIRTIO_F_VERSION_1 must be among them. */
  features: bigint;
  /** Bytes of the device config space (§4.1.4.3), 0..4096, placed in the state region. */
  configBytes: number;
  /** Kernel family whose entries the device's jobs run. */
  kernel: string;
  /**
   * The jobs `start()` attaches: entry and optional arm export of `kernel`, the state each is
   * called with (default: the device state region), and `work`, the offset in that state of the
   * job's u64 work counter, which its core charges against the job's weight (without one, a
   * call that did work costs one quantum); `clock`, the offset in the job's state of an f64 its
   * core writes its clock into before each call (ns). One placement is given per job.
   */
  jobs: { entry: string; arm?: string; state?: number; work?: number; clock?: number }[];
}

/** Where one job of a started device runs. */
export interface Placement {
  core: DpuCore;
  /** Chains per burst the job is called with, 1..65536. Default 64. */
  budget?: number;
  /**
   * Share of the core under contention, 1..10000 (default 100, DEFAULT_WEIGHT): the core divides
   * its work among its busy jobs by weight (deficit round robin, design.md "Fair cores"); a lone
   * job gets all of it. Recorded in the device state (DEV_WEIGHT) and reported.
   */
  weight?: number;
}

/** A queue's rings as the driver placed them (vhost-user SET_VRING_NUM and SET_VRING_ADDR). */
export type VringConfig = Omit<QueueConfig, 'features'>;

/** A device's state and counters, read out of band (never by messaging a core). */
export interface BackendStats {
  /** Device status byte (§2.1), driver bits and DEVICE_NEEDS_RESET. */
  status: number;
  needsReset: boolean;
  /** Times the kernel marked the device DEVICE_NEEDS_RESET. */
  resets: number;
  features: bigint | null;
  started: boolean;
  queues: QueueStats[];
  jobs: { coreId: number; status: Job['status']; budget: number; weight: number }[];
}

/** Emitted as 'needs-reset' when a kernel breaks the device (the guest gets the config interrupt). */
export interface NeedsResetEvent {
  device: string;
  /** The queues that broke, with the bad-input id that broke them. */
  queues: { index: number; id: string; what: string; detail: number }[];
}

const u64 = z
  .bigint({ error: 'a bigint in [0, 2^64)' })
  .min(0n, { error: 'a bigint in [0, 2^64)' })
  .max((1n << 64n) - 1n, { error: 'a bigint in [0, 2^64)' });

/** A 64-bit feature word. */
export const featureWordSchema = u64;

export const vringSchema = z.strictObject({
  size: intIn(1, MAX_QUEUE_SIZE),
  descGpa: u64,
  driverGpa: u64,
  deviceGpa: u64,
});

export const placementSchema = z.strictObject({
  core: z.custom<DpuCore>((c) => c instanceof DpuCore, { error: 'a DpuCore' }),
  budget: intIn(1, 65536).optional(),
  weight: intIn(MIN_WEIGHT, MAX_WEIGHT).optional(),
});

export const specSchema = z.strictObject({
  magic: z.string().regex(/^[\x20-\x7e]{4}$/, { error: 'four printable ASCII characters' }),
  layoutVersion: intIn(1, 0xffff),
  payloadBytes: intIn(0, 1 << 20),
  queues: intIn(1, DEV_MAX_QUEUES),
  maxQueueSize: intIn(1, MAX_QUEUE_SIZE),
  features: u64,
  configBytes: intIn(0, 4096),
  kernel: z.string().min(1),
  jobs: z
    .array(
      z.strictObject({
        entry: z.string().min(1),
        arm: z.string().min(1).optional(),
        state: z.number().optional(),
        work: intIn(0, 1 << 20).optional(),
        clock: intIn(0, 1 << 20).optional(),
      }),
    )
    .min(1),
});
