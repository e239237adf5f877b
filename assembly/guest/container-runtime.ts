// The container runtime of a shared guest: the program every vCPU of a container host runs. It
// multiplexes container tasks on the guest's vCPUs from a table in guest RAM ('GCTB') that the
// host agent writes (the agent owns guest RAM): a slot per container with its state, its CPU
// share and its memory quota (a range of guest RAM that only its task touches).
//
// Table:  +0 u32 magic  +4 u32 capacity (slots)  +8 u32 vcpus  +12 u32 epoch (bumped by the agent
//         after each batch of slot changes)  +16 u32 netGpa, +20 u32 netBytes (the area the agent
//         keeps for the guest's network, 0: none)  +64 + 4*v: u32 seen[v] (the epoch vCPU v runs under)
//         +CT_SLOTS: capacity slots of CT_SLOT_BYTES
// Slot:   +0 u32 state  +4 u32 share (work units per round, 1..1024)  +8 u32 memGpa  +12 u32 memBytes
//         +16 u32 task (CT_TASK_IDLE / CT_TASK_BUSY)  +20 u32 id  +24 u64 units (work done)
//         +32 u64 rounds (rounds it ran in)
//
// Network area (a container host with a NIC): +0 the NIC's own stack (GNET), +CT_NET_VLANS the
// VLAN table of the split (net-trunk.ts); the rest holds rings, buffers and the containers'
// stacks. vCPU 0 runs the split each step once the NIC's stack is there (its magic set last).
//
// A vCPU takes slots v, v + vcpus, v + 2*vcpus, ... Each step first publishes the epoch it runs
// under (seen[v]); once every seen[v] reached the epoch of a change, no vCPU still acts on the
// slot as it was: the agent's acknowledgement that a start, pause or stop took effect.

import {
  VMC_BUSY,
  VMC_CONTINUE,
  VMC_HALT,
  VMC_MAGIC,
  VMC_POWER,
  VMC_RUN,
  VMC_RUNNING,
  VMC_TICKS,
  VMC_WAKE,
} from './vm-control';
import { trunkPoll, TRUNK_VLANS } from './net-trunk';

export const CT_MAGIC: u32 = 0x42544347; // 'GCTB'
export const CT_CAPACITY: u32 = 4;
export const CT_VCPUS: u32 = 8;
export const CT_EPOCH: u32 = 12;
export const CT_NET_GPA: u32 = 16;
export const CT_NET_BYTES: u32 = 20;
export const CT_SEEN: u32 = 64;
/** Where the split's VLAN table lies in the network area, and the least area that holds both. */
export const CT_NET_VLANS: u32 = 16384;
export const CT_NET_MIN_BYTES: u32 = CT_NET_VLANS + TRUNK_VLANS * 4;
/** Frames the split takes per step. */
const NET_BUDGET: u32 = 64;
export const CT_MAX_VCPUS: u32 = 64;
export const CT_SLOTS: u32 = 512;
export const CT_SLOT_BYTES: u32 = 64;

export const CT_STATE: u32 = 0;
export const CT_SHARE: u32 = 4;
export const CT_MEM_GPA: u32 = 8;
export const CT_MEM_BYTES: u32 = 12;
export const CT_TASK: u32 = 16;
export const CT_ID: u32 = 20;
export const CT_UNITS: u32 = 24;
export const CT_ROUNDS: u32 = 32;

export const CT_FREE: u32 = 0;
export const CT_DEFINED: u32 = 1;
export const CT_RUNNING: u32 = 2;
export const CT_PAUSED: u32 = 3;
export const CT_SHUTOFF: u32 = 4;
/** A slot whose memory range lies outside guest RAM: its task never runs. */
export const CT_FAULT: u32 = 5;

/** The container's task waits for nothing and does nothing: a container at rest. */
export const CT_TASK_IDLE: u32 = 0;
/** The container's task always has work: each round it runs `share` units over its memory. */
export const CT_TASK_BUSY: u32 = 1;

