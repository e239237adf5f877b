import { setTimeout as sleep } from 'node:timers/promises';
import * as G from '../../generated/guest.js';
import type { VmRam } from '../vms/vm-ram.js';

/** One request to the split: what to send, from which VLAN's stack. */
export interface TrunkRequest {
  /** G.TM_OP_PING. */
  op: number;
  vlan: number;
  /** Destination address as it lies in memory (network order). */
  dst: number;
  ident: number;
  seq: number;
  /** Data bytes. */
  len: number;
}

/** How long an asker waits for a request the split took to be finished, past its deadline. */
const TAKEN_GRACE_MS = 1000;

/**
 * The VM side of the trunk split's mailbox (assembly/guest/net-trunk.ts): a container's own
 * sends are asked of the container host's vCPU 0, which owns the NIC's transmit ring. One asker
 * at a time; a request is posted, taken by the split (compare-exchange) and answered, or
 * withdrawn by an asker whose deadline passed, so it is never sent late.
 */
export class TrunkMailbox {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly ram: VmRam,
    /** GPA of the mailbox (just before the split's VLAN table). */
    private readonly gpa: number,
  ) {}

  /** Runs `fn` once every earlier user of the mailbox is done. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * One request (call inside `exclusive`); resolves with its rc (1 sent, 0 its next hop asked
   * for by ARP first, -1 refused), or null when the split did not answer by `deadline`.
   */
  async ask(r: TrunkRequest, deadline: number): Promise<number | null> {
    const box = this.ram.host(BigInt(this.gpa), G.TRUNK_MAILBOX_BYTES);
    const i32 = new Int32Array(this.ram.sharedBuffer);
    const v = new DataView(this.ram.sharedBuffer);
    const state = (box + G.TM_STATE) >> 2;
    v.setUint32(box + G.TM_OP, r.op, true);
    v.setUint32(box + G.TM_VLAN, r.vlan, true);
    v.setUint32(box + G.TM_DST, r.dst, true);
    v.setUint16(box + G.TM_IDENT, r.ident, true);
    v.setUint16(box + G.TM_SEQ, r.seq, true);
    v.setUint32(box + G.TM_LEN, r.len, true);
    Atomics.store(i32, state, G.TM_POSTED);
    for (;;) {
      if (Atomics.load(i32, state) === G.TM_DONE) {
        Atomics.store(i32, state, G.TM_IDLE);
        return v.getInt32(box + G.TM_RC, true);
      }
      const now = Date.now();
      // Not taken in time: withdrawn. Taken: the split finishes it within its pass, unless the
      // host went away meanwhile (its network laid out anew, or its RAM freed).
      if (now > deadline && Atomics.compareExchange(i32, state, G.TM_POSTED, G.TM_IDLE) === G.TM_POSTED) return null;
      if (now > deadline + TAKEN_GRACE_MS) return null;
      await sleep(1);
    }
  }
}
