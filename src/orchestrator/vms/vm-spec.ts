import { z } from 'zod';
import { intIn, nameString, oneOf } from '../../common/validate.js';
import { cpuListSchema, VCPU_CLASSES, type VcpuClass } from '../../hypervisor/sched/vcpu-class.js';

/**
 * A vsock device of a VM: its guest CID, the DPU core that serves it, and whether the guest
 * runs the guest agent on it (vCPU 0, port 1025: ping, info, acknowledged shutdown).
 */
export interface VsockDeviceSpec {
  /** The device kind. */
  kind: 'vsock';
  /** The device's name inside the VM. Default: 'vsock<n>', the smallest n no other device of the VM has. */
  id?: string | undefined;
  /** The guest's CID, 3–0xfffffffe, unique on the host (the host agent's CID is taken). */
  cid: number;
  /** DPU core that serves the device. Default: the manager's core. */
  core?: number | undefined;
  /** The guest runs the guest agent on vCPU 0. Default true. */
  guestAgent?: boolean | undefined;
}

/**
 * A network interface of a VM: a port of `host.network` (created with `createPort`, not attached
 * to anything else) whose virtio-net device the vSwitch serves on its DPU core. The port gives
 * the MAC, the address and the security groups.
 */
export interface NetDeviceSpec {
  /** The device kind. */
  kind: 'net';
  /** The device's name inside the VM. Default: 'net<n>', the smallest n no other device of the VM has. */
  id?: string | undefined;
  /** The `host.network` VM port the interface is. One VM and one device per port. */
  port: string;
  /** Queue pairs the device offers, 1–16. Default 1. */
  queuePairs?: number | undefined;
  /** MTU in the device's config space, 68–65535. Default 1500. */
  mtu?: number | undefined;
}

/**
 * A disk of a VM: a virtio-blk device served on a DPU core, over one of three backends:
 * - `volume: '<name>'`: an open `host.storage` volume (log-structured, erasure-coded, DIF on
 *   every block), attached with `host.storage.attachBlk` when the device is made and closed
 *   when it is unplugged or its VM destroyed; its data outlives the VM. Its size is the
 *   volume's (no `capacityMiB`). One device at a time may hold a volume.
 * - `backend: 'ram'`: a RAM disk in host memory, zero at first, kept across reboots, freed with the VM.
 * - `backend: 'null'`: reads move no data, writes are dropped.
 */
export interface BlkDeviceSpec {
  /** The device kind. */
  kind: 'blk';
  /** The device's name inside the VM. Default: 'blk<n>', the smallest n no other device of the VM has. */
  id?: string | undefined;
  /**
   * 'ram', 'null' or 'volume' (see above). Default 'volume' when `volume` is given; otherwise
   * required.
   */
  backend?: 'ram' | 'null' | 'volume' | undefined;
  /** Name of the open `host.storage` volume the disk is (backend 'volume' only). */
  volume?: string | undefined;
  /** Disk size in MiB, 1–1024 (backends 'ram' and 'null' only, and required there). */
  capacityMiB?: number | undefined;
  /** Offer VIRTIO_BLK_F_RO: every write fails. Default false. */
  readOnly?: boolean | undefined;
  /** Virtqueues (one job each; over a volume, one volume queue each), 1–8. Default 1. */
  queues?: number | undefined;
  /** DPU core that serves the device. Default: the manager's core. */
  core?: number | undefined;
}

/** A device of a VM, by `kind`: a network interface, a disk, or the vsock control device. */
export type VmDeviceSpec = NetDeviceSpec | BlkDeviceSpec | VsockDeviceSpec;

/** The devices `vm.hotplug` takes (the vsock device is fixed at creation). */
export type PluggableDeviceSpec = NetDeviceSpec | BlkDeviceSpec;

