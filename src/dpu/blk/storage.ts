import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, Region } from '../../common/host-memory-api.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import type { VolumeInfo } from './engine/storage-rpc.js';
import { StorageWorkerClient } from './engine/worker-client.js';
import { parseQos, type QosSpec } from './qos/qos-scheduler.js';
import { NbdExportServer, nbdServeSchema, type NbdServeOptions } from './nbd/nbd-export-server.js';
import { StorageVolume } from './storage-volume.js';
import type { VolumeCreateOptions } from './volume/volume-config.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { BlkDevice } from './blk-device.js';
import { BLK_ID_BYTES } from '../../generated/blk.js';

/** What `host.storage` needs from its host to attach volumes to guests (the Host provides it). */
export interface StorageDevices {
  runtime: KernelRuntime;
  /** Loads the `blk` kernel family on every DPU core (once). */
  loadBlkKernel(): Promise<unknown>;
}

/** Options of {@link Storage.attachBlk}. Unknown keys are refused. */
export interface BlkAttachOptions {
  /** Device name. Default `blk:<volume name>`. */
  name?: string | undefined;
  /** Virtqueues (VIRTIO_BLK_F_MQ), 1-32: one DPU job and one volume queue each. Default 1. */
  queues?: number | undefined;
  /** Largest virtqueue size the driver may set, 2-32768. Default 256. */
  maxQueueSize?: number | undefined;
  /** Chains per burst, 1-1024. Default 64. */
  maxBurst?: number | undefined;
  /** Requests in flight per virtqueue (its volume queue's depth), a power of two 8-1024. Default 128. */
  depth?: number | undefined;
  /**
   * Largest data length of one request, a power of two 4096-1 MiB (the device offers size_max
   * 4096 and seg_max = this / 4096). Default 128 KiB.
   */
  maxRequestBytes?: number | undefined;
  /** Offer VIRTIO_BLK_F_RO. Default false. */
  readOnly?: boolean | undefined;
  /** GET_ID answer, up to 20 printable ASCII characters. Default the volume's name, cut to 20. */
  id?: string | undefined;
}

const pow2 = (lo: number, hi: number) =>
  intIn(lo, hi).refine((n) => (n & (n - 1)) === 0, { error: `a power of two in [${lo}, ${hi}]` });

const attachSchema = z
  .strictObject({
    name: nameString(128).optional(),
    queues: intIn(1, 32).optional(),
    maxQueueSize: intIn(2, 32768).optional(),
    maxBurst: intIn(1, 1024).optional(),
    depth: pow2(8, 1024).optional(),
    maxRequestBytes: pow2(4096, 1 << 20).optional(),
    readOnly: z.boolean().optional(),
    id: z
      .string()
      .max(BLK_ID_BYTES)
      .regex(/^[\x20-\x7e]*$/, { error: 'printable ASCII' })
      .optional(),
  })
  .optional();

/** Options of `host.storage` (`Host.boot({ storage })`). */
export interface StorageOptions {
  /**
   * Host memory the storage worker gets for its buffers and kernel tables: a multiple of 1 MiB in
   * [16 MiB, 1 GiB]. Each volume takes about 2 * (k + m) chunks of log-head buffers and as much
   * scratch (1.5 MiB at the defaults). Default 64 MiB.
   */
  arenaBytes?: number | undefined;
}

const optionsSchema = z
  .strictObject({
    arenaBytes: intIn(16 << 20, 1 << 30)
      .multipleOf(1 << 20, { error: 'a multiple of 1 MiB' })
      .optional(),
  })
  .optional();

const openSchema = z.strictObject({ dir: nameString(4096), qos: z.unknown().optional() });

/**
 * A host's storage: volumes (log-structured, RS(k, m) over k + m disk files, T10 DIF on every
 * block) served by one storage I/O worker that owns them, with QoS across them. Created by
 * Host.boot as `host.storage`; the worker starts with the first volume. Guests and DPU kernels
 * reach a volume through a volume queue in shared memory (`volume.openQueue()`); this object
 * and its volumes are the control plane's handle.
 *
 * ```ts
 * const vol = await host.storage.createVolume({ dir: '/dev/shm/vol0', sizeBytes: 1 << 30 });
 * await vol.setQos({ reservation: 5000, weight: 100, ops: { size: 20000, refillTimeMs: 1000 } });
 * await vol.loseDisk(2); await vol.replaceDisk(2); await vol.waitRebuilt();
 * ```
 */
export class Storage {
  private rpc: StorageWorkerClient | null = null;
  private arena: Region | null = null;
  private readonly open = new Map<number, StorageVolume>();
  private readonly arenaBytes: number;
  private readonly attached = new Map<number, BlkDevice>();
  private closed = false;

  constructor(
    private readonly memory: HostMemoryApi,
    options?: StorageOptions,
    /** @internal how devices are made: given by the Host */
    private readonly devices?: StorageDevices,
  ) {
    const o = parseArgs(optionsSchema, options, 'storage options');
    this.arenaBytes = o?.arenaBytes ?? 64 << 20;
  }

