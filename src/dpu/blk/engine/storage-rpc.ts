import type { LatencyHistogramData } from '../../../common/latency-histogram.js';
import type { QosSpec } from '../qos/qos-scheduler.js';
import type { CheckReport } from '../volume/consistency-check.js';
import type { VolumeCreateOptions } from '../volume/volume-config.js';
import type { VolumeStats } from '../volume/volume-stats.js';
import type { RebuildProgress } from '../volume/rebuilder.js';
import type { ScrubReport } from '../volume/scrubber.js';
import type { EngineCounters } from './storage-engine.js';
import type { QueueCounters } from './queue-endpoint.js';
import type { NbdServerStats } from '../nbd/nbd-server.js';

/** What the storage worker is started with (workerData). */
export interface StorageWorkerInit {
  memory: WebAssembly.Memory;
  /** The worker's arena in host memory: its volumes' buffers, its kernels' images and tables. */
  arenaBase: number;
  arenaBytes: number;
}

/** A volume as the control plane knows it. */
export interface VolumeInfo {
  /** The worker's id of the volume. */
  id: number;
  /** The volume's name (the NBD export name). */
  name: string;
  /** The volume's UUID. */
  uuid: string;
  /** The volume's directory. */
  dir: string;
  /** Size in bytes. */
  sizeBytes: number;
  /** Size in 4096-byte blocks. */
  blockCount: number;
  /** k: data disks of each stripe. */
  dataDisks: number;
  /** m: parity disks of each stripe. */
  parityDisks: number;
}

export interface VolumeReport extends VolumeStats {
  /** The worker's id of the volume. */
  id: number;
  /** The QoS spec, requests served in the reservation and weight phases, requests held back by limits or buckets. */
  qos: { spec: QosSpec; served: { reservation: number; weight: number }; throttled: number };
  /** The volume's queues: their region and counters. */
  queues: { base: number; counters: QueueCounters }[];
  /** Request latency in the worker, dequeue to completion (fixed buckets: LATENCY_BOUNDS_S). */
  latency: LatencyHistogramData;
}

export interface NbdListenOptions {
  /** Export these volumes (by id); every volume of the worker when omitted. */
  volumes?: number[] | undefined;
  /** TCP on a loopback address; port 0 picks a free one. */
  tcp?: { host: string; port: number } | undefined;
  /** A Unix socket path. */
  unix?: string | undefined;
}

export interface NbdListening {
  id: number;
  exports: string[];
  tcp: { host: string; port: number } | null;
  unix: string | null;
}

/** Calls the control plane makes on the worker, and what each answers. */
export interface StorageCalls {
  createVolume: { args: { options: VolumeCreateOptions; qos?: QosSpec | undefined }; result: VolumeInfo };
  openVolume: { args: { dir: string; qos?: QosSpec | undefined }; result: VolumeInfo };
  closeVolume: { args: { id: number }; result: null };
  stats: { args: { id: number }; result: VolumeReport };
  setQos: { args: { id: number; qos: QosSpec }; result: null };
  loseDisk: { args: { id: number; disk: number }; result: null };
  replaceDisk: { args: { id: number; disk: number }; result: null };
  rebuildProgress: { args: { id: number }; result: RebuildProgress | null };
  startScrub: { args: { id: number }; result: null };
  scrubReport: { args: { id: number }; result: ScrubReport | null };
  check: { args: { id: number; deep: boolean }; result: CheckReport };
  attachQueue: { args: { id: number; base: number }; result: null };
  detachQueue: { args: { base: number }; result: null };
  io: {
    args: { id: number; op: number; flags: number; offset: number; length: number; data: Uint8Array | null };
    result: { status: number; data: Uint8Array | null };
  };
  serveNbd: { args: NbdListenOptions; result: NbdListening };
  nbdStats: { args: { id: number }; result: NbdServerStats };
  stopNbd: { args: { id: number }; result: null };
  engineCounters: { args: Record<string, never>; result: EngineCounters };
  shutdown: { args: Record<string, never>; result: null };
}
export type StorageMethod = keyof StorageCalls;

export interface RpcRequest {
  seq: number;
  method: StorageMethod;
  args: unknown;
}

export type RpcReply =
  | { seq: number; ok: true; result: unknown }
  | { seq: number; ok: false; error: { code: string; message: string; details: Record<string, unknown> } };
