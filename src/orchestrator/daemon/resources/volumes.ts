import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { LatencyHistogram } from '../../../common/latency-histogram.js';
import { intIn, multipleIn } from '../../../common/validate.js';
import { qosSchema } from '../../../dpu/blk/qos/qos-scheduler.js';
import type { StorageVolume } from '../../../dpu/blk/storage-volume.js';
import type { VolumeReport } from '../../../dpu/blk/engine/storage-rpc.js';
import type { Host } from '../../host.js';
import { notFound } from '../api-error.js';
import type { DaemonContext, DaemonResource } from '../resource.js';
import { ResourceName, asBodyError, canonical } from './named-collection.js';

const MIB = 1 << 20;

/** PUT /volumes/{name}: the volume's geometry and QoS. Its files live in the daemon's data dir. */
export const VolumePut = z
  .strictObject(
    {
      sizeBytes: multipleIn(4096, MIB, 64 * 1024 * MIB).meta({ description: 'logical size, 1 MiB to 64 GiB' }),
      dataDisks: intIn(1, 16).optional(),
      parityDisks: intIn(1, 8).optional(),
      chunkBlocks: intIn(1, 256).optional(),
      stripesPerSegment: intIn(1, 256).optional(),
      capacityBytes: multipleIn(4096, 64 << 10, 64 * 1024 * MIB).optional(),
      qos: qosSchema.optional(),
    },
    { error: 'a JSON object' },
  )
  .meta({ id: 'VolumePut' });
type VolumeSpec = z.output<typeof VolumePut>;

export const VolumeSchema = z
  .object({
    name: z.string(),
    spec: z.record(z.string(), z.unknown()),
    dir: z.string(),
    sizeBytes: z.number(),
    dataDisks: z.number().int(),
    parityDisks: z.number().int(),
    mappedBytes: z.number(),
    disks: z.array(z.object({ index: z.number().int(), state: z.string() })),
    ops: z.record(z.string(), z.number()).meta({ description: 'requests by kind, blocks read and written, errors' }),
    rebuild: z.unknown().nullable(),
    scrub: z.unknown().nullable(),
  })
  .meta({ id: 'Volume' });

interface Entry {
  spec: VolumeSpec;
  volume: StorageVolume;
}

/**
 * `/volumes`: the host's volumes (`host.storage`), each in `<data dir>/volumes/<name>`. PUT
 * creates one (the same spec again changes nothing, another is refused); DELETE closes it and
 * removes its files. Counters and the latency histogram come from the storage worker.
 */
export class VolumesResource implements DaemonResource {
  readonly name = 'volumes';
  private host: Host | null = null;
  private dataDir: string | null = null;
  private readonly volumes = new Map<string, Entry>();

  register({ host, api, dataDir }: DaemonContext): void {
    this.host = host;
    this.dataDir = dataDir;
    api.route({
      method: 'get',
      path: '/volumes',
      tag: this.name,
      summary: 'Every volume',
      response: z.array(VolumeSchema),
      handler: async () => Promise.all([...this.volumes.entries()].map(([n, e]) => this.view(n, e))),
    });
    api.route({
      method: 'get',
      path: '/volumes/{name}',
      tag: this.name,
      summary: 'One volume: geometry, space, disks, requests, rebuild and scrub',
      params: ResourceName,
      response: VolumeSchema,
      handler: async ({ params }) => this.view(params.name, this.get(params.name)),
    });
    api.route({
      method: 'put',
      path: '/volumes/{name}',
      tag: this.name,
      summary: 'Create a volume; the same spec again changes nothing',
      params: ResourceName,
      body: VolumePut,
      response: VolumeSchema,
      status: 200,
      mutates: true,
      handler: async ({ params, body }) => this.view(params.name, await this.put(params.name, body)),
    });
    api.route({
      method: 'delete',
      path: '/volumes/{name}',
      tag: this.name,
      summary: 'Close a volume and remove its files',
      params: ResourceName,
      response: VolumeSchema,
      mutates: true,
      handler: async ({ params }) => {
        const e = this.get(params.name);
        const v = await this.view(params.name, e);
        await e.volume.close();
        this.volumes.delete(params.name);
        rmSync(e.volume.dir, { recursive: true, force: true });
        return v;
      },
    });
  }

  async metrics(): Promise<string> {
    const reports = await Promise.all(
      [...this.volumes.entries()].map(async ([name, e]) => [name, await e.volume.stats()] as const),
    );
    return volumeMetrics(reports);
  }

  async close(): Promise<void> {
    for (const e of this.volumes.values()) await e.volume.close().catch(() => undefined);
    this.volumes.clear();
  }

  /** The volumes and their counters, for the live stream (one stats call each). */
  async reports(): Promise<[string, VolumeReport][]> {
    return Promise.all(
      [...this.volumes.entries()].map(async ([n, e]) => [n, await e.volume.stats()] as [string, VolumeReport]),
    );
  }

