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
  private closed = false;

  constructor(
    private readonly memory: HostMemoryApi,
    options?: StorageOptions,
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

  /** Closes every volume (checkpointed) and stops the worker. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
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
