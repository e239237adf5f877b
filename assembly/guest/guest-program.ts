// The program of vCPU 0 in a VM whose guest drives its own devices ('drivers'): the guest agent
// over the vsock device, the NIC's driver and stack (ARP, ping and UDP echo answered, pings
// sent on request) and the disk's checked job, all from the block the firmware laid out
// (program-state.ts). Every driven queue raises one interrupt word, vCPU 0's (an MSI-X vector
// routed to this vCPU), and so does the host agent when it changes the control block: a step
// with nothing to do sleeps on that word, so an idle guest costs its host nothing and a frame
// that arrives wakes it at once. A paused vCPU runs no step: its devices get no answer.

import { QGA_BUSY, QGA_HALTED, QGA_MAGIC, gagentInit, gagentRound, gagentSetProgram } from './guest-agent';
import { blkJobStep } from './blk-job';
import { GN_PING_REPLIES } from './net-state';
import { arpLookup, netPoll } from './net-stack';
import { pingSend } from './net-traffic';
import {
  GP_BLK,
  GP_IRQ,
  GP_MAGIC,
  GP_NET,
  GP_PING_BASE,
  GP_PING_COUNT,
  GP_PING_DST,
  GP_PING_IDENT,
  GP_PING_LAST,
  GP_PING_PENDING,
  GP_PING_RUNS,
  GP_PING_SENT,
  GP_SLEEPS,
  GP_STEPS,
} from './program-state';
import {
  VMC_BUSY,
  VMC_CLOCK,
  VMC_CONTINUE,
  VMC_HALT,
  VMC_MAGIC,
  VMC_POWER,
  VMC_RUN,
  VMC_RUNNING,
  VMC_TICKS,
  VMC_WAKE,
  vmIdleStep,
} from './vm-control';
import { gvsockStart } from './vsock-driver';

/** A guest agent that could not start or whose driver failed: the drivers go on without it. */
const GA_FAILED: u32 = 0xdead;
/** Frames the stack takes per step. */
const NET_BUDGET: u32 = 64;
/** How long a ping waits for its reply before the next goes, and an ARP request for its answer. */
const PING_TIMEOUT_NS: u64 = 200_000_000;
const ARP_RETRY_NS: u64 = 20_000_000;

/** Sends the next ping of a run when the last was answered or timed out. Returns 1 when one went out. */
function pingTask(prog: usize, st: usize, now: u64): u32 {
  const count = load<u32>(prog, GP_PING_COUNT);
  const sent = load<u32>(prog, GP_PING_SENT);
  if (sent >= count) return 0;
  const pending = load<u32>(prog, GP_PING_PENDING);
  const replies = atomic.load<u32>(st, GN_PING_REPLIES) - load<u32>(prog, GP_PING_BASE);
  // The last ping was answered, or the address it waited for is resolved now: the next goes at once.
  const ready = pending == 1 ? replies >= sent : arpLookup(st, load<u32>(prog, GP_PING_DST)) != 0;
  if (pending != 0 && !ready && now - load<u64>(prog, GP_PING_LAST) < (pending == 1 ? PING_TIMEOUT_NS : ARP_RETRY_NS))
    return 0;
  store<u64>(prog, now, GP_PING_LAST);
  const ident = (GP_PING_IDENT + load<u32>(prog, GP_PING_RUNS)) & 0xffff;
  if (pingSend(st, load<u32>(prog, GP_PING_DST), ident, sent + 1, 56) != 1) {
    // Not resolved yet: an ARP request went out instead.
    store<u32>(prog, 2, GP_PING_PENDING);
    return 0;
  }
  store<u32>(prog, sent + 1, GP_PING_SENT);
  store<u32>(prog, 1, GP_PING_PENDING);
  return 1;
}

/**
 * One step of vCPU 0: `ctl` its VM's control block, `prog` the program block, `vs`/`ga` the
 * guest agent's vsock driver and state. Returns VMC_BUSY when it did work, VMC_HALT on the power
 * button or an answered SHUTDOWN, else VMC_CONTINUE after sleeping on the interrupt word for at
 * most `waitNs` (0: not at all, a shared guest CPU does the waiting).
 */
export function guestProgramStep(ctl: usize, prog: usize, vs: usize, ga: usize, waitNs: i64): i32 {
  if (load<u32>(ctl) != VMC_MAGIC) return VMC_HALT;
  if (atomic.load<u32>(ctl, VMC_POWER) != 0) return VMC_HALT;
  if (atomic.load<u32>(prog) != GP_MAGIC) return vmIdleStep(ctl, waitNs);
  const irq = <usize>load<u32>(prog, GP_IRQ);
  // Read before any ring is looked at: an interrupt raised after this makes the wait return at once.
  const seen = atomic.load<i32>(irq);
  atomic.add<u64>(ctl + VMC_TICKS, 1);
  store<u64>(prog, load<u64>(prog, GP_STEPS) + 1, GP_STEPS);
  const now = atomic.load<u64>(ctl + VMC_CLOCK);
  let busy = false;
  const magic = load<u32>(ga);
  if (magic != GA_FAILED) {
    if (magic != QGA_MAGIC) {
      if (gvsockStart(vs) != 0 || gagentInit(ga, vs, ctl + VMC_CLOCK, 0) != 0) store<u32>(ga, GA_FAILED);
      else gagentSetProgram(ga, prog);
      busy = true;
    } else {
      const rc = gagentRound(ga, 0);
      if (rc == QGA_HALTED) {
        atomic.store<u32>(ctl + VMC_POWER, 1);
        atomic.add<i32>(ctl + VMC_WAKE, 1);
        atomic.notify(ctl + VMC_WAKE, 64);
        return VMC_HALT;
      }
      if (rc == QGA_BUSY) busy = true;
      else if (rc < 0) store<u32>(ga, GA_FAILED);
    }
  }
  const st = <usize>load<u32>(prog, GP_NET);
  let pinging = false;
  if (st != 0) {
    if (netPoll(st, NET_BUDGET) != 0) busy = true;
    if (pingTask(prog, st, now) != 0) busy = true;
    pinging = load<u32>(prog, GP_PING_SENT) < load<u32>(prog, GP_PING_COUNT);
  }
  const job = <usize>load<u32>(prog, GP_BLK);
  if (job != 0 && blkJobStep(job, now) != 0) busy = true;
  if (busy) return VMC_BUSY;
  if (waitNs > 0 && atomic.load<u32>(ctl, VMC_POWER) == 0 && atomic.load<u32>(ctl, VMC_RUN) == VMC_RUNNING) {
    store<u64>(prog, load<u64>(prog, GP_SLEEPS) + 1, GP_SLEEPS);
    // A ping run retries on its own clock; otherwise only an interrupt or the host agent wakes us.
    const limit = pinging && <u64>waitNs > ARP_RETRY_NS ? <i64>ARP_RETRY_NS : waitNs;
    atomic.wait<i32>(irq, seen, limit);
  }
  return VMC_CONTINUE;
}