/** What a VM's guest runs on its vCPUs (`VmSpec.guest`). */
export interface GuestSpec {
  /**
   * 'idle': the vCPUs sleep (vCPU 0 runs the guest agent when the vsock device has one); the
   * VM's NIC and disk are left to drivers run in process through `vm.ram` and `vm.device`.
   * 'drivers': vCPU 0 runs the guest's own drivers, as a guest kernel does: the NIC's driver
   * and stack (ARP, ICMP echo answered, UDP echo on `udpEchoPort`, pings sent on request) and
   * the disk's checked job, beside the guest agent, which starts work and reports counters
   * (`vm.guestNet`, `vm.guestPing`, `vm.guestBlkCheck`, `vm.guestBlkStatus`). Every driven
   * queue interrupts vCPU 0, which sleeps between interrupts: on a thread of its own it sleeps
   * on an interrupt word of its own; on a shared guest CPU, vCPU 0 stays on one CPU and the
   * interrupts ring that CPU's doorbell. Needs a vsock device with the guest agent, at most one
   * net and one blk device (created with the VM; devices hotplugged later are not driven) and
   * 2 MiB of RAM.
   */
  program: 'idle' | 'drivers';
  /** UDP port the guest's stack echoes datagrams on (RFC 862), 0 for none. Default 7. */
  udpEchoPort?: number | undefined;
}

/** What `host.vms.create` takes. */
export interface VmSpec {
  /** Unique on the host: letters, digits, '.', '_', '-', at most 48, starting with a letter or digit. */
  name: string;
  /** vCPU threads, 1–64. */
  vcpus: number;
  /** Guest RAM in MiB, 1–3072 (taken from the host agent's pool). */
  memoryMiB: number;
  /** At most 16 devices; ids unique within the VM; at most one vsock device. Default none. */
  devices?: VmDeviceSpec[] | undefined;
  /**
   * Where the vCPUs run: 'shared' — bound to the host agent's guest CPUs (no thread started
   * per vCPU: the fast start); 'dedicated' — a thread of its own per vCPU. Default 'shared',
   * or 'dedicated' when the VM asks for a `vcpuClass` other than 'normal' or for `cpus`.
   */
  vcpuPlacement?: 'shared' | 'dedicated' | undefined;
  /**
   * The priority class of the VM's vCPUs (the Zero scheduler): 'latency-sensitive' preempts
   * 'normal' and 'best-effort' vCPUs on a shared CPU (src/hypervisor/sched/vcpu-class.ts).
   * A class is a thread's priority, so it applies to dedicated vCPU threads: a class other than
   * 'normal' makes the VM's vCPUs dedicated by default, and with `vcpuPlacement: 'shared'` it
   * is refused (QT_INVALID_ARGUMENT naming `vcpuClass`). Default 'normal'.
   */
  vcpuClass?: VcpuClass | undefined;
  /**
   * CPUs the VM's vCPU threads may run on (distinct CPU numbers; Linux). Like `vcpuClass`,
   * it makes the vCPUs dedicated by default and is refused with `vcpuPlacement: 'shared'`
   * (QT_INVALID_ARGUMENT naming `cpus`). Default: any.
   */
  cpus?: number[] | undefined;
  /** What the guest runs (see {@link GuestSpec}). Default `{ program: 'idle' }`. */
  guest?: GuestSpec | undefined;
}

const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;
const DEVICE_ID = /^[a-z][a-z0-9-]{0,31}$/;
const PORT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;

const deviceId = z
  .string({ error: `a device id matching ${DEVICE_ID}` })
  .regex(DEVICE_ID, { error: `a device id matching ${DEVICE_ID}` })
  .optional();

const vsockDevice = z.strictObject({
  kind: z.literal('vsock'),
  id: deviceId,
  cid: intIn(3, 0xfffffffe),
  core: intIn(0, 1023).optional(),
  guestAgent: z.boolean({ error: 'true or false' }).optional(),
});

const netDevice = z.strictObject({
  kind: z.literal('net'),
  id: deviceId,
  port: z
    .string({ error: `a host.network port name matching ${PORT_NAME}` })
    .regex(PORT_NAME, { error: `a host.network port name matching ${PORT_NAME}` }),
  queuePairs: intIn(1, 16).optional(),
  mtu: intIn(68, 65535).optional(),
});

