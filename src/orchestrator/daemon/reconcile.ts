import { ErrorCode, QingtianError, type ErrorCode as Code } from '../../common/errors.js';
import type { DaemonClient } from './daemon-client.js';
import type { HostFile } from './host-file.js';
import { canonical } from './resources/named-collection.js';

/** One change `up` or `down` makes (or would make), in the order it is made. */
export interface Change {
  /** `+` adds, `~` changes, `-` removes. */
  op: '+' | '~' | '-';
  /** What it acts on: `kernel core`, `core 0`, `job scrub0`. */
  what: string;
  /** What changes, for people. */
  detail: string;
  method: string;
  path: string;
  body?: unknown;
}

interface CoreView {
  id: number;
  mode: string;
  paused: boolean;
}
interface JobView {
  name: string;
  spec: Record<string, unknown>;
}
interface MemberView {
  name: string;
  spec: unknown;
}
interface VmView {
  name: string;
  state: string;
  spec: Record<string, unknown>;
}

/**
 * The named collections a host file lists, in the order they are made (a later one may refer to
 * an earlier one: a subnet to its VPC, a port to its subnet and groups, a VM to its port or
 * volume). Removals go in the reverse order.
 */
const COLLECTIONS = [
  { key: 'vpcs', path: '/vpcs', noun: 'vpc' },
  { key: 'subnets', path: '/subnets', noun: 'subnet' },
  { key: 'securityGroups', path: '/security-groups', noun: 'security-group' },
  { key: 'ports', path: '/ports', noun: 'port' },
  { key: 'routes', path: '/routes', noun: 'route' },
  { key: 'volumes', path: '/volumes', noun: 'volume' },
] as const;

interface HostView {
  cores: number;
  memory: { totalBytes: number };
}

/**
 * The changes that bring the daemon from what it runs now to what `file` describes: kernels
 * loaded, core settings, and exactly the jobs, VPCs, subnets, security groups, ports, routes,
 * volumes and VMs listed (others are removed; a changed spec is a remove then an add; a VM
 * whose spec is unchanged but whose state is not only moves to it). Nothing when it already
 * matches: applying the same file twice changes nothing the second time. Host settings fixed
 * at boot are checked, never changed.
 */
export async function plan(client: DaemonClient, file: HostFile): Promise<Change[]> {
  const host = await get<HostView>(client, '/host');
  if (file.host?.cores !== undefined && file.host.cores !== host.cores)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `host.cores: the file asks for ${file.host.cores} cores, the daemon runs ${host.cores}; restart it with qingtian serve --cores ${file.host.cores}`,
      { field: 'host.cores' },
    );
  const mib = host.memory.totalBytes / (1 << 20);
  if (file.host?.memoryMib !== undefined && file.host.memoryMib !== mib)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `host.memoryMib: the file asks for ${file.host.memoryMib} MiB, the daemon has ${mib}; restart it with qingtian serve --memory-mib ${file.host.memoryMib}`,
      { field: 'host.memoryMib' },
    );
  const changes: Change[] = [];
  const loaded = new Set((await get<{ name: string }[]>(client, '/kernels')).map((k) => k.name));
  for (const k of file.kernels ?? []) {
    if (!loaded.has(k))
      changes.push({ op: '+', what: `kernel ${k}`, detail: 'load', method: 'PUT', path: `/kernels/${k}` });
  }
  const cores = await get<CoreView[]>(client, '/cores');
  for (const [id, want] of Object.entries(file.cores ?? {})) {
    const have = cores.find((c) => c.id === Number(id));
    if (!have)
      throw new QingtianError(ErrorCode.InvalidArgument, `cores.${id}: the daemon has cores 0-${cores.length - 1}`, {
        field: `cores.${id}`,
      });
    const body: Record<string, unknown> = {};
    const said: string[] = [];
    if (want.mode !== undefined && want.mode !== have.mode) {
      body.mode = want.mode;
      said.push(`mode ${have.mode} → ${want.mode}`);
    }
    if (want.idleSpinPolls !== undefined && body.mode !== undefined) body.idleSpinPolls = want.idleSpinPolls;
    if (want.paused !== undefined && want.paused !== have.paused) {
      body.paused = want.paused;
      said.push(want.paused ? 'pause' : 'resume');
    }
    if (said.length)
      changes.push({
        op: '~',
        what: `core ${id}`,
        detail: said.join(', '),
        method: 'PATCH',
        path: `/cores/${id}`,
        body,
      });
  }
  const removes: Change[] = [];
  const adds: Change[] = [];
  // VMs first out and last in: they use ports and volumes.
  const vms = await get<VmView[]>(client, '/vms');
  const wantVms = file.vms ?? {};
  for (const vm of vms) {
    const want = wantVms[vm.name];
    if (!want || !sameJson(vmSpecOf(want), withoutName(vm.spec)))
      removes.push(del('vm', '/vms', vm.name, want ? 'spec changed' : 'not in the file'));
  }
  const sets: Record<string, { have: MemberView[]; want: Record<string, unknown> }> = {};
  for (const c of COLLECTIONS) {
    const have = await get<MemberView[]>(client, c.path);
    const want = (file[c.key] ?? {}) as Record<string, unknown>;
    sets[c.key] = { have, want };
  }
  for (const c of [...COLLECTIONS].reverse()) {
    const { have, want } = sets[c.key]!;
    for (const m of have) {
      const w = want[m.name];
      if (w === undefined || !sameJson(w, m.spec))
        removes.push(del(c.noun, c.path, m.name, w === undefined ? 'not in the file' : 'spec changed'));
    }
  }
  for (const c of COLLECTIONS) {
    const { have, want } = sets[c.key]!;
    for (const [name, spec] of Object.entries(want)) {
      const m = have.find((x) => x.name === name);
      if (!m || !sameJson(spec, m.spec))
        adds.push({
          op: '+',
          what: `${c.noun} ${name}`,
          detail: 'create',
          method: 'PUT',
          path: `${c.path}/${name}`,
          body: spec,
        });
    }
  }
  for (const [name, want] of Object.entries(wantVms)) {
    const have = vms.find((v) => v.name === name);
    const state = want.state ?? 'running';
    if (!have || !sameJson(vmSpecOf(want), withoutName(have.spec)))
      adds.push({
        op: '+',
        what: `vm ${name}`,
        detail: `${want.vcpus} vCPU, ${want.memoryMiB} MiB, ${state}`,
        method: 'PUT',
        path: `/vms/${name}`,
        body: want,
      });
    else if (have.state !== state)
      adds.push({
        op: '~',
        what: `vm ${name}`,
        detail: `${have.state} → ${state}`,
        method: 'PATCH',
        path: `/vms/${name}`,
        body: { state },
      });
  }
  const jobs = await get<JobView[]>(client, '/jobs');
  const wanted = file.jobs ?? {};
  for (const j of jobs) {
    const want = wanted[j.name];
    if (!want || !sameSpec(want, j.spec))
      changes.push({
        op: '-',
        what: `job ${j.name}`,
        detail: want ? 'spec changed' : 'not in the file',
        method: 'DELETE',
        path: `/jobs/${j.name}`,
      });
  }
  for (const [name, spec] of Object.entries(wanted)) {
    const have = jobs.find((j) => j.name === name);
    if (!have || !sameSpec(spec, have.spec))
      changes.push({
        op: '+',
        what: `job ${name}`,
        detail: `${spec.kind} on core ${spec.core}`,
        method: 'PUT',
        path: `/jobs/${name}`,
        body: spec,
      });
  }
  // Kernels and cores, then removals (VMs first), then jobs and additions (VMs last).
  const firsts = changes.filter((c) => !c.what.startsWith('job '));
  const jobChanges = changes.filter((c) => c.what.startsWith('job '));
  return [...firsts, ...removes, ...jobChanges, ...adds];
}

