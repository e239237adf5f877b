// A VM's control block ('GVMC'): the words through which the host agent runs, parks and powers
// off a VM's vCPUs, like the run state a hypervisor keeps per vCPU plus an ACPI power button. It
// is host memory outside guest RAM; the vCPU threads read and update it between guest calls.
//
//   +0  u32 magic   +4 u32 run (VMC_RUNNING / VMC_PAUSED / VMC_STOPPED)   +8 u32 parked (vCPUs)
//   +12 u32 power   1 = the button was pressed (a graceful shutdown is asked for)
//   +16 u32 halted  vCPUs that halted (acknowledged a shutdown)   +20 u32 vcpus
//   +24 u32 exited  vCPUs whose program ended                      +28 i32 wake (bumped on every change)
//   +32 u64 ticks   iterations of the guest programs (proof the vCPUs run)
//   +40 u64 clock   ns, written by each vCPU before it enters the guest (time is injected)
//   +48 u32 entered vCPUs that entered their program since the last start (a start is done at vcpus)
//   +52 i32 irq     vCPU 0's interrupt word when the guest drives its devices: the vector every
//                   driven queue raises (like a posted-interrupt descriptor: the hypervisor's memory,
//                   written by the device) and that the agent rings on every change of this block

export const VMC_MAGIC: u32 = 0x434d5647; // 'GVMC'
export const VMC_RUN: u32 = 4;
export const VMC_PARKED: u32 = 8;
export const VMC_POWER: u32 = 12;
export const VMC_HALTED: u32 = 16;
export const VMC_VCPUS: u32 = 20;
export const VMC_EXITED: u32 = 24;
export const VMC_WAKE: u32 = 28;
export const VMC_TICKS: u32 = 32;
export const VMC_CLOCK: u32 = 40;
export const VMC_ENTERED: u32 = 48;
export const VMC_IRQ: u32 = 52;
export const VMC_BYTES: u32 = 64;

export const VMC_RUNNING: u32 = 0;
export const VMC_PAUSED: u32 = 1;
export const VMC_STOPPED: u32 = 2;

/** What a guest program's step returns: keep going, or the vCPU halts (it acknowledged a shutdown). */
export const VMC_CONTINUE: i32 = 0;
export const VMC_HALT: i32 = 1;
/** A step that did work and wants the CPU again at once (a thread running several vCPUs gives no sleep). */
export const VMC_BUSY: i32 = 2;

/**
 * The program of a VM with no workload: one step sleeps on the control block's wake word for at
 * most `waitNs` (costing its host nothing while idle) and halts when the power button is pressed.
 */
export function vmIdleStep(ctl: usize, waitNs: i64): i32 {
  if (load<u32>(ctl) != VMC_MAGIC) return VMC_HALT;
  if (atomic.load<u32>(ctl, VMC_POWER) != 0) return VMC_HALT;
  const seen = atomic.load<i32>(ctl, VMC_WAKE);
  atomic.add<u64>(ctl + VMC_TICKS, 1);
  if (atomic.load<u32>(ctl, VMC_POWER) == 0 && atomic.load<u32>(ctl, VMC_RUN) == VMC_RUNNING)
    atomic.wait<i32>(ctl + VMC_WAKE, seen, waitNs);
  return VMC_CONTINUE;
}
