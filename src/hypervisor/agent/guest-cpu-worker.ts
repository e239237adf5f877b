import { receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import * as C from '../../generated/guest.js';
import { placeVcpuThread } from '../sched/vcpu-thread.js';

/**
 * A guest CPU: one of the host agent's threads, started with the agent, on which vCPUs are
 * bound (several per thread, as a hypervisor runs many vCPUs on one physical CPU). It takes
 * the guest kernel already compiled. Each turn it steps every bound vCPU's program once with no
 * wait inside the guest, obeying each VM's control block as a vCPU thread does; when no program
 * asked for more, it sleeps on its doorbell until the agent rings it (a bind, a change of a
 * bound VM's control block) or the shortest poll interval of its vCPUs passes.
 */
export interface GuestCpuBoot {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /**
   * Host address of the CPU's two words: +0 the doorbell (bumped and notified by the agent after
   * each message or control change, and by the devices of a bound vCPU that drives them: its
   * interrupt word), +4 the stop flag.
   */
  doorbell: number;
  port: MessagePort;
  nice: number | null;
}

/** Agent → guest CPU. */
export type GuestCpuRequest =
  | { op: 'bind'; slot: number; fn: string; args: (number | bigint)[]; ctl: number; pollMs: number }
  | { op: 'unbind'; slot: number };

/** Guest CPU → agent: a bound vCPU's program ended (it halted, was stopped, or was unbound). */
export type GuestCpuReply =
  | { slot: number; exit: 'halted' | 'stopped' | 'unbound'; steps: number }
  | { slot: number; exit: 'failed'; error: string };

interface Bound {
  slot: number;
  step: (...a: (number | bigint)[]) => number | bigint;
  args: (number | bigint)[];
  ctl: number;
  clock: BigInt64Array;
  pollMs: number;
  parked: boolean;
  steps: number;
}

/** What a program's step returns when it did work and wants another turn at once. */
const BUSY = C.VMC_BUSY;

const boot = workerData as GuestCpuBoot;
// Only normal vCPUs are bound to a shared guest CPU (other classes get threads of their own), so
// the thread runs as a normal vCPU does: its nice value and policy (vcpu-class.ts).
placeVcpuThread('normal', boot.nice, null, null);
const instance = new WebAssembly.Instance(boot.module, { env: { memory: boot.memory } });
const i32 = new Int32Array(boot.memory.buffer);
const db = new Int32Array(boot.memory.buffer, boot.doorbell, 2);
const bound = new Map<number, Bound>();

function bump(ctl: number, off: number, by: number): void {
  const i = (ctl + off) >> 2;
  Atomics.add(i32, i, by);
  Atomics.notify(i32, i);
}

function leave(b: Bound, reply: GuestCpuReply): void {
  bound.delete(b.slot);
  if (b.parked) bump(b.ctl, C.VMC_PARKED, -1);
  boot.port.postMessage(reply);
}

function onMessage(m: GuestCpuRequest): void {
  if (m.op === 'unbind') {
    const b = bound.get(m.slot);
    if (b) leave(b, { slot: b.slot, exit: 'unbound', steps: b.steps });
    return;
  }
  const f = instance.exports[m.fn];
  if (typeof f !== 'function') {
    boot.port.postMessage({ slot: m.slot, exit: 'failed', error: `guest kernel has no function ${m.fn}` });
    return;
  }
  bound.set(m.slot, {
    slot: m.slot,
    step: f as Bound['step'],
    args: m.args,
    ctl: m.ctl,
    clock: new BigInt64Array(boot.memory.buffer, m.ctl + C.VMC_CLOCK, 1),
    pollMs: m.pollMs,
    parked: false,
    steps: 0,
  });
  bump(m.ctl, C.VMC_ENTERED, 1);
}

/** One turn over the bound vCPUs; true when one of them wants another turn at once. */
function turn(): boolean {
  let busy = false;
  for (const b of bound.values()) {
    const run = Atomics.load(i32, (b.ctl + C.VMC_RUN) >> 2);
    if (run === C.VMC_STOPPED) {
      bump(b.ctl, C.VMC_EXITED, 1);
      leave(b, { slot: b.slot, exit: 'stopped', steps: b.steps });
      continue;
    }
    if (run === C.VMC_PAUSED) {
      if (!b.parked) {
        b.parked = true;
        bump(b.ctl, C.VMC_PARKED, 1);
      }
      continue;
    }
    if (b.parked) {
      b.parked = false;
      bump(b.ctl, C.VMC_PARKED, -1);
    }
    Atomics.store(b.clock, 0, process.hrtime.bigint());
    let r: number | bigint;
    try {
      r = b.step(...b.args);
    } catch (e) {
      bump(b.ctl, C.VMC_EXITED, 1);
      leave(b, { slot: b.slot, exit: 'failed', error: String(e) });
      continue;
    }
    b.steps++;
    if (r === BUSY) busy = true;
    else if (r !== 0 && r !== 0n) {
      const i = (b.ctl + C.VMC_HALTED) >> 2;
      Atomics.add(i32, i, 1);
      bump(b.ctl, C.VMC_EXITED, 1);
      Atomics.notify(i32, i);
      leave(b, { slot: b.slot, exit: 'halted', steps: b.steps });
    }
  }
  return busy;
}

for (;;) {
  const seen = Atomics.load(db, 0);
  for (let m = receiveMessageOnPort(boot.port); m; m = receiveMessageOnPort(boot.port))
    onMessage(m.message as GuestCpuRequest);
  if (db[1] !== 0) break;
  if (turn()) continue;
  let pollMs = Infinity;
  for (const b of bound.values()) if (!b.parked && b.pollMs < pollMs) pollMs = b.pollMs;
  Atomics.wait(db, 0, seen, pollMs);
}
boot.port.close();
