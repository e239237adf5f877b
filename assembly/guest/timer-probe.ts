// The timer probe ('GTPR'): a latency-sensitive guest's program that wakes at fixed intervals and
// records how late each wake-up was, the way cyclictest measures a host's scheduling jitter. It
// runs as a VM program (vm-control.ts): the vCPU writes the clock into the control block before
// each step, a step sleeps on the control block's wake word until the next deadline, and the
// next step's clock tells how late the vCPU got back into the guest. The histogram lives in
// guest RAM and is read out of band (src/hypervisor/sched/timer-probe.ts).
//
//   +0  u32 magic   +4 u32 buckets (TP_BUCKETS)
//   +8  u64 intervalNs   +16 u64 next (deadline being waited for, ns; 0 = not armed)
//   +24 u64 samples  +32 u64 sumNs  +40 u64 maxNs  +48 u64 missed (deadlines passed unserved)
//   +56 u64 wakes (steps that returned before the deadline: a control change woke the vCPU)
//   +64 u64 overflow (samples beyond the last bucket, counted in it)
//   +128 u64 bucket[TP_BUCKETS]
//
// Buckets are log-linear (HDR histogram style): values below 16 ns have a bucket each; above,
// every power of two is split in 16, so a bucket's width is at most 1/16 of its lower bound.

import {
  VMC_CLOCK,
  VMC_CONTINUE,
  VMC_HALT,
  VMC_MAGIC,
  VMC_POWER,
  VMC_RUN,
  VMC_RUNNING,
  VMC_TICKS,
  VMC_WAKE,
} from './vm-control';

export const TP_MAGIC: u32 = 0x52505447; // 'GTPR'
export const TP_BUCKETS_WORD: u32 = 4;
export const TP_INTERVAL: u32 = 8;
export const TP_NEXT: u32 = 16;
export const TP_SAMPLES: u32 = 24;
export const TP_SUM: u32 = 32;
export const TP_MAX: u32 = 40;
export const TP_MISSED: u32 = 48;
export const TP_WAKES: u32 = 56;
export const TP_OVERFLOW: u32 = 64;
export const TP_HIST: u32 = 128;
/** Sub-buckets per power of two, as a shift (16). */
export const TP_SUB_BITS: u32 = 4;
/** Powers of two covered: values up to 2^48 ns (78 hours). */
export const TP_TOP_BIT: u32 = 47;
export const TP_BUCKETS: u32 = (TP_TOP_BIT - TP_SUB_BITS + 2) << TP_SUB_BITS;
export const TP_BYTES: u32 = TP_HIST + TP_BUCKETS * 8;

/** The bucket of a value in ns (the last one for values beyond the range). */
export function probeBucket(ns: u64): u32 {
  const sub: u64 = 1 << TP_SUB_BITS;
  if (ns < sub) return <u32>ns;
  const e = <u32>(63 - clz<u64>(ns));
  if (e > TP_TOP_BIT) return TP_BUCKETS - 1;
  const s = (<u32>(ns >> (e - TP_SUB_BITS))) & (<u32>sub - 1);
  return ((e - TP_SUB_BITS + 1) << TP_SUB_BITS) + s;
}

/** Sets up a probe area of TP_BYTES at `p` that wakes every `intervalNs`; 0, or -1 if refused. */
export function probeInit(p: usize, intervalNs: u64): i32 {
  if (intervalNs == 0 || intervalNs > (<u64>1) << 40) return -1;
  memory.fill(p, 0, TP_BYTES);
  store<u32>(p, TP_BUCKETS, TP_BUCKETS_WORD);
  store<u64>(p, intervalNs, TP_INTERVAL);
  atomic.store<u32>(p, TP_MAGIC);
  return 0;
}

/** Records one lateness sample (ns). */
export function probeRecord(p: usize, ns: u64): void {
  const b = probeBucket(ns);
  if (ns >> (TP_TOP_BIT + 1) != 0) atomic.add<u64>(p + TP_OVERFLOW, 1);
  // SAFETY: b < TP_BUCKETS, and the area holds TP_BYTES (checked by the host when it laid it out).
  atomic.add<u64>(p + TP_HIST + ((<usize>b) << 3), 1);
  atomic.add<u64>(p + TP_SUM, ns);
  if (ns > atomic.load<u64>(p + TP_MAX)) atomic.store<u64>(p + TP_MAX, ns);
  atomic.add<u64>(p + TP_SAMPLES, 1);
}

/**
 * One step of the probe program: records the lateness of the deadline just reached (if it was
 * reached: a step woken early by a control change records nothing), moves the deadline on
 * (deadlines that already passed are counted as missed, not recorded), and sleeps on the wake
 * word until the next one. Halts when the power button is pressed, like vmIdleStep.
 */
export function probeStep(ctl: usize, p: usize): i32 {
  if (load<u32>(ctl) != VMC_MAGIC || atomic.load<u32>(p) != TP_MAGIC) return VMC_HALT;
  if (atomic.load<u32>(ctl, VMC_POWER) != 0) return VMC_HALT;
  const seen = atomic.load<i32>(ctl + VMC_WAKE);
  const now = atomic.load<u64>(ctl + VMC_CLOCK);
  const interval = load<u64>(p, TP_INTERVAL);
  let next = load<u64>(p, TP_NEXT);
  atomic.add<u64>(ctl + VMC_TICKS, 1);
  if (next == 0) {
    next = now + interval;
  } else if (now >= next) {
    probeRecord(p, now - next);
    next += interval;
    if (next <= now) {
      const behind = (now - next) / interval + 1;
      atomic.add<u64>(p + TP_MISSED, behind);
      next += behind * interval;
    }
  } else {
    atomic.add<u64>(p + TP_WAKES, 1);
  }
  atomic.store<u64>(p + TP_NEXT, next);
  if (atomic.load<u32>(ctl, VMC_POWER) == 0 && atomic.load<u32>(ctl, VMC_RUN) == VMC_RUNNING)
    atomic.wait<i32>(ctl + VMC_WAKE, seen, <i64>(next - now));
  return VMC_CONTINUE;
}
