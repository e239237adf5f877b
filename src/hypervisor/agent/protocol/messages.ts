import { z } from 'zod';
import { intIn, nameString } from '../../../common/validate.js';
import { VCPU_CLASSES, vcpuSchedSchema } from '../../sched/vcpu-class.js';
import { CONTAINER_MESSAGES } from './containers.js';

/**
 * The host agent protocol, version 1: what the control plane (DPU side) and the host agent (the
 * host's TinyOS) say to each other over one vsock stream. Frames are agent frames
 * (assembly/guest/agent-frame.ts); bodies are UTF-8 JSON checked by the strict schemas below on
 * both ends (unknown keys refused). Every request gets one response with its id; events (id 0)
 * come from the agent unasked. docs/agent-protocol.md describes it for people.
 */
export const AGENT_PORT = 1024;
export const AGENT_PROTOCOL_VERSION = 1;
/** Largest body either end accepts (a list of 1,000 VMs fits). */
export const AGENT_MAX_BODY = 1 << 20;

const u32 = intIn(0, 0xffffffff);
export const vmIdSchema = intIn(1, 0x7fffffff);
export const VM_STATES = ['defined', 'running', 'paused', 'shutoff'] as const;
export type VmState = (typeof VM_STATES)[number];
export const VCPU_PLACEMENTS = ['shared', 'dedicated', 'exclusive'] as const;
export const DEVICE_KINDS = ['net', 'blk', 'vsock'] as const;

const device = z.strictObject({
  id: nameString(32),
  kind: z.enum(DEVICE_KINDS, { error: `one of ${DEVICE_KINDS.map((k) => `'${k}'`).join(', ')}` }),
});

export const vmInfoSchema = z.strictObject({
  id: vmIdSchema,
  name: nameString(48),
  vcpus: intIn(1, 64),
  memoryBytes: z.number().int().positive(),
  /** Host address of guest-physical 0 (the DPU side builds the VM's memory map from it). */
  ramBase: u32,
  state: z.enum(VM_STATES),
  devices: z.array(device),
  /**
   * Host address of vCPU 0's interrupt word, for a VM created with `program`: the vector every
   * queue the guest drives must raise. The vCPU sleeps on it; the agent rings it on every change
   * of the VM's control block.
   */
  irq: u32.optional(),
});
export type VmInfo = z.infer<typeof vmInfoSchema>;

const vmRef = z.strictObject({ vm: vmIdSchema });
const empty = z.strictObject({});
const memoryGrant = z.strictObject({ base: u32, bytes: z.number().int().positive() });

const poolStats = z.strictObject({
  totalBytes: z.number().int().nonnegative(),
  usedBytes: z.number().int().nonnegative(),
  freeBytes: z.number().int().nonnegative(),
  regions: z.number().int().nonnegative(),
});

/** The host agent's own figures, as `agent.stats` answers. */
export interface AgentStats {
  /** Since the agent started, ms. */
  uptimeMs: number;
  /** The agent thread's own CPU time (its worker thread only, not its vCPUs), ns. */
  cpuNs: number;
  /** Requests served. */
  requests: number;
  /** Requests refused or failed. */
  errors: number;
  /** VMs held. */
  vms: number;
  /** vCPUs running (on threads of their own or bound to guest CPUs). */
  vcpuThreads: number;
  /** vCPU threads waiting idle for the next VM. */
  idleVcpuThreads: number;
  /** Guest CPU threads (started with the agent) and the vCPUs bound to them now. */
  guestCpus: { threads: number; boundVcpus: number };
  /** The memory pool the control plane granted: total, used and free bytes, live regions. */
  pool: { totalBytes: number; usedBytes: number; freeBytes: number; regions: number };
}

const agentStats: z.ZodType<AgentStats> = z.strictObject({
  uptimeMs: z.number().nonnegative(),
  cpuNs: z.number().nonnegative(),
  requests: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  vms: z.number().int().nonnegative(),
  vcpuThreads: z.number().int().nonnegative(),
  idleVcpuThreads: z.number().int().nonnegative(),
  guestCpus: z.strictObject({ threads: z.number().int().nonnegative(), boundVcpus: z.number().int().nonnegative() }),
  pool: poolStats,
});

const vcpuStats = z.strictObject({
  index: z.number().int().nonnegative(),
  state: z.enum(['running', 'parked', 'halted', 'exited']),
  /** Iterations of the vCPU's program (its idle loop counts each wake-up). */
  ticks: z.number().int().nonnegative(),
  /** Its scheduling as its thread reported it when the VM started (VMs created with `sched`). */
  placement: z
    .strictObject({
      class: z.enum(VCPU_CLASSES).nullable(),
      tid: z.number().int().nonnegative(),
      requested: z.number().int().nullable(),
      nice: z.number().int(),
      refused: z.boolean(),
      cpus: z.string().nullable(),
      policy: z.enum(['other', 'idle']).nullable(),
    })
    .optional(),
});

