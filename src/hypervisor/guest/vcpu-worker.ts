import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import * as C from '../../generated/guest.js';
import type { VcpuClass, VcpuPlacement } from '../sched/vcpu-class.js';
import { placeVcpuThread, reportVcpuThread } from '../sched/vcpu-thread.js';

/**
 * A guest vCPU: a worker thread running guest-side Wasm (the "guest" kernel family) over the
 * shared host memory. Control arrives as messages (rare); the work itself — filling rings,
 * kicking, reaping, waiting on interrupts — runs inside Wasm, one JS→Wasm call per round.
 */
export type VcpuRequest =
  | { op: 'call'; fn: string; args: (number | bigint)[] }
  | {
      op: 'pump';
      drv: number;
      buf: bigint;
      scratch: number;
      ms: number;
      rounds: number;
      audit?: number;
      stopAddr?: number;
      waitNs?: number;
    }
  | {
      op: 'rtt';
      drv: number;
      buf: bigint;
      scratch: number;
      count: number;
      mode: 'poll' | 'irq';
      timeoutNs: bigint;
      watchTids?: number[];
    }
  | { op: 'timed'; fn: string; args: (number | bigint)[]; ms: number }
  | { op: 'series'; fn: string; args: (number | bigint)[]; count: number }
  | { op: 'loop'; fn: string; args: (number | bigint)[]; ms: number; untilAddr: number; untilValue: number }
  | { op: 'program'; fn: string; args: (number | bigint)[]; ctl: number }
  | { op: 'place'; cls: VcpuClass; nice: number; cpus: number[] | null }
  | { op: 'placement' };

export type VcpuReply =
  | { ok: true; value: number | bigint | null }
  | { ok: true; completed: number; elapsedNs: number }
  | { ok: true; samplesUs: Float64Array; timeouts: number; switched: Uint32Array | null }
  | { ok: true; exit: 'halted' | 'stopped'; steps: number }
  | { ok: true; placement: VcpuPlacement }
  | { ok: false; error: string };

const { memory, wasmPath, nice, cls, cpus } = workerData as {
  memory: WebAssembly.Memory;
  wasmPath: string;
  nice: number | null;
  cls: VcpuClass | null;
  cpus: number[] | null;
};
// The class's priority and CPUs apply to this thread alone, before it runs guest code.
let placement = placeVcpuThread(cls, nice, cpus, null);
const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(wasmPath)), { env: { memory } });
const i32 = new Int32Array(memory.buffer);
type Fn = (...a: (number | bigint)[]) => number | bigint;
const fn = (name: string): Fn => instance.exports[name] as Fn;
const exported = (name: string): Fn | null => {
  const f = instance.exports[name];
  return typeof f === 'function' ? (f as Fn) : null;
};

/**
 * Runs a guest program under its VM's control block (assembly/guest/vm-control.ts): before each
 * step the vCPU obeys the run word (parks while paused, leaves when stopped) and writes the
 * clock; a step that returns non-zero halts the vCPU (the guest acknowledged a shutdown).
 */