  private get(name: string): Entry {
    const e = this.volumes.get(name);
    if (!e) throw notFound('volume', name);
    return e;
  }

  private async put(name: string, spec: VolumeSpec): Promise<Entry> {
    const have = this.volumes.get(name);
    if (have) {
      if (canonical(have.spec) === canonical(spec)) return have;
      throw new QingtianError(
        ErrorCode.DeviceState,
        `params.name: volume ${name} exists with another spec; DELETE it first`,
        { field: 'params.name' },
      );
    }
    if (!this.dataDir)
      throw new QingtianError(
        ErrorCode.InvalidState,
        'params.name: this daemon has no data directory for volumes; start it with qingtian serve --data-dir <dir>',
        { field: 'params.name' },
      );
    const dir = join(this.dataDir, 'volumes', name);
    if (existsSync(dir))
      throw new QingtianError(
        ErrorCode.DeviceState,
        `params.name: ${dir} exists but is not a volume this daemon has open; remove it first`,
        { field: 'params.name' },
      );
    const { qos, ...geometry } = spec;
    let volume: StorageVolume;
    try {
      volume = await this.host!.storage.createVolume({ dir, name, ...geometry, ...(qos ? { qos } : {}) });
    } catch (e) {
      // A refused create leaves no directory behind.
      rmSync(dir, { recursive: true, force: true });
      throw asBodyError(e);
    }
    const entry = { spec, volume };
    this.volumes.set(name, entry);
    return entry;
  }

  private async view(name: string, e: Entry): Promise<z.input<typeof VolumeSchema>> {
    const r = await e.volume.stats();
    return {
      name,
      spec: e.spec,
      dir: e.volume.dir,
      sizeBytes: r.sizeBytes,
      dataDisks: r.geometry.dataDisks,
      parityDisks: r.geometry.parityDisks,
      mappedBytes: r.space.mappedBytes,
      disks: r.disks.map((d) => ({ index: d.index, state: d.state })),
      ops: { ...r.ops },
      rebuild: r.rebuild,
      scrub: r.scrub,
    };
  }
}

const OPS = [
  ['read', 'reads'],
  ['write', 'writes'],
  ['flush', 'flushes'],
  ['discard', 'discards'],
  ['write_zeroes', 'writeZeroes'],
] as const;

/** Prometheus families of the volumes: requests by op, bytes, errors, space, disks, latency. */
export function volumeMetrics(reports: readonly (readonly [string, VolumeReport])[]): string {
  const out = [
    '# HELP qingtian_volume_requests_total Block requests served by a volume, by op (IOPS: rate of this)',
    '# TYPE qingtian_volume_requests_total counter',
  ];
  for (const [name, r] of reports)
    for (const [op, key] of OPS) out.push(`qingtian_volume_requests_total{volume="${name}",op="${op}"} ${r.ops[key]}`);
  out.push(
    '# HELP qingtian_volume_bytes_total Bytes a volume read and wrote for its clients (4 KiB blocks)',
    '# TYPE qingtian_volume_bytes_total counter',
  );
  for (const [name, r] of reports)
    out.push(
      `qingtian_volume_bytes_total{volume="${name}",direction="read"} ${r.ops.blocksRead * 4096}`,
      `qingtian_volume_bytes_total{volume="${name}",direction="write"} ${r.ops.blocksWritten * 4096}`,
    );
  out.push(
    '# HELP qingtian_volume_request_errors_total Requests a volume completed with an error status',
    '# TYPE qingtian_volume_request_errors_total counter',
    ...reports.map(([name, r]) => `qingtian_volume_request_errors_total{volume="${name}"} ${r.ops.errors}`),
    '# HELP qingtian_volume_mapped_bytes Bytes of a volume that are written (thin provisioning)',
    '# TYPE qingtian_volume_mapped_bytes gauge',
    ...reports.map(([name, r]) => `qingtian_volume_mapped_bytes{volume="${name}"} ${r.space.mappedBytes}`),
    '# HELP qingtian_volume_size_bytes Logical size of a volume',
    '# TYPE qingtian_volume_size_bytes gauge',
    ...reports.map(([name, r]) => `qingtian_volume_size_bytes{volume="${name}"} ${r.sizeBytes}`),
    '# HELP qingtian_volume_disks Disk files of a volume, by state',
    '# TYPE qingtian_volume_disks gauge',
  );
  for (const [name, r] of reports)
    for (const st of ['ok', 'lost', 'rebuilding'])
      out.push(`qingtian_volume_disks{volume="${name}",state="${st}"} ${r.disks.filter((d) => d.state === st).length}`);
  out.push(
    LatencyHistogram.render(
      'qingtian_volume_request_duration_seconds',
      'Time a block request spent in the storage worker, from dequeue to completion',
      reports.map(([name, r]) => [`volume="${name}"`, r.latency] as const),
    ),
  );
  return out.join('\n') + '\n';
}