/** Every request: its wire type, its arguments and its result. */
export const MESSAGES = {
  hello: {
    type: 1,
    request: z.strictObject({
      /** Protocol versions the client speaks; the agent picks the highest it shares. */
      versions: z.array(intIn(1, 255)).min(1).max(16),
      client: nameString(64),
      /**
       * The host memory the agent may give to guests (its pool), granted once. The agent keeps
       * its last 16 KiB for itself: the doorbells of its guest CPUs.
       */
      memory: memoryGrant,
      /** vCPU threads kept idle between VMs for reuse (0: each ends with its VM). */
      keepVcpus: intIn(0, 1024).optional(),
      /** Guest CPU threads the agent starts once (vCPUs placed shared or exclusive are bound to them). Default 2. */
      guestCpus: intIn(1, 256).optional(),
    }),
    response: z.strictObject({ version: intIn(1, 255), agent: nameString(64), memory: memoryGrant }),
  },
  ping: { type: 2, request: empty, response: empty },
  'agent.stats': { type: 3, request: empty, response: agentStats },
  'vm.create': {
    type: 10,
    request: z.strictObject({
      name: nameString(48),
      vcpus: intIn(1, 64),
      memoryMiB: intIn(1, 3072),
      /** Devices the VM is created with (their backends live on the DPU side; the agent records them). */
      devices: z.array(device).max(16).optional(),
      /**
       * The guest runs the guest agent on vCPU 0 over a vsock driver the firmware laid out at
       * `vsGpa` (its 'GVSK' state), with the agent's state at `gaGpa`. Absent: every vCPU idles.
       */
      guestAgent: z.strictObject({ vsGpa: u32, gaGpa: u32 }).optional(),
      /**
       * The guest drives its own devices on vCPU 0 (assembly/guest/guest-program.ts) from the
       * program block the firmware lays out at `gpa`, beside the guest agent (needs
       * `guestAgent`). The VM's info then names vCPU 0's interrupt word (`irq`). Absent: vCPU 0
       * runs the guest agent alone.
       */
      program: z.strictObject({ gpa: u32 }).optional(),
      /**
       * The VM is a container host: its vCPUs run container tasks from a table of `capacity`
       * slots. With `netBytes`, that much of its RAM after the table is kept for the guest's
       * network (its NIC's rings, buffers and the containers' stacks), given to no container.
       */
      containers: z.strictObject({ capacity: intIn(1, 65535), netBytes: intIn(0, 256 << 20).optional() }).optional(),
      /**
       * Where the vCPUs run: 'shared' (bound to the guest CPUs, several per thread), 'dedicated'
       * (a thread each), 'exclusive' (one on each guest CPU, nothing else on them: bare metal;
       * vcpus must equal the guest CPU count and no other VM may exist). Default 'dedicated'.
       */
      placement: z.enum(VCPU_PLACEMENTS, { error: "one of 'shared', 'dedicated', 'exclusive'" }).optional(),
      /**
       * The vCPUs' priority class and CPUs (src/hypervisor/sched/vcpu-class.ts), applied to each
       * vCPU's own thread: placement 'dedicated' only. Absent: normal, any CPU.
       */
      sched: vcpuSchedSchema.optional(),
    }),
    response: vmInfoSchema,
  },
  'vm.start': { type: 11, request: vmRef, response: vmInfoSchema },
  'vm.pause': { type: 12, request: vmRef, response: vmInfoSchema },
  'vm.resume': { type: 13, request: vmRef, response: vmInfoSchema },
  /** Power off: the vCPUs stop at once, RAM is kept. */
  'vm.stop': { type: 14, request: vmRef, response: vmInfoSchema },
  /** Graceful: the guest is asked to halt and acknowledges by halting its vCPUs (else status timeout). */
  'vm.shutdown': {
    type: 15,
    request: z.strictObject({ vm: vmIdSchema, timeoutMs: intIn(1, 600_000).optional() }),
    response: vmInfoSchema,
  },
  /** Stops the VM if it runs, frees and scrubs its RAM, forgets it. */
  'vm.destroy': { type: 16, request: vmRef, response: vmRef },
  /** Starts vCPU threads ahead (up to keepVcpus idle); answers how many wait idle. */
  'vcpu.warm': {
    type: 22,
    request: z.strictObject({ count: intIn(0, 1024) }),
    response: z.strictObject({ idle: z.number().int().nonnegative() }),
  },
  'vm.list': { type: 17, request: empty, response: z.strictObject({ vms: z.array(vmInfoSchema) }) },
  'vm.stats': {
    type: 18,
    request: vmRef,
    response: z.strictObject({ vm: vmInfoSchema, vcpus: z.array(vcpuStats) }),
  },
  'device.hotplug': { type: 20, request: z.strictObject({ vm: vmIdSchema, device }), response: vmInfoSchema },
  'device.unplug': {
    type: 21,
    request: z.strictObject({ vm: vmIdSchema, device: nameString(32) }),
    response: vmInfoSchema,
  },
  ...CONTAINER_MESSAGES,
} as const;

export type MessageName = keyof typeof MESSAGES;
export type Request<K extends MessageName> = z.input<(typeof MESSAGES)[K]['request']>;
export type Response<K extends MessageName> = z.output<(typeof MESSAGES)[K]['response']>;

/** Events the agent sends unasked. */
export const EVENTS = {
  /** A VM changed state (every transition, whatever caused it). */
  'vm.state': {
    type: 100,
    body: z.strictObject({
      vm: vmIdSchema,
      name: nameString(48),
      state: z.enum([...VM_STATES, 'destroyed']),
      previous: z.enum([...VM_STATES, 'none']),
      /** What caused it: the request's name, or 'guest-halt', 'vcpu-exit'. */
      reason: nameString(32),
    }),
  },
} as const;

export type EventName = keyof typeof EVENTS;
export type EventBody<K extends EventName> = z.output<(typeof EVENTS)[K]['body']>;

const BY_TYPE = new Map<number, MessageName>(
  (Object.entries(MESSAGES) as [MessageName, { type: number }][]).map(([k, v]) => [v.type, k]),
);
const EVENT_BY_TYPE = new Map<number, EventName>(
  (Object.entries(EVENTS) as [EventName, { type: number }][]).map(([k, v]) => [v.type, k]),
);

export function messageName(type: number): MessageName | undefined {
  return BY_TYPE.get(type);
}

export function eventName(type: number): EventName | undefined {
  return EVENT_BY_TYPE.get(type);
}