function program(req: Extract<VcpuRequest, { op: 'program' }>): VcpuReply {
  const f = instance.exports[req.fn];
  if (typeof f !== 'function') return { ok: false, error: `guest kernel has no function ${req.fn}` };
  const step = f as Fn;
  const w = (off: number): number => (req.ctl + off) >> 2;
  const clock = new BigInt64Array(memory.buffer, req.ctl + C.VMC_CLOCK, 1);
  let steps = 0;
  Atomics.add(i32, w(C.VMC_ENTERED), 1);
  Atomics.notify(i32, w(C.VMC_ENTERED));
  for (;;) {
    const run = Atomics.load(i32, w(C.VMC_RUN));
    if (run === C.VMC_STOPPED) {
      Atomics.add(i32, w(C.VMC_EXITED), 1);
      Atomics.notify(i32, w(C.VMC_EXITED));
      return { ok: true, exit: 'stopped', steps };
    }
    if (run === C.VMC_PAUSED) {
      Atomics.add(i32, w(C.VMC_PARKED), 1);
      Atomics.notify(i32, w(C.VMC_PARKED));
      while (Atomics.load(i32, w(C.VMC_RUN)) === C.VMC_PAUSED) Atomics.wait(i32, w(C.VMC_RUN), C.VMC_PAUSED);
      Atomics.sub(i32, w(C.VMC_PARKED), 1);
      Atomics.notify(i32, w(C.VMC_PARKED));
      continue;
    }
    Atomics.store(clock, 0, process.hrtime.bigint());
    const r = step(...req.args);
    steps++;
    if (r !== 0 && r !== 0n && r !== C.VMC_BUSY) {
      Atomics.add(i32, w(C.VMC_HALTED), 1);
      Atomics.add(i32, w(C.VMC_EXITED), 1);
      Atomics.notify(i32, w(C.VMC_HALTED));
      Atomics.notify(i32, w(C.VMC_EXITED));
      return { ok: true, exit: 'halted', steps };
    }
  }
}

function handle(req: VcpuRequest): VcpuReply {
  switch (req.op) {
    case 'program':
      return program(req);
    case 'place':
      placement = placeVcpuThread(req.cls, req.nice, req.cpus, placement);
      return { ok: true, placement };
    case 'placement':
      return { ok: true, placement: reportVcpuThread(placement) };
    case 'call': {
      const f = instance.exports[req.fn];
      if (typeof f !== 'function') return { ok: false, error: `guest kernel has no function ${req.fn}` };
      const v = (f as Fn)(...req.args);
      return { ok: true, value: v === undefined ? null : v };
    }
    case 'pump': {
      // With an audit area every completion is also checked off by sequence number and version.
      const audit = req.audit ?? 0;
      // With waitNs (audited pumps only) the guest sleeps on its interrupt instead of spinning
      // when a round reaps nothing.
      const waitNs = audit && req.waitNs ? BigInt(req.waitNs) : 0n;
      const pump = waitNs ? fn('gloop_pump_audit_irq') : audit ? fn('gloop_pump_audit') : fn('gloop_pump');
      // Optional stop word (host address): the pump also ends as soon as it is non-zero.
      const stop = req.stopAddr ? req.stopAddr >> 2 : -1;
      const start = process.hrtime.bigint();
      const deadline = start + BigInt(Math.round(req.ms * 1e6));
      let completed = 0;
      let now: bigint;
      do {
        completed += Number(pump(req.drv, req.buf, req.scratch, req.rounds, audit, waitNs));
        now = process.hrtime.bigint();
      } while (now < deadline && (stop < 0 || Atomics.load(i32, stop) === 0));
      // Leave the ring empty (outside the timed window) so the next workload starts clean.
      const drain = audit ? fn('gloop_drain_audit') : fn('gloop_drain');
      const left = Number(drain(req.drv, req.buf, req.scratch, 100_000_000, audit));
      if (left !== 0) return { ok: false, error: `${left} requests still outstanding after the pump` };
      return { ok: true, completed, elapsedNs: Number(now - start) };
    }
    case 'timed': {
      // Calls fn(...args) until `ms` have passed; its results (work done per call) are summed.
      const f = exported(req.fn);
      if (!f) return { ok: false, error: `guest kernel has no function ${req.fn}` };
      const start = process.hrtime.bigint();
      const deadline = start + BigInt(Math.round(req.ms * 1e6));
      let completed = 0;
      let now: bigint;
      do {
        completed += Number(f(...req.args));
        now = process.hrtime.bigint();
      } while (now < deadline);
      return { ok: true, completed, elapsedNs: Number(now - start) };
    }
    case 'series': {
      // `count` calls of fn(...args), each timed; a call that does not return 1 counts as a timeout.
      const f = exported(req.fn);
      if (!f) return { ok: false, error: `guest kernel has no function ${req.fn}` };
      const samplesUs = new Float64Array(req.count);
      let timeouts = 0;
      for (let i = 0; i < req.count; i++) {
        const t0 = process.hrtime.bigint();
        const r = f(...req.args);
        samplesUs[i] = Number(process.hrtime.bigint() - t0) / 1000;
        if (r !== 1) timeouts++;
      }
      return { ok: true, samplesUs, timeouts, switched: null };
    }
    case 'loop': {
      // Calls a guest export again and again (a workload's pass) until `ms` have passed or the
      // i32 at host address untilAddr reaches untilValue (untilAddr 0: time only).
      const f = instance.exports[req.fn];
      if (typeof f !== 'function') return { ok: false, error: `guest kernel has no function ${req.fn}` };
      const start = process.hrtime.bigint();
      const deadline = start + BigInt(Math.round(req.ms * 1e6));
      const until = req.untilAddr ? req.untilAddr >> 2 : -1;
      let completed = 0;
      let now: bigint;
      do {
        completed += Number((f as Fn)(...req.args));
        now = process.hrtime.bigint();
      } while (now < deadline && (until < 0 || Atomics.load(i32, until) - req.untilValue < 0));
      return { ok: true, completed, elapsedNs: Number(now - start) };
    }
    case 'rtt': {
      const one = req.mode === 'poll' ? fn('gloop_one') : fn('gloop_one_irq');
      const samplesUs = new Float64Array(req.count);
      const watch = req.watchTids ? new SchedWatch(req.watchTids) : null;
      const switched = watch ? new Uint32Array(req.count) : null;
      let timeouts = 0;
      for (let i = 0; i < req.count; i++) {
        watch?.before();
        const t0 = process.hrtime.bigint();
        const r =
          req.mode === 'poll'
            ? one(req.drv, req.buf, req.scratch, 50_000_000)
            : one(req.drv, req.buf, req.scratch, req.timeoutNs);
        samplesUs[i] = Number(process.hrtime.bigint() - t0) / 1000;
        if (switched) switched[i] = watch!.after();
        if (r !== 1) timeouts++;
      }
      return { ok: true, samplesUs, timeouts, switched };
    }
  }
}