const blkDevice = z
  .strictObject({
    kind: z.literal('blk'),
    id: deviceId,
    backend: z.enum(['ram', 'null', 'volume'], { error: "'ram', 'null' or 'volume'" }).optional(),
    volume: nameString(64).optional(),
    capacityMiB: intIn(1, 1024).optional(),
    readOnly: z.boolean({ error: 'true or false' }).optional(),
    queues: intIn(1, 8).optional(),
    core: intIn(0, 1023).optional(),
  })
  .superRefine((d, ctx) => {
    const issue = (path: string, message: string): void =>
      ctx.addIssue({ code: 'custom', path: [path], message, input: d[path as keyof typeof d] });
    if (d.volume !== undefined) {
      if (d.backend !== undefined && d.backend !== 'volume')
        issue('backend', "'volume' (or nothing) with a volume, since the volume holds the data");
      if (d.capacityMiB !== undefined)
        issue('capacityMiB', "no capacity with a volume (the disk is the volume's size)");
    } else if (d.backend === 'volume' || d.backend === undefined) {
      issue('volume', "the name of an open host.storage volume (or backend 'ram' or 'null' with capacityMiB)");
    } else if (d.capacityMiB === undefined) {
      issue('capacityMiB', `an integer in [1, 1024] (MiB) for backend '${d.backend}'`);
    }
  });

/** One device spec, checked (strict: unknown keys are refused; `kind` picks the shape). */
export const vmDeviceSchema = z.discriminatedUnion('kind', [netDevice, blkDevice, vsockDevice], {
  error: (issue) => (issue.code === 'invalid_union' ? "a device kind: 'net', 'blk' or 'vsock'" : undefined),
});

/** The checked spec (strict: unknown keys are refused). */
export const vmSpecSchema = z.strictObject({
  name: z.string({ error: `a name matching ${VM_NAME}` }).regex(VM_NAME, { error: `a name matching ${VM_NAME}` }),
  vcpus: intIn(1, 64),
  memoryMiB: intIn(1, 3072),
  devices: z
    .array(vmDeviceSchema, { error: 'an array of device specs' })
    .max(16, { error: 'at most 16 devices' })
    .optional(),
  vcpuPlacement: z.enum(['shared', 'dedicated'], { error: "'shared' or 'dedicated'" }).optional(),
  vcpuClass: oneOf(VCPU_CLASSES).optional(),
  cpus: cpuListSchema.optional(),
  guest: z
    .strictObject({
      program: z.enum(['idle', 'drivers'], { error: "'idle' or 'drivers'" }),
      udpEchoPort: intIn(0, 65535).optional(),
    })
    .optional(),
});

/** Whether a blk device spec is a disk over a `host.storage` volume. */
export function isVolumeBlk(d: BlkDeviceSpec): d is BlkDeviceSpec & { volume: string } {
  return d.volume !== undefined;
}

/** The device's id in its VM: the one given, else `<kind>0`. */
export function deviceIdOf(d: { kind: string; id?: string | undefined }): string {
  return d.id ?? `${d.kind}0`;
}

/** The id a device given none gets: `<kind><n>`, the smallest n not `taken` (a second disk is blk1). */
export function defaultDeviceId(kind: string, taken: (id: string) => boolean): string {
  let n = 0;
  while (taken(`${kind}${n}`)) n++;
  return `${kind}${n}`;
}

/** The devices with their ids: the given ones kept, each other one a `defaultDeviceId` in order. */
export function withDeviceIds<T extends { kind: string; id?: string | undefined }>(devices: readonly T[]): T[] {
  const used = new Set(devices.flatMap((d) => (d.id === undefined ? [] : [d.id])));
  return devices.map((d) => {
    if (d.id !== undefined) return d;
    const id = defaultDeviceId(d.kind, (x) => used.has(x));
    used.add(id);
    return { ...d, id };
  });
}
