// The program of vCPU 0 in a VM whose guest runs the guest agent (guest-agent.ts) over the
// vsock device the firmware laid out in its RAM. The first step boots the agent (starts the
// driver, listens on QGA_PORT); every step then polls it. A SHUTDOWN the agent answered powers
// the whole guest off: this vCPU halts and presses the VM's power word, so the other vCPUs
// (running vmIdleStep) halt too, as a guest OS stops all its CPUs. A driver that fails (its
// device broke) leaves the guest running without its agent.

import { QGA_HALTED, QGA_MAGIC, gagentInit, gagentPoll } from './guest-agent';
import { VMC_CLOCK, VMC_CONTINUE, VMC_HALT, VMC_MAGIC, VMC_POWER, VMC_TICKS, VMC_WAKE, vmIdleStep } from './vm-control';
import { gvsockStart } from './vsock-driver';

/** A guest agent that could not start or whose driver failed: the vCPU idles from then on. */
const GA_FAILED: u32 = 0xdead;

export function vmAgentStep(ctl: usize, vs: usize, ga: usize, waitNs: i64): i32 {
  if (load<u32>(ctl) != VMC_MAGIC) return VMC_HALT;
  if (atomic.load<u32>(ctl, VMC_POWER) != 0) return VMC_HALT;
  const magic = load<u32>(ga);
  if (magic == GA_FAILED) return vmIdleStep(ctl, waitNs);
  if (magic != QGA_MAGIC) {
    if (gvsockStart(vs) != 0 || gagentInit(ga, vs, ctl + VMC_CLOCK, 0) != 0) {
      store<u32>(ga, GA_FAILED);
      return VMC_CONTINUE;
    }
  }
  atomic.add<u64>(ctl + VMC_TICKS, 1);
  const rc = gagentPoll(ga, waitNs);
  if (rc == 0) return VMC_CONTINUE;
  if (rc != QGA_HALTED) {
    store<u32>(ga, GA_FAILED);
    return VMC_CONTINUE;
  }
  atomic.store<u32>(ctl + VMC_POWER, 1);
  atomic.add<i32>(ctl + VMC_WAKE, 1);
  atomic.notify(ctl + VMC_WAKE, 64);
  return VMC_HALT;
}
