import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import * as G from '../../../src/generated/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import {
  histogramQuantile,
  probeBucketRange,
  readProbeBuckets,
  readTimerProbe,
  TIMER_PROBE_BYTES,
} from '../../../src/hypervisor/sched/timer-probe.js';
import { HostMemory } from '../../../src/memory/host-memory.js';

type Fn = (...a: (number | bigint)[]) => number | bigint;
const MIB = 1 << 20;

function rig() {
  const memory = new HostMemory({ sizeBytes: 16 * MIB });
  const rt = new LoaderRuntime(memory);
  const k = rt.kernel('guest');
  const fn = (name: string): Fn => k.fn<Fn>(name);
  const area = memory.alloc({ name: 'probe', owner: 't', kind: 'guest-ram', sizeBytes: TIMER_PROBE_BYTES });
  return { memory, fn, probe: area.base };
}

/** The timer probe's histogram (assembly/guest/timer-probe.ts) and its out-of-band reader. */
describe('timer probe histogram', () => {
  it('puts every value in the bucket whose range holds it, and the ranges tile the line', () => {
    const { fn } = rig();
    let expectLow = 0;
    for (let b = 0; b < G.TP_BUCKETS; b++) {
      const [lo, hi] = probeBucketRange(b);
      expect(lo).toBe(expectLow);
      expect(hi).toBeGreaterThan(lo);
      // No bucket is wider than 1/16 of its lower bound (beyond the exact ones).
      if (lo >= 16) expect(hi - lo).toBeLessThanOrEqual(lo / 16);
      expectLow = hi;
    }
    const values = [0, 1, 15, 16, 17, 31, 32, 33, 1000, 1023, 1024, 65_535, 1_000_000, 2 ** 40 + 12345, 2 ** 48 - 1];
    for (const v of values) {
      const b = Number(fn('gprobe_bucket')(BigInt(v)));
      const [lo, hi] = probeBucketRange(b);
      expect(lo <= v && v < hi, `${v} in bucket ${b} [${lo}, ${hi})`).toBe(true);
    }
    // Beyond the range: the last bucket.
    expect(Number(fn('gprobe_bucket')(2n ** 60n))).toBe(G.TP_BUCKETS - 1);
    expect(() => probeBucketRange(G.TP_BUCKETS)).toThrow(/timer probe bucket: expected an integer in \[0, \d+\], got/);
  });

  it('reads back exactly what was recorded: counts, sum, max, and quantiles inside their buckets', () => {
    const { memory, fn, probe } = rig();
    expect(fn('gprobe_init')(probe, 1_000_000n)).toBe(0);
    // 1000 samples: 990 at 10 µs, 9 at 1 ms, 1 at 50 ms.
    const samples = [...Array<number>(990).fill(10_000), ...Array<number>(9).fill(1_000_000), 50_000_000];
    for (const v of samples) fn('gprobe_record')(probe, BigInt(v));
    const r = readTimerProbe(memory.view, probe);
    expect(r.samples).toBe(1000);
    expect(r.intervalNs).toBe(1_000_000);
    expect(r.maxNs).toBe(50_000_000);
    expect(r.meanNs).toBe(samples.reduce((a, b) => a + b, 0) / 1000);
    const within = (got: number, v: number): void => {
      const b = Number(fn('gprobe_bucket')(BigInt(v)));
      const [lo, hi] = probeBucketRange(b);
      expect(got).toBeGreaterThanOrEqual(lo);
      expect(got).toBeLessThan(hi);
    };
    within(r.p50Ns, 10_000); // rank 500
    within(r.p99Ns, 10_000); // rank 990 is the last 10 µs sample
    within(r.p999Ns, 1_000_000); // rank 999
    const buckets = readProbeBuckets(memory.view, probe);
    expect(buckets.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(buckets[Number(fn('gprobe_bucket')(10_000n))]).toBe(990);
    expect(histogramQuantile(buckets, 1000, 1, r.maxNs)).toBe(50_000_000);
    expect(histogramQuantile(new Float64Array(G.TP_BUCKETS), 0, 0.5, 0)).toBe(0);
  });

  it('refuses a bad interval and an address with no probe', () => {
    const { memory, fn, probe } = rig();
    expect(fn('gprobe_init')(probe, 0n)).toBe(-1);
    expect(fn('gprobe_init')(probe, 2n ** 41n)).toBe(-1);
    try {
      readTimerProbe(memory.view, probe);
      throw new Error('accepted');
    } catch (e) {
      expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
      expect((e as Error).message).toMatch(/no probe there/);
    }
    expect(() => readTimerProbe(memory.view, probe + 4)).toThrow(/8-byte aligned/);
  });

  it('runs as a vCPU program: samples only deadlines reached, stops on the run word, halts on power', async () => {
    const { memory, fn, probe } = rig();
    const ctl = memory.alloc({ name: 'ctl', owner: 't', kind: 'device-state', sizeBytes: G.VMC_BYTES }).base;
    const v = memory.view;
    v.setUint32(ctl, G.VMC_MAGIC, true);
    v.setUint32(ctl + G.VMC_VCPUS, 1, true);
    expect(fn('gprobe_init')(probe, 200_000n)).toBe(0);
    const vcpu = new GuestVcpu(memory, 'probe', { class: 'latency-sensitive' });
    try {
      const run = vcpu.runProgram('gvm_probe', [ctl, probe], ctl);
      const i32 = memory.i32;
      // Wait (no timing asserted) until it recorded 50 deadlines.
      while (Number(v.getBigUint64(probe + G.TP_SAMPLES, true)) < 50) {
        const w = Atomics.waitAsync(i32, (ctl + G.VMC_TICKS) >> 2, Atomics.load(i32, (ctl + G.VMC_TICKS) >> 2), 50);
        if (w.async) await w.value;
      }
      // A wake-up before the deadline (a control change) is not a sample.
      const before = readTimerProbe(v, probe);
      Atomics.store(i32, (ctl + G.VMC_POWER) >> 2, 1);
      Atomics.add(i32, (ctl + G.VMC_WAKE) >> 2, 1);
      Atomics.notify(i32, (ctl + G.VMC_WAKE) >> 2);
      const r = await run;
      expect(r.exit).toBe('halted');
      const after = readTimerProbe(v, probe);
      expect(after.samples).toBeGreaterThanOrEqual(before.samples);
      const buckets = readProbeBuckets(v, probe);
      expect(buckets.reduce((a, b) => a + b, 0)).toBe(after.samples);
      // Each step either served a deadline, skipped some (missed), or was woken early.
      const ticks = Number(v.getBigUint64(ctl + G.VMC_TICKS, true));
      expect(ticks).toBeGreaterThanOrEqual(after.samples + 1); // +1: the step that armed the first deadline
      expect(after.p50Ns).toBeLessThanOrEqual(after.p99Ns);
      expect(after.p99Ns).toBeLessThanOrEqual(after.p999Ns);
      expect(after.p999Ns).toBeLessThanOrEqual(after.maxNs);
      expect(after.meanNs).toBeLessThanOrEqual(after.maxNs);
    } finally {
      await vcpu.stop();
    }
  });
});
