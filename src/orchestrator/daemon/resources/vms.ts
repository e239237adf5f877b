import { z } from 'zod';
import { ErrorCode, QingtianError, isQingtianError } from '../../../common/errors.js';
import { oneOf } from '../../../common/validate.js';
import type { Host } from '../../host.js';
import type { Vm, VmState } from '../../vms/vm.js';
import { vmSpecSchema, type VmSpec } from '../../vms/vm-spec.js';
import { notFound } from '../api-error.js';
import { LatencyHistogram } from '../../../common/latency-histogram.js';
import type { DaemonContext, DaemonResource } from '../resource.js';
import { canonical } from './named-collection.js';
import type { ByteSink } from '../prom-text.js';
import { VmMetrics, vmDeviceTraffic } from './vm-metrics.js';
import { RateTracker } from '../rate-tracker.js';

/** The states a client may ask a VM to be in (`destroyed` is DELETE). */
export const VM_TARGET_STATES = ['defined', 'running', 'paused', 'shutoff'] as const;
type Target = (typeof VM_TARGET_STATES)[number];

const VmName = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/, {
    error: 'a VM name: 1-48 of [A-Za-z0-9._-], starting with a letter or digit',
  }),
});

const stateField = oneOf(VM_TARGET_STATES).meta({
  description: 'the state to bring the VM to: running starts or resumes it, paused pauses it, shutoff powers it off',
});

/** PUT /vms/{name}: the VM's spec (as host.vms.create takes it, without the name) and the state wanted. */
export const VmPut = vmSpecSchema
  .omit({ name: true })
  .extend({ state: stateField.optional() })
  .meta({ id: 'VmPut', description: 'vcpus, memoryMiB, devices; state (default running)' });

const VmPatch = z.strictObject({ state: stateField }, { error: 'a JSON object' }).meta({ id: 'VmPatch' });

export const VmSchema = z
  .object({
    name: z.string(),
    id: z.number().int().meta({ description: "the VM's id on the host agent" }),
    state: z.enum(['defined', 'running', 'paused', 'shutoff', 'destroyed']),
    vcpus: z.number().int(),
    memoryMiB: z.number().int(),
    devices: z.array(z.object({ id: z.string(), kind: z.string() })),
    spec: z.record(z.string(), z.unknown()).meta({ description: 'the spec it was created with' }),
  })
  .meta({ id: 'Vm' });

type VmBody = z.output<typeof VmPut>;

/**
 * `/vms`: the host's VMs (`host.vms`). PUT creates a VM and brings it to `state` (default
 * running); the same spec again only moves it to the state asked for; another spec is refused
 * (DELETE it first). A PUT that fails after the VM was created destroys it again: a refused
 * request leaves no VM behind. DELETE destroys (RAM scrubbed and freed).
 */
export class VmsResource implements DaemonResource {
  readonly name = 'vms';
  private host: Host | null = null;
  /** Lifecycle operations the daemon ran, by operation: how long each took. */
  readonly ops = new Map<string, LatencyHistogram>();
  private readonly rates = new RateTracker();
  private readonly vmMetrics = new VmMetrics();

  register({ host, api }: DaemonContext): void {
    this.host = host;
    api.route({
      method: 'get',
      path: '/vms',
      tag: this.name,
      summary: 'Every VM on the host',
      response: z.array(VmSchema),
      handler: () => host.vms.list().map(view),
    });
    api.route({
      method: 'get',
      path: '/vms/{name}',
      tag: this.name,
      summary: 'One VM',
      params: VmName,
      response: VmSchema,
      handler: ({ params }) => view(this.get(params.name)),
    });
    api.route({
      method: 'put',
      path: '/vms/{name}',
      tag: this.name,
      summary: 'Create a VM and bring it to a state; the same spec again only changes the state',
      params: VmName,
      body: VmPut,
      response: VmSchema,
      mutates: true,
      handler: async ({ params, body }) => view(await this.put(params.name, body)),
    });
    api.route({
      method: 'patch',
      path: '/vms/{name}',
      tag: this.name,
      summary: 'Start, pause, resume or power off a VM',
      params: VmName,
      body: VmPatch,
      response: VmSchema,
      mutates: true,
      handler: async ({ params, body }) => {
        const vm = this.get(params.name);
        await this.moveTo(vm, body.state);
        return view(vm);
      },
    });
    api.route({
      method: 'delete',
      path: '/vms/{name}',
      tag: this.name,
      summary: 'Destroy a VM: power off, scrub and free its RAM, free its devices',
      params: VmName,
      response: VmSchema,
      mutates: true,
      handler: async ({ params }) => {
        const vm = this.get(params.name);
        const v = view(vm);
        await this.timed('destroy', () => vm.destroy());
        return { ...v, state: 'destroyed' as const };
      },
    });
  }

