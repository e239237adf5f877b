import { describe, expect, it } from 'vitest';
import type { PauseTrace } from '../../../src/dpu/core/pause-trace.js';
import { parseSwitches, threadWindow } from '../../../src/ops/hot-swap/cpu-timeline.js';
import { attributePause } from '../../../src/ops/hot-swap/pause-attribution.js';

// A tracefs `trace` excerpt (clock mono): the core (tid 100) is preempted on CPU 1 by another
// process's thread (500), then by the guest vCPU (200), and comes back on CPU 1.
const TRACE = `# tracer: nop
#
            node-100     [001] d..2.  1000.000100: sched_switch: prev_comm=node prev_pid=100 prev_prio=110 prev_state=R ==> next_comm=fio worker next_pid=500 next_prio=120
            node-200     [000] d..2.  1000.000150: sched_switch: prev_comm=node prev_pid=200 prev_prio=139 prev_state=R+ ==> next_comm=node next_pid=1 next_prio=120
       fio worker-500    [001] d..2.  1000.000400: sched_switch: prev_comm=fio worker prev_pid=500 prev_prio=120 prev_state=S ==> next_comm=node next_pid=200 next_prio=139
            node-1       [000] d..2.  1000.000420: sched_switch: prev_comm=node prev_pid=1 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
            node-200     [001] d..2.  1000.000500: sched_switch: prev_comm=node prev_pid=200 prev_prio=139 prev_state=R ==> next_comm=node next_pid=100 next_prio=110
`;

const T0 = 1000e9;

function trace(requestedUs: number, doneUs: number): PauseTrace {
  return {
    requestedNs: T0 + requestedUs * 1000,
    doneNs: T0 + doneUs * 1000,
    coreTid: 100,
    boundaryWaitNs: 0,
    commitNs: 0,
    lastPassNs: 410_000,
    lastJobsNs: 5_000,
    gcCount: 0,
    gcUs: 0,
    coreRunNs: null,
    coreWaitNs: null,
    othersRunNs: null,
    unaccountedNs: null,
    coreSwitches: null,
  };
}

describe('commit pause attribution from the CPU timeline', () => {
  it('parses sched_switch lines, names with spaces and the R+ state included', () => {
    const s = parseSwitches(TRACE);
    expect(s).toHaveLength(5);
    expect(s[0]).toEqual({
      cpu: 1,
      atNs: T0 + 100_000,
      prevTid: 100,
      prevState: 'R',
      nextTid: 500,
      nextComm: 'fio worker',
    });
    expect(s[1]!.prevState).toBe('R+');
    expect(parseSwitches('garbage\n')).toEqual([]);
  });

  it('follows a thread: on a CPU, waiting behind whoever held the CPU it was taken off', () => {
    const s = parseSwitches(TRACE);
    const w = threadWindow(s, 100, T0 + 50_000, T0 + 600_000);
    expect(w.onCpuNs).toBeCloseTo(150_000, -2); // 50–100 µs and 500–600 µs
    expect(w.waitingNs).toBeCloseTo(400_000, -2);
    expect(w.blockedNs).toBe(0);
    expect(w.heldBy.map((h) => [h.tid, Math.round(h.ns / 1000)])).toEqual([
      [500, 300],
      [200, 100],
    ]);
    // The guest vCPU: preempted on CPU 0 (R+), ran on CPU 1, preempted again by the core.
    const g = threadWindow(s, 200, T0 + 150_000, T0 + 600_000);
    expect(Math.round(g.waitingNs / 1000)).toBe(350);
    expect(Math.round(g.onCpuNs / 1000)).toBe(100);
    // The control thread blocked (S) at 420 µs: not waiting.
    const c = threadWindow(s, 1, T0 + 150_000, T0 + 600_000);
    expect(Math.round(c.onCpuNs / 1000)).toBe(270);
    expect(Math.round(c.blockedNs / 1000)).toBe(180);
    expect(c.waitingNs).toBe(0);
  });

  it('splits the pause into our code and waits behind the guest, the control thread, our threads and others', () => {
    const s = parseSwitches(TRACE);
    const a = attributePause(trace(80, 560), s, { control: 1, guest: 200 }, new Set([1, 100, 200, 300]), [
      { startNs: T0 + 500_000, endNs: T0 + 700_000 },
    ]);
    expect(a.pauseUs).toBeCloseTo(480, 0);
    expect(a.coreOnCpu).toBeCloseTo(80, 0); // 80–100 and 500–560
    expect(a.coreWaiting).toBeCloseTo(400, 0);
    expect(a.behind.foreign).toBeCloseTo(300, 0);
    expect(a.behind.guest).toBeCloseTo(100, 0);
    expect(a.behind.control).toBe(0);
    expect(a.behind.own).toBe(0);
    expect(a.behind.top).toEqual(['fio worker 300', 'own node 100']);
    expect(a.controlGcUs).toBeCloseTo(60, 0); // the GC overlapping 500–560
    expect(a.lastPassUs).toBe(410);
  });
});