/**
 * The scheduler's view of one round trip (Linux schedstat): how many times this thread and the
 * watched threads (the DPU core serving it) were given a CPU again during it. 0 means neither
 * left its CPU: whatever the round trip took, the OS did not add to it. Counted from the
 * schedstat `pcount` field, which changes only when a thread gets a CPU, so it is exact (the
 * run-time field lags by up to a scheduler tick). Read outside the timed window; 0 off Linux.
 */
class SchedWatch {
  private readonly paths: string[];
  private readonly counts: number[];

  constructor(tids: number[]) {
    this.paths = ['/proc/thread-self/schedstat', ...tids.map((t) => `/proc/self/task/${t}/schedstat`)];
    this.counts = this.paths.map(() => 0);
  }

  before(): void {
    for (let k = 0; k < this.paths.length; k++) this.counts[k] = switches(this.paths[k]!);
  }

  /** Times any of the threads got a CPU again since before(). */
  after(): number {
    let n = 0;
    for (let k = 0; k < this.paths.length; k++) n += switches(this.paths[k]!) - this.counts[k]!;
    return n;
  }
}

/** The `pcount` field of a schedstat file (times the thread was given a CPU), 0 if unreadable. */
function switches(path: string): number {
  try {
    return Number(readFileSync(path, 'latin1').split(' ')[2]);
  } catch {
    return 0;
  }
}

parentPort!.on('message', (req: VcpuRequest) => {
  try {
    const reply = handle(req);
    parentPort!.postMessage(reply, 'samplesUs' in reply ? [reply.samplesUs.buffer as ArrayBuffer] : []);
  } catch (e) {
    parentPort!.postMessage({ ok: false, error: e instanceof Error ? e.message : String(e) } satisfies VcpuReply);
  }
});