  writeMetrics(page: ByteSink): void {
    this.vmMetrics.render(this.host?.vms.list() ?? [], page);
    page.latin1(
      LatencyHistogram.render(
        'qingtian_vm_operation_duration_seconds',
        'VM lifecycle operations the daemon ran (create, start, pause, resume, stop, destroy), by how long they took',
        [...this.ops].map(([op, h]) => [`op="${op}"`, h]),
      ) + '\n',
    );
  }

  /** Per VM: state, size and its devices' throughput (bytes/s into and out of the guest) since the last frame. */
  live(): unknown {
    const vms = this.host?.vms.list() ?? [];
    const traffic = vmDeviceTraffic(vms);
    const out = vms.map((vm) => {
      const t = traffic.filter((x) => x.vm === vm.name);
      const sum = (k: 'rxBytes' | 'txBytes' | 'rxPackets' | 'txPackets'): number => t.reduce((a, x) => a + x[k], 0);
      const [rxBps = 0, txBps = 0] = this.rates.rates(`${vm.name}#${vm.id}`, [sum('rxBytes'), sum('txBytes')]);
      return {
        name: vm.name,
        state: vm.state,
        vcpus: vm.vcpus,
        memoryMiB: Math.round(vm.memoryBytes / (1 << 20)),
        rxBytes: sum('rxBytes'),
        txBytes: sum('txBytes'),
        rxBytesPerSecond: rxBps,
        txBytesPerSecond: txBps,
      };
    });
    this.rates.sweep();
    return out;
  }

  private get(name: string): Vm {
    const vm = this.host!.vms.get(name);
    if (!vm) throw notFound('vm', name);
    return vm;
  }

  private async put(name: string, body: VmBody): Promise<Vm> {
    const host = this.host!;
    const { state = 'running', ...rest } = body;
    const spec: VmSpec = { name, ...rest };
    const have = host.vms.get(name);
    if (have) {
      if (canonical(have.spec) !== canonical(spec))
        throw new QingtianError(
          ErrorCode.DeviceState,
          `params.name: VM ${name} exists with another spec; DELETE it first`,
          { field: 'params.name' },
        );
      await this.moveTo(have, state);
      return have;
    }
    const vm = await this.timed('create', () => host.vms.create(spec)).catch((e: unknown) => {
      throw asBodyError(e);
    });
    try {
      await this.moveTo(vm, state);
    } catch (e) {
      // A refused request leaves nothing behind: the VM it created goes again.
      await vm.destroy().catch(() => undefined);
      throw e;
    }
    return vm;
  }

  /** The operations that take a VM from its state to `want` (none if it is there). */
  private async moveTo(vm: Vm, want: Target): Promise<void> {
    const from: VmState = vm.state;
    if (from === want) return;
    const step = (op: string, fn: () => Promise<void>): Promise<void> => this.timed(op, fn);
    if (want === 'running') {
      if (from === 'paused') return step('resume', () => vm.resume());
      if (from === 'defined' || from === 'shutoff') return step('start', () => vm.start());
    } else if (want === 'paused') {
      if (from === 'running') return step('pause', () => vm.pause());
      if (from === 'defined' || from === 'shutoff') {
        await step('start', () => vm.start());
        return step('pause', () => vm.pause());
      }
    } else if (want === 'shutoff') {
      if (from === 'running' || from === 'paused') return step('stop', () => vm.stop());
    }
    throw new QingtianError(
      ErrorCode.InvalidState,
      `body.state: VM ${vm.name} is ${from}; it cannot be made ${want} (running and paused: from defined, shutoff, running or paused; shutoff: from running or paused)`,
      { field: 'body.state' },
    );
  }

  private async timed<T>(op: string, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    const r = await fn();
    let h = this.ops.get(op);
    if (!h) this.ops.set(op, (h = new LatencyHistogram()));
    h.record((performance.now() - t0) / 1000);
    return r;
  }
}

function view(vm: Vm): z.input<typeof VmSchema> {
  return {
    name: vm.name,
    id: vm.id,
    state: vm.state,
    vcpus: vm.vcpus,
    memoryMiB: Math.round(vm.memoryBytes / (1 << 20)),
    devices: vm.devices.map((d) => ({ id: d.id, kind: d.kind })),
    spec: { ...vm.spec },
  };
}

/** Refusals of host.vms.create name `vm spec.<field>`: over the API that field is `body.<field>`. */
function asBodyError(e: unknown): unknown {
  if (!isQingtianError(e)) return e;
  const f = e.details['field'];
  if (typeof f !== 'string' || f === 'name') return e;
  const field = `body.${f.replace(/^vm spec\./, '')}`;
  return new QingtianError(e.code, `${field}: ${e.message.replace(/^vm spec\.[^:]*: /, '')}`, {
    ...e.details,
    field,
  });
}