function del(noun: string, path: string, name: string, detail: string): Change {
  return { op: '-', what: `${noun} ${name}`, detail, method: 'DELETE', path: `${path}/${name}` };
}

/** A VM's spec as the daemon keeps it: what PUT took, without the state (that is PATCHed). */
function vmSpecOf(want: Record<string, unknown>): Record<string, unknown> {
  const { state: _state, ...spec } = want;
  return spec;
}

function withoutName(spec: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...rest } = spec;
  return rest;
}

/**
 * The changes that empty the host: every VM destroyed, every route, port, security group,
 * subnet, VPC and volume removed (a volume with its files), every job removed, every paused
 * core resumed.
 */
export async function planDown(client: DaemonClient): Promise<Change[]> {
  const changes: Change[] = [];
  for (const vm of await get<VmView[]>(client, '/vms')) changes.push(del('vm', '/vms', vm.name, 'down'));
  for (const c of [...COLLECTIONS].reverse())
    for (const m of await get<MemberView[]>(client, c.path)) changes.push(del(c.noun, c.path, m.name, 'down'));
  for (const j of await get<JobView[]>(client, '/jobs'))
    changes.push({ op: '-', what: `job ${j.name}`, detail: 'down', method: 'DELETE', path: `/jobs/${j.name}` });
  for (const c of await get<CoreView[]>(client, '/cores'))
    if (c.paused)
      changes.push({
        op: '~',
        what: `core ${c.id}`,
        detail: 'resume',
        method: 'PATCH',
        path: `/cores/${c.id}`,
        body: { paused: false },
      });
  return changes;
}

/** Makes the changes in order; the first refusal stops (the changes before it stay made) and is thrown. */
export async function apply(
  client: DaemonClient,
  changes: readonly Change[],
  done?: (c: Change) => void,
): Promise<void> {
  for (const c of changes) {
    const r = await client.send(c.method, c.path, c.body);
    if (r.status >= 300) throw refusal(r.json, `${c.op} ${c.what}`);
    done?.(c);
  }
}

/** GET `path` as JSON, or the daemon's refusal as a QingtianError. */
export async function get<T>(client: DaemonClient, path: string): Promise<T> {
  const r = await client.send('GET', path);
  if (r.status !== 200) throw refusal(r.json, `GET ${path}`);
  return r.json as T;
}

function refusal(body: unknown, what: string): QingtianError {
  const b = body as { code?: string; message?: string } | undefined;
  return new QingtianError((b?.code ?? 'QT_INTERNAL') as Code, `${what}: ${b?.message ?? 'refused'}`);
}

function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function sameSpec(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}
