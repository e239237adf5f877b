import { ErrorCode, QingtianError } from '../../common/errors.js';
import { DaemonClient } from '../../orchestrator/daemon/daemon-client.js';
import { readHostFile } from '../../orchestrator/daemon/host-file.js';
import { apply, get, plan, planDown, type Change } from '../../orchestrator/daemon/reconcile.js';
import { defaultSocketPath } from './serve.js';

/** Options every daemon client command takes. */
export interface ClientCliOptions {
  socket?: string;
  json?: boolean;
}

async function withClient<T>(o: ClientCliOptions, fn: (c: DaemonClient) => Promise<T>): Promise<T> {
  const socket = o.socket ?? defaultSocketPath();
  const client = new DaemonClient(socket);
  try {
    return await fn(client);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED')
      throw new QingtianError(
        ErrorCode.NotFound,
        `no daemon answers on ${socket}; start one with qingtian serve --socket ${socket}`,
        { noDaemon: true, socket },
      );
    throw e;
  } finally {
    client.close();
  }
}

function report(changes: readonly Change[], o: ClientCliOptions, what: string): void {
  if (o.json) {
    process.stdout.write(
      JSON.stringify({ changes: changes.map(({ op, what, detail }) => ({ op, what, detail })) }) + '\n',
    );
    return;
  }
  if (!changes.length) process.stdout.write(`${what}: no changes\n`);
  for (const c of changes) process.stdout.write(`${c.op} ${c.what}: ${c.detail}\n`);
}

/** `qingtian up <host.yaml>`: brings the running daemon to the file's state; the same file twice changes nothing. */
export async function upCommand(file: string, o: ClientCliOptions): Promise<void> {
  const desired = readHostFile(file);
  await withClient(o, async (client) => {
    const changes = await plan(client, desired);
    await apply(client, changes);
    report(changes, o, file);
  });
}

/** `qingtian down`: removes every job and resumes every paused core. */
export async function downCommand(o: ClientCliOptions): Promise<void> {
  await withClient(o, async (client) => {
    const changes = await planDown(client);
    await apply(client, changes);
    report(changes, o, 'down');
  });
}

interface PsCore {
  id: number;
  state: string;
  mode: string;
  paused: boolean;
  jobs: number;
  busyRatio: number;
  itemsPerSecond: number;
}
interface PsJob {
  name: string;
  spec: { core: number; kind: string };
  status: string;
  linesWritten: number;
}

interface PsVm {
  name: string;
  state: string;
  vcpus: number;
  memoryMiB: number;
  devices: { id: string; kind: string }[];
}
interface PsPort {
  name: string;
  status: {
    subnet: string;
    ip: string;
    mac: string;
    attached: string | null;
    traffic: { inPackets: number; outPackets: number } | null;
  };
}
interface PsVolume {
  name: string;
  sizeBytes: number;
  dataDisks: number;
  parityDisks: number;
  mappedBytes: number;
  disks: { state: string }[];
}

const table = (head: string[], rows: string[][]): string[] => {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('')
      .trimEnd();
  return [line(head), ...rows.map(line)];
};

/** `qingtian ps`: the daemon's cores, kernels, jobs, VMs, ports and volumes. */
export async function psCommand(o: ClientCliOptions): Promise<void> {
  await withClient(o, async (client) => {
    const host = await get<{ version: string; pid: number; uptimeSeconds: number }>(client, '/host');
    const cores = await get<PsCore[]>(client, '/cores');
    const kernels = await get<{ name: string; version: string }[]>(client, '/kernels');
    const jobs = await get<PsJob[]>(client, '/jobs');
    const vms = await get<PsVm[]>(client, '/vms');
    const ports = await get<PsPort[]>(client, '/ports');
    const volumes = await get<PsVolume[]>(client, '/volumes');
    if (o.json) {
      process.stdout.write(JSON.stringify({ host, cores, kernels, jobs, vms, ports, volumes }) + '\n');
      return;
    }
    const out = [
      `daemon ${host.pid} (qingtian ${host.version}), up ${host.uptimeSeconds.toFixed(0)} s`,
      `kernels: ${kernels.map((k) => `${k.name}@${k.version}`).join(', ') || 'none'}`,
      'CORE  STATE      MODE       PAUSED  JOBS  BUSY    ITEMS/S',
      ...cores.map(
        (c) =>
          `${String(c.id).padEnd(6)}${c.state.padEnd(11)}${c.mode.padEnd(11)}${String(c.paused).padEnd(8)}` +
          `${String(c.jobs).padEnd(6)}${`${(c.busyRatio * 100).toFixed(0)} %`.padEnd(8)}${c.itemsPerSecond.toFixed(0)}`,
      ),
      'JOB                               CORE  KIND   STATUS    LINES',
      ...jobs.map(
        (j) =>
          `${j.name.padEnd(34)}${String(j.spec.core).padEnd(6)}${j.spec.kind.padEnd(7)}${j.status.padEnd(10)}${j.linesWritten}`,
      ),
    ];
    if (vms.length)
      out.push(
        ...table(
          ['VM', 'STATE', 'VCPUS', 'MEMORY', 'DEVICES'],
          vms.map((v) => [
            v.name,
            v.state,
            String(v.vcpus),
            `${v.memoryMiB} MiB`,
            v.devices.map((x) => `${x.id}:${x.kind}`).join(',') || '-',
          ]),
        ),
      );
    if (ports.length)
      out.push(
        ...table(
          ['PORT', 'SUBNET', 'IP', 'MAC', 'ATTACHED', 'PKTS IN/OUT'],
          ports.map((p) => [
            p.name,
            p.status.subnet,
            p.status.ip,
            p.status.mac,
            p.status.attached ?? '-',
            p.status.traffic ? `${p.status.traffic.inPackets}/${p.status.traffic.outPackets}` : '-',
          ]),
        ),
      );
    if (volumes.length)
      out.push(
        ...table(
          ['VOLUME', 'SIZE', 'RS(K,M)', 'MAPPED', 'DISKS OK'],
          volumes.map((v) => [
            v.name,
            `${v.sizeBytes >> 20} MiB`,
            `${v.dataDisks},${v.parityDisks}`,
            `${(v.mappedBytes / (1 << 20)).toFixed(1)} MiB`,
            `${v.disks.filter((d) => d.state === 'ok').length}/${v.disks.length}`,
          ]),
        ),
      );
    process.stdout.write(out.join('\n') + '\n');
  });
}
