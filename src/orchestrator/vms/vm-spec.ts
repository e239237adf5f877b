import { z } from 'zod';
import { intIn } from '../../common/validate.js';

/**
 * A vsock device of a VM: its guest CID, the DPU core that serves it, and whether the guest
 * runs the guest agent on it (vCPU 0, port 1025: ping, info, acknowledged shutdown).
 */
export interface VsockDeviceSpec {
  /** The device kind. */
  kind: 'vsock';
  /** The device's name inside the VM. Default 'vsock0'. */
  id?: string | undefined;
  /** The guest's CID, 3–0xfffffffe, unique on the host (the host agent's CID is taken). */
  cid: number;
  /** DPU core that serves the device. Default: the manager's core. */
  core?: number | undefined;
  /** The guest runs the guest agent on vCPU 0. Default true. */
  guestAgent?: boolean | undefined;
}

/**
 * A device of a VM, by `kind`. Only 'vsock' exists today; the spec is a union on `kind` so that
 * network ports and block volumes join it as further members.
 */
export type VmDeviceSpec = VsockDeviceSpec;

/** What `host.vms.create` takes. */
export interface VmSpec {
  /** Unique on the host: letters, digits, '.', '_', '-', at most 48, starting with a letter or digit. */
  name: string;
  /** vCPU threads, 1–64. */
  vcpus: number;
  /** Guest RAM in MiB, 1–3072 (taken from the host agent's pool). */
  memoryMiB: number;
  /** At most 16 devices; ids unique within the VM. Default none. */
  devices?: VmDeviceSpec[] | undefined;
  /**
   * Where the vCPUs run: 'shared' — bound to the host agent's guest CPUs (no thread started
   * per vCPU: the fast start); 'dedicated' — a thread of its own per vCPU. Default 'shared'.
   */
  vcpuPlacement?: 'shared' | 'dedicated' | undefined;
}

const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;
const DEVICE_ID = /^[a-z][a-z0-9-]{0,31}$/;

const vsockDevice = z.strictObject({
  kind: z.literal('vsock', { error: "'vsock' (network ports and block volumes are not available yet)" }),
  id: z
    .string()
    .regex(DEVICE_ID, { error: `a device id matching ${DEVICE_ID}` })
    .optional(),
  cid: intIn(3, 0xfffffffe),
  core: intIn(0, 1023).optional(),
  guestAgent: z.boolean({ error: 'true or false' }).optional(),
});

/** The checked spec (strict: unknown keys are refused). */
export const vmSpecSchema = z.strictObject({
  name: z.string({ error: `a name matching ${VM_NAME}` }).regex(VM_NAME, { error: `a name matching ${VM_NAME}` }),
  vcpus: intIn(1, 64),
  memoryMiB: intIn(1, 3072),
  devices: z
    .array(vsockDevice, { error: 'an array of device specs' })
    .max(16, { error: 'at most 16 devices' })
    .optional(),
  vcpuPlacement: z.enum(['shared', 'dedicated'], { error: "'shared' or 'dedicated'" }).optional(),
});
