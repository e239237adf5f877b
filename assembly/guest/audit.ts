// Exactly-once audit of loopback traffic, for hot-swap runs: every completion is checked against
// its request, marked in a bitmap by sequence number (a second mark is a duplicate; an unmarked
// number below `added` after the drain is a lost request), and tallied by the version stamp the
// device wrote into the response (bytes 8..11, LBF_STAMP). Each change of version in completion
// order is logged, so a test can see where each swap took effect.
//
// Audit area 'GAUD' (in guest RAM, zeroed by gaudit_init):
//   +0  u32 magic   +4 u32 maxTransitions   +8 u32 transitions   +12 u32 lastVersion
//   +16 u64 bits (sequence numbers 1..bits are tracked)   +24 u64 duplicates   +32 u64 wrong
//   +40 u64 beyond (sequence numbers past `bits`)         +48 u64 untallied (more than TALLY_SLOTS versions)
//   +64 tally[TALLY_SLOTS]: { u32 version; u32 used; u64 count }
//   +64 + 16·TALLY_SLOTS  transitions[maxTransitions]: { u64 seq; u32 from; u32 to }
//   then the bitmap, bits/8 bytes rounded up to 8

import { GD_ERRORS, GD_IRQ, GD_IRQ_WAITS, GD_RAM, GD_SIZE, GD_ADDED, GD_COMPLETED, bump } from './driver-state';
import { drvDisableIrq, drvEnableIrq, drvKick, drvReap } from './driver';
import { GLOOP_HALF_BYTES, GLOOP_PAIR_BYTES, post } from './loopback-traffic';

export const GA_MAGIC: u32 = 0x44554147; // 'GAUD'
export const GA_MAX_TRANSITIONS: u32 = 4;
export const GA_TRANSITIONS: u32 = 8;
export const GA_LAST_VERSION: u32 = 12;
export const GA_BITS: u32 = 16;
export const GA_DUPLICATES: u32 = 24;
export const GA_WRONG: u32 = 32;
export const GA_BEYOND: u32 = 40;
export const GA_UNTALLIED: u32 = 48;
export const GA_TALLY: u32 = 64;
export const GA_TALLY_SLOTS: u32 = 16;
export const GA_TRANSITION_BYTES: u32 = 16;
// A tally slot: { u32 version; u32 used; u64 count }.
export const GA_SLOT_BYTES: u32 = 16;
export const GA_SLOT_VERSION: u32 = 0;
export const GA_SLOT_USED: u32 = 4;
export const GA_SLOT_COUNT: u32 = 8;
// A transition: { u64 seq; u32 from; u32 to }.
export const GA_TR_SEQ: u32 = 0;
export const GA_TR_FROM: u32 = 8;
export const GA_TR_TO: u32 = 12;

@inline function transitionsAt(audit: usize): usize {
  return audit + GA_TALLY + GA_TALLY_SLOTS * GA_SLOT_BYTES;
}

@inline function bitmapAt(audit: usize): usize {
  return transitionsAt(audit) + <usize>load<u32>(audit, GA_MAX_TRANSITIONS) * GA_TRANSITION_BYTES;
}

export function auditBytes(maxTransitions: u32, bits: u32): u32 {
  return GA_TALLY + GA_TALLY_SLOTS * GA_SLOT_BYTES + maxTransitions * GA_TRANSITION_BYTES + (((bits + 63) >> 6) << 3);
}

export function auditInit(audit: usize, maxTransitions: u32, bits: u32): i32 {
  if (bits == 0 || maxTransitions == 0) return -1;
  memory.fill(audit, 0, auditBytes(maxTransitions, bits));
  store<u32>(audit, GA_MAGIC);
  store<u32>(audit, maxTransitions, GA_MAX_TRANSITIONS);
  store<u64>(audit, <u64>bits, GA_BITS);
  return 0;
}

function tally(audit: usize, version: u32): void {
  for (let i: u32 = 0; i < GA_TALLY_SLOTS; i++) {
    const slot = audit + GA_TALLY + ((<usize>i) << 4); // GA_SLOT_BYTES apart
    if (load<u32>(slot, GA_SLOT_USED) == 0) {
      store<u32>(slot, version, GA_SLOT_VERSION);
      store<u32>(slot, 1, GA_SLOT_USED);
    }
    if (load<u32>(slot, GA_SLOT_VERSION) == version) {
      store<u64>(slot, load<u64>(slot, GA_SLOT_COUNT) + 1, GA_SLOT_COUNT);
      return;
    }
  }
  bump(audit, GA_UNTALLIED);
}

