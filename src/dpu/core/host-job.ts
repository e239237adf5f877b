/**
 * Host jobs: TypeScript that a DPU core runs before its kernels' bursts, on the core's own
 * thread. A miss of the fast path is then decided on the core that saw it, as OVS-DPDK's PMD
 * threads run their upcalls themselves, instead of being handed to another thread and back (two
 * thread wake-ups per first packet, each tens of µs on a shared machine).
 *
 * A kind names a module the core imports the first time it is asked for one; the module's
 * `createHostJob(memory, init)` builds the job from plain data (JSON the command points at).
 */
export interface HostJob {
  /** Does what is waiting; returns how much (0: idle). Called once per pass of the core. */
  poll(): number;
  /** The longest the core may sleep before this job needs a poll (ms), or Infinity. */
  sleepMs(): number;
  /** Called once, after the job's last poll (detach, or the core stopping). */
  close(): void;
}

export type HostJobFactory = (memory: WebAssembly.Memory, init: unknown) => HostJob;

/** The host job kinds, by index in AttachHostJob; each is a module exporting `createHostJob`. */
export const HOST_JOB_KINDS = ['net-slow-path'] as const;
export type HostJobKind = (typeof HOST_JOB_KINDS)[number];

/** Imports a kind's module (on the core's thread, once). */
export async function importHostJob(kind: HostJobKind): Promise<HostJobFactory> {
  switch (kind) {
    case 'net-slow-path':
      return (await import('../net/slow-path-host-job.js')).createHostJob;
  }
}
