import { z } from 'zod';
import { intIn } from '../../common/validate.js';
import { ipv4Text, resourceName } from '../../dpu/net/vpc-schemas.js';
import { vmSpecSchema, type VmSpec } from '../vms/vm-spec.js';

/** An instance's kind: a VM, a container (a task inside the shared container host) or bare metal. */
export type InstanceKind = 'vm' | 'container' | 'bare-metal';
const INSTANCE_KINDS: readonly InstanceKind[] = ['vm', 'container', 'bare-metal'];

/** A VM: the same spec as `host.vms.create`, with `kind: 'vm'`. */
export interface VmInstanceSpec extends VmSpec {
  /** The instance kind. */
  kind: 'vm';
}

/**
 * A container's network: a trunk sub-port of the container host's NIC port (`instances
 * containerHost.port`), tagged with a VLAN the manager picks, with its own address and groups.
 * Inside the container host, the frames of that VLAN go to the container's own stack, which
 * answers ARP and ping and echoes UDP datagrams sent to port 7 (`container.netCounters()`).
 */
export interface ContainerNetworkSpec {
  /** The subnet of the sub-port (of the container host port's VPC). */
  subnet: string;
  /** The container's IPv4 address in that subnet. */
  ip: string;
  /** Security groups of the sub-port. Default none. */
  securityGroups?: string[] | undefined;
}

/**
 * A container: a task inside the shared container host (a VM whose vCPUs multiplex the tasks),
 * with its own quotas.
 */
export interface ContainerSpec {
  /** The instance kind. */
  kind: 'container';
  /** Unique among instances and VMs: letters, digits, '.', '_', '-', at most 48, starting with a letter or digit. */
  name: string;
  /**
   * CPU share: work units its task runs per round of its vCPU (its CPU weighed against its
   * neighbours'), 1–1024. Default 16.
   */
  cpuShare?: number | undefined;
  /** Memory quota in MiB, 1–4096: a range of the container host's RAM only its task touches. Default 1. */
  memoryMiB?: number | undefined;
  /** What the task does: 'idle' (rests: costs nothing) or 'busy' (always has work: uses its share). Default 'idle'. */
  task?: 'idle' | 'busy' | undefined;
  /** A network sub-port. Default none. */
  network?: ContainerNetworkSpec | undefined;
}

/**
 * A bare-metal instance: every guest CPU is its own (one vCPU each, nothing else may run on the
 * host while it exists); its devices stay on the DPU cores, as a VM's.
 */
export interface BareMetalSpec {
  /** The instance kind. */
  kind: 'bare-metal';
  /** As for a VM. */
  name: string;
  /** RAM in MiB, 1–3072. */
  memoryMiB: number;
  /** Devices, as for a VM. Default none. */
  devices?: VmSpec['devices'];
}

/** What `host.instances.create` takes: a spec by `kind`. */
export type InstanceSpec = VmInstanceSpec | ContainerSpec | BareMetalSpec;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;

export const containerSpecSchema = z.strictObject({
  kind: z.literal('container'),
  name: z.string({ error: `a name matching ${NAME}` }).regex(NAME, { error: `a name matching ${NAME}` }),
  cpuShare: intIn(1, 1024).optional(),
  memoryMiB: intIn(1, 4096).optional(),
  task: z.enum(['idle', 'busy'], { error: "'idle' or 'busy'" }).optional(),
  network: z
    .strictObject({
      subnet: resourceName,
      ip: ipv4Text,
      securityGroups: z.array(resourceName, { error: 'an array of security group names' }).max(16).optional(),
    })
    .optional(),
});

const bareMetalSchema = z.strictObject({
  kind: z.literal('bare-metal'),
  name: vmSpecSchema.shape.name,
  memoryMiB: vmSpecSchema.shape.memoryMiB,
  devices: vmSpecSchema.shape.devices,
});

/** The checked spec (strict: unknown keys are refused, `kind` picks the member). */
export const instanceSpecSchema = z.discriminatedUnion(
  'kind',
  [vmSpecSchema.extend({ kind: z.literal('vm') }), containerSpecSchema, bareMetalSchema],
  { error: `a kind of ${INSTANCE_KINDS.map((k) => `'${k}'`).join(', ')}` },
);