function audited(drv: usize, bufGpa: u64, out: usize, cnt: u32, audit: usize): void {
  const base = <usize>load<u32>(drv, GD_RAM) + <usize>bufGpa;
  const bits = load<u64>(audit, GA_BITS);
  const bitmap = bitmapAt(audit);
  for (let i: u32 = 0; i < cnt; i++) {
    const t = load<u32>(out + ((<usize>i) << 3));
    const len = load<u32>(out + ((<usize>i) << 3), 4);
    const pair = base + <usize>(t * GLOOP_PAIR_BYTES);
    // SAFETY: t < N (the driver only returns tokens it handed out) and the buffer area holds N pairs.
    const seq = load<u64>(pair);
    if (len != GLOOP_HALF_BYTES || seq != load<u64>(pair + GLOOP_HALF_BYTES)) {
      bump(drv, GD_ERRORS);
      bump(audit, GA_WRONG);
      continue;
    }
    if (seq == 0 || seq > bits) {
      bump(audit, GA_BEYOND);
    } else {
      const at = bitmap + <usize>((seq - 1) >> 3);
      const bit = <u8>((<u32>1) << u32((seq - 1) & 7));
      const was = load<u8>(at);
      if ((was & bit) != 0) bump(audit, GA_DUPLICATES);
      else store<u8>(at, was | bit);
    }
    const version = load<u32>(pair + GLOOP_HALF_BYTES + 8);
    tally(audit, version);
    const last = load<u32>(audit, GA_LAST_VERSION);
    if (version != last) {
      const n = load<u32>(audit, GA_TRANSITIONS);
      if (n < load<u32>(audit, GA_MAX_TRANSITIONS)) {
        const rec = transitionsAt(audit) + <usize>n * GA_TRANSITION_BYTES;
        store<u64>(rec, seq, GA_TR_SEQ);
        store<u32>(rec, last, GA_TR_FROM);
        store<u32>(rec, version, GA_TR_TO);
      }
      store<u32>(audit, n + 1, GA_TRANSITIONS);
      store<u32>(audit, version, GA_LAST_VERSION);
    }
  }
}

/** loopback-traffic's pump (ring kept full, `budget` rounds) with every completion audited. */
export function pumpAudited(drv: usize, bufGpa: u64, scratch: usize, budget: u32, audit: usize): u32 {
  drvDisableIrq(drv); // polling: no interrupts wanted
  const n = load<u32>(drv, GD_SIZE);
  let done: u32 = 0;
  for (let r: u32 = 0; r < budget; r++) {
    while (post(drv, bufGpa) >= 0);
    drvKick(drv);
    const c = drvReap(drv, scratch, n);
    audited(drv, bufGpa, scratch, c, audit);
    done += c;
  }
  return done;
}

/**
 * pumpAudited for a guest that does not spin: when a round reaps nothing, it turns interrupts
 * on (with the re-check) and sleeps on its interrupt word for at most `waitNs`, as a guest
 * kernel's driver would, leaving its CPU to others meanwhile.
 */
export function pumpAuditedIrq(drv: usize, bufGpa: u64, scratch: usize, budget: u32, audit: usize, waitNs: i64): u32 {
  const n = load<u32>(drv, GD_SIZE);
  const irq = <usize>load<u32>(drv, GD_IRQ);
  let done: u32 = 0;
  for (let r: u32 = 0; r < budget; r++) {
    while (post(drv, bufGpa) >= 0);
    drvKick(drv);
    let c = drvReap(drv, scratch, n);
    if (c == 0) {
      const seen = atomic.load<i32>(irq);
      if (drvEnableIrq(drv) == 0) {
        bump(drv, GD_IRQ_WAITS);
        atomic.wait<i32>(irq, seen, waitNs);
      }
      drvDisableIrq(drv);
      c = drvReap(drv, scratch, n);
    }
    audited(drv, bufGpa, scratch, c, audit);
    done += c;
  }
  return done;
}

/**
 * Reaps until every request added has completed (or spinLimit polls pass), auditing each.
 * Returns requests outstanding.
 */
export function drainAudited(drv: usize, bufGpa: u64, scratch: usize, spinLimit: u32, audit: usize): u32 {
  const n = load<u32>(drv, GD_SIZE);
  for (let s: u32 = 0; s < spinLimit; s++) {
    if (load<u64>(drv, GD_ADDED) == load<u64>(drv, GD_COMPLETED)) return 0;
    drvKick(drv);
    audited(drv, bufGpa, scratch, drvReap(drv, scratch, n), audit);
  }
  return <u32>(load<u64>(drv, GD_ADDED) - load<u64>(drv, GD_COMPLETED));
}

/** Sequence numbers in [1, upTo] (at most `bits`) never completed. */
export function auditMissing(audit: usize, upTo: u64): u64 {
  const bits = load<u64>(audit, GA_BITS);
  const top = upTo < bits ? upTo : bits;
  const bitmap = bitmapAt(audit);
  let missing: u64 = 0;
  const whole = top >> 6;
  for (let w: u64 = 0; w < whole; w++) missing += 64 - popcnt<u64>(load<u64>(bitmap + <usize>(w << 3)));
  for (let s = whole << 6; s < top; s++) {
    if ((((<u32>load<u8>(bitmap + <usize>(s >> 3))) >> (<u32>(s & 7))) & 1) == 0) missing++;
  }
  return missing;
}