/** One unit of a busy task: a word of its memory read, mixed and written back. */
function unit(mem: usize, words: u32, n: u64): void {
  const at = mem + ((<usize>(n % <u64>words)) << 3);
  // SAFETY: at < mem + 8 * words, and [mem, mem + 8 * words) was checked against guest RAM.
  store<u64>(at, (load<u64>(at) ^ n) * 0x9e3779b97f4a7c15 + 1);
}

/**
 * One step of vCPU `vcpu` of a container host whose RAM starts at host address `ram` and is
 * `ramBytes` long, with the table at host address `table` (inside that RAM). Returns VMC_BUSY
 * when a task ran (another round is due at once), VMC_HALT on the power button, else sleeps on
 * the VM's wake word for at most `waitNs` (0: not at all, the caller does the waiting).
 */
export function containerStep(ctl: usize, table: usize, ram: usize, ramBytes: u32, vcpu: u32, waitNs: i64): i32 {
  if (load<u32>(ctl) != VMC_MAGIC) return VMC_HALT;
  if (atomic.load<u32>(ctl, VMC_POWER) != 0) return VMC_HALT;
  const wake = atomic.load<i32>(ctl, VMC_WAKE);
  atomic.add<u64>(ctl + VMC_TICKS, 1);
  if (load<u32>(table) != CT_MAGIC || vcpu >= CT_MAX_VCPUS) return VMC_CONTINUE;
  const capacity = load<u32>(table, CT_CAPACITY);
  const vcpus = load<u32>(table, CT_VCPUS);
  if (vcpus == 0 || vcpu >= vcpus) return VMC_CONTINUE;
  const seen = table + CT_SEEN + ((<usize>vcpu) << 2);
  atomic.store<u32>(seen, atomic.load<u32>(table, CT_EPOCH));
  atomic.notify(seen, 1);
  let busy = false;
  if (vcpu == 0) {
    const g = load<u32>(table, CT_NET_GPA);
    // SAFETY: the area [g, g + CT_NET_MIN_BYTES) is checked against guest RAM before use.
    if (g != 0 && load<u32>(table, CT_NET_BYTES) >= CT_NET_MIN_BYTES && <u64>g + <u64>CT_NET_MIN_BYTES <= <u64>ramBytes)
      if (trunkPoll(ram + <usize>g, ram + <usize>g + CT_NET_VLANS, NET_BUDGET) > 0) busy = true;
  }
  for (let i = vcpu; i < capacity; i += vcpus) {
    const slot = table + CT_SLOTS + <usize>i * CT_SLOT_BYTES;
    if (atomic.load<u32>(slot, CT_STATE) != CT_RUNNING) continue;
    if (load<u32>(slot, CT_TASK) != CT_TASK_BUSY) continue;
    const memGpa = load<u32>(slot, CT_MEM_GPA);
    const memBytes = load<u32>(slot, CT_MEM_BYTES);
    if (memBytes < 8 || <u64>memGpa + <u64>memBytes > <u64>ramBytes) {
      atomic.store<u32>(slot, CT_FAULT, CT_STATE);
      continue;
    }
    const mem = ram + <usize>memGpa;
    const words = memBytes >> 3;
    const share = load<u32>(slot, CT_SHARE);
    let n = load<u64>(slot, CT_UNITS);
    for (let k: u32 = 0; k < share; k++) unit(mem, words, n++);
    atomic.store<u64>(slot + CT_UNITS, n);
    store<u64>(slot, load<u64>(slot, CT_ROUNDS) + 1, CT_ROUNDS);
    busy = true;
  }
  if (busy) return VMC_BUSY;
  if (waitNs > 0 && atomic.load<u32>(ctl, VMC_POWER) == 0 && atomic.load<u32>(ctl, VMC_RUN) == VMC_RUNNING)
    atomic.wait<i32>(ctl + VMC_WAKE, wake, waitNs);
  return VMC_CONTINUE;
}