  /** Creates a volume (options: see VolumeCreateOptions) with an optional QoS. */
  async createVolume(options: VolumeCreateOptions & { qos?: QosSpec | undefined }): Promise<StorageVolume> {
    if (typeof options !== 'object' || options === null) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `createVolume options: expected an object, got ${typeof options}`,
      );
    }
    const { qos, ...rest } = options;
    const q = qos === undefined ? undefined : parseQos(qos, 'createVolume options.qos');
    return this.track(await this.worker().call('createVolume', { options: rest, qos: q }));
  }

  /** Opens an existing volume directory (recovering it after a crash: checkpoint + journal replay). */
  async openVolume(dir: string, options?: { qos?: QosSpec | undefined }): Promise<StorageVolume> {
    const o = parseArgs(openSchema, { dir, ...options }, 'openVolume');
    const q = o.qos === undefined ? undefined : parseQos(o.qos, 'openVolume options.qos');
    return this.track(await this.worker().call('openVolume', { dir: o.dir, qos: q }));
  }

  /** The open volumes. */
  volumes(): StorageVolume[] {
    return [...this.open.values()];
  }

  /** An open volume by name or id. */
  volume(nameOrId: string | number): StorageVolume | undefined {
    for (const v of this.open.values()) if (v.id === nameOrId || v.name === nameOrId) return v;
    return undefined;
  }

  /**
   * Exports volumes over NBD (fixed newstyle) on a loopback TCP port and/or a Unix socket. The
   * server runs in the storage worker, beside the volumes; QoS applies to its clients.
   */
  async serveNbd(options: NbdServeOptions): Promise<NbdExportServer> {
    const o = parseArgs(nbdServeSchema, options, 'serveNbd options');
    const ids = o.volumes?.map((key) => {
      const v = this.volume(key);
      if (!v)
        throw new QingtianError(ErrorCode.NotFound, `serveNbd options.volumes: no open volume ${JSON.stringify(key)}`);
      return v.id;
    });
    const rpc = this.worker();
    const l = await rpc.call('serveNbd', {
      volumes: ids,
      tcp: o.tcp ? { host: o.tcp.host ?? '127.0.0.1', port: o.tcp.port } : undefined,
      unix: o.unix,
    });
    return new NbdExportServer(rpc, l);
  }

  /**
   * Attaches `volume` (the object, its name or its id) to `guest` as a virtio-blk device: one
   * volume queue per virtqueue, so that a request goes DPU core -> volume queue -> storage worker
   * (log, RS stripes, DIF) and completes in a later turn, never blocking the core. FLUSH
   * completes once data and map are durable; DISCARD and WRITE_ZEROES with UNMAP free space.
   * The device is a VirtioBackend: the guest's set-up negotiates and sets its queues, then
   * `start({ core })`; `close()` (or detachBlk) stops it, detaches its queues and frees it. A
   * volume is attached to one device at a time.
   *
   * ```ts
   * const dev = await host.storage.attachBlk(vol, guest, { queues: 2, depth: 128 });
   * dev.negotiate(dev.features()); dev.setQueue(0, rings); await dev.start({ core: host.dpu.cores[0] });
   * await dev.close();
   * ```
   */
  async attachBlk(
    volume: StorageVolume | string | number,
    guest: GuestMemoryView,
    options?: BlkAttachOptions,
  ): Promise<BlkDevice> {
    const o = parseArgs(attachSchema, options, 'attachBlk options') ?? {};
    const vol = volume instanceof StorageVolume ? volume : this.volume(volume);
    if (!vol || this.open.get(vol.id) !== vol)
      throw new QingtianError(
        ErrorCode.NotFound,
        `attachBlk volume: no open volume ${volume instanceof StorageVolume ? volume.name : JSON.stringify(volume)}`,
      );
    if (!this.devices)
      throw new QingtianError(ErrorCode.DeviceState, 'attachBlk: this storage has no DPU cores (made outside a Host)');
    const other = this.attached.get(vol.id);
    if (other)
      throw new QingtianError(
        ErrorCode.DeviceState,
        `attachBlk: volume ${vol.name} is already attached to ${other.name}`,
      );
    await this.devices.loadBlkKernel();
    const name = o.name ?? `blk:${vol.name}`;
    const dev = await BlkDevice.overVolume(
      this.devices.runtime,
      guest,
      name,
      vol,
      {
        ...(o.queues === undefined ? {} : { queues: o.queues }),
        ...(o.maxQueueSize === undefined ? {} : { maxQueueSize: o.maxQueueSize }),
        ...(o.maxBurst === undefined ? {} : { maxBurst: o.maxBurst }),
        ...(o.readOnly === undefined ? {} : { readOnly: o.readOnly }),
        id: o.id ?? vol.name.replace(/[^\x20-\x7e]/g, '?').slice(0, BLK_ID_BYTES),
      },
      { depth: o.depth ?? 128, slotBytes: o.maxRequestBytes ?? 128 << 10 },
    );
    this.attached.set(vol.id, dev);
    vol.attachedTo = name;
    dev.once('closed', () => {
      this.attached.delete(vol.id);
      vol.attachedTo = null;
    });
    return dev;
  }

  /** Stops a device made by attachBlk, detaches its volume queues and frees it (= `dev.close()`). */
  async detachBlk(dev: BlkDevice): Promise<void> {
    await dev.close();
  }

  /** Closes every attached device and every volume (checkpointed), and stops the worker. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const d of [...this.attached.values()]) await d.close();
    this.closed = true;
    const rpc = this.rpc;
    this.rpc = null;
    this.open.clear();
    if (rpc) await rpc.close();
    if (this.arena) this.memory.free(this.arena, 'storage');
    this.arena = null;
  }

  private track(info: VolumeInfo): StorageVolume {
    const v = new StorageVolume(this.worker(), this.memory, info, (x) => this.open.delete(x.id));
    this.open.set(v.id, v);
    return v;
  }

  private worker(): StorageWorkerClient {
    if (this.closed) throw new QingtianError(ErrorCode.Disposed, 'storage: closed');
    if (!this.rpc) {
      this.arena = this.memory.alloc({
        name: 'storage-worker',
        owner: 'storage',
        kind: 'core-scratch',
        sizeBytes: this.arenaBytes,
      });
      this.rpc = new StorageWorkerClient({
        memory: this.memory.memory,
        arenaBase: this.arena.base,
        arenaBytes: this.arena.sizeBytes,
      });
    }
    return this.rpc;
  }
}
