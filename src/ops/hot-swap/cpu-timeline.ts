import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';

const TRACEFS = '/sys/kernel/tracing';

/** One context switch on one CPU, as the kernel's `sched:sched_switch` event records it. */
export interface CpuSwitch {
  /** CLOCK_MONOTONIC, ns (the clock of process.hrtime), to the µs the trace prints. */
  atNs: number;
  cpu: number;
  prevTid: number;
  /** The state the previous thread left in: 'R' (or 'R+') preempted while runnable, else it blocked. */
  prevState: string;
  nextTid: number;
  nextComm: string;
}

/**
 * Which thread held each CPU when, for the whole machine: the kernel's sched_switch events in a
 * tracing instance of our own (tracefs, `instances/qingtian-<pid>`, clock `mono`), so nothing the
 * machine's other users trace is touched. It is what shows who a waiting thread waited behind,
 * in this process or outside it. Linux, as root, with tracefs (mounted here if it is not).
 * `open()` → `start()` → `collect()` … → `close()`.
 */
export class CpuTimeline {
  private constructor(private readonly dir: string) {}

  /** A timeline, or why none can be had here. */
  static open(bufferKb = 8192): CpuTimeline | string {
    if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
    try {
      if (!existsSync(`${TRACEFS}/instances`))
        execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS], { stdio: 'ignore' });
      const dir = `${TRACEFS}/instances/qingtian-${process.pid}`;
      if (!existsSync(dir)) mkdirSync(dir);
      const t = new CpuTimeline(dir);
      t.write('tracing_on', '0');
      t.write('trace_clock', 'mono');
      t.write('buffer_size_kb', String(bufferKb));
      t.write('events/sched/sched_switch/enable', '1');
      return t;
    } catch (e) {
      return `tracefs sched_switch not usable (${e instanceof Error ? e.message.split('\n')[0] : String(e)}): needs root and tracefs`;
    }
  }

  /** Clears what was recorded and records from now. */
  start(): void {
    this.write('trace', '');
    this.write('tracing_on', '1');
  }

  /** Stops recording and returns every switch recorded since `start()`, in time order per CPU. */
  collect(): CpuSwitch[] {
    this.write('tracing_on', '0');
    return parseSwitches(readFileSync(`${this.dir}/trace`, 'latin1'));
  }

  /** Removes the tracing instance. */
  close(): void {
    try {
      this.write('tracing_on', '0');
      this.write('events/sched/sched_switch/enable', '0');
      rmdirSync(this.dir);
    } catch {
      // already gone
    }
  }

  private write(file: string, value: string): void {
    writeFileSync(`${this.dir}/${file}`, value);
  }
}

// "<idle>-0 [001] d..2. 1234.567890: sched_switch: prev_comm=a b prev_pid=1 prev_prio=120
//  prev_state=R ==> next_comm=c next_pid=2 next_prio=120" (one line)
const LINE =
  /\[(\d+)\]\s+\S+\s+(\d+)\.(\d+): sched_switch: prev_comm=.* prev_pid=(\d+) prev_prio=-?\d+ prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+) next_prio=-?\d+$/;

/** The sched_switch lines of a tracefs `trace` file. */
export function parseSwitches(text: string): CpuSwitch[] {
  const out: CpuSwitch[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m) continue;
    const frac = m[3]!;
    out.push({
      cpu: Number(m[1]),
      atNs: Number(m[2]) * 1e9 + Number(frac) * 10 ** (9 - frac.length),
      prevTid: Number(m[4]),
      prevState: m[5]!,
      nextComm: m[6]!,
      nextTid: Number(m[7]),
    });
  }
  return out;
}

/** Time (ns) each thread held a CPU within a window, and the CPU the waiting thread waited on. */
export interface HolderTime {
  tid: number;
  comm: string;
  ns: number;
}

/**
 * Where a thread was during [fromNs, toNs]: on a CPU, or off it while runnable (preempted) and
 * who held the CPU it was taken off meanwhile, or blocked. From a timeline's switches.
 */
export interface ThreadWindow {
  onCpuNs: number;
  /** Off a CPU after being preempted (runnable, waiting for one). */
  waitingNs: number;
  /** Off a CPU after blocking (sleeping, not runnable). */
  blockedNs: number;
  /** Who held the CPU the thread was preempted from, while it waited (most first). */
  heldBy: HolderTime[];
}

/**
 * Follows `tid` through `switches` over [fromNs, toNs]. `switches` must cover the window and some
 * time before it (the thread's state at `fromNs` is that of its last switch before it).
 */
export function threadWindow(switches: readonly CpuSwitch[], tid: number, fromNs: number, toNs: number): ThreadWindow {
  // The thread's own switches, in time order.
  const own = switches.filter((s) => s.prevTid === tid || s.nextTid === tid).sort((a, b) => a.atNs - b.atNs);
  const w: ThreadWindow = { onCpuNs: 0, waitingNs: 0, blockedNs: 0, heldBy: [] };
  const held = new Map<number, HolderTime>();
  // Before its first switch the thread was off a CPU if that switch puts it on one (counted as
  // waiting on that CPU: the recording started while it waited), else on a CPU.
  const first = own[0];
  let state: 'on' | 'waiting' | 'blocked' = first && first.nextTid === tid ? 'waiting' : 'on';
  let since = fromNs;
  let offCpu = first?.cpu ?? -1;
  const account = (until: number): void => {
    const a = Math.max(since, fromNs);
    const b = Math.min(until, toNs);
    if (b <= a) return;
    if (state === 'on') w.onCpuNs += b - a;
    else if (state === 'blocked') w.blockedNs += b - a;
    else {
      w.waitingNs += b - a;
      for (const h of holders(switches, offCpu, a, b, tid)) {
        const x = held.get(h.tid);
        if (x) x.ns += h.ns;
        else held.set(h.tid, { ...h });
      }
    }
  };
  for (const s of own) {
    if (s.atNs >= toNs) break;
    account(s.atNs);
    since = s.atNs;
    if (s.nextTid === tid) state = 'on';
    else {
      state = s.prevState.startsWith('R') ? 'waiting' : 'blocked';
      offCpu = s.cpu;
    }
  }
  account(toNs);
  w.heldBy = [...held.values()].sort((a, b) => b.ns - a.ns);
  return w;
}

/** Who ran on `cpu` during [a, b], from that CPU's switches (the thread `except` left out). */
function holders(switches: readonly CpuSwitch[], cpu: number, a: number, b: number, except: number): HolderTime[] {
  const out: HolderTime[] = [];
  let cur: { tid: number; comm: string } | null = null;
  let since = a;
  for (const s of switches) {
    if (s.cpu !== cpu) continue;
    if (s.atNs <= a) {
      cur = { tid: s.nextTid, comm: s.nextComm };
      continue;
    }
    if (s.atNs >= b) break;
    if (cur && cur.tid !== except) out.push({ ...cur, ns: s.atNs - since });
    cur = { tid: s.nextTid, comm: s.nextComm };
    since = s.atNs;
  }
  if (cur && cur.tid !== except && b > since) out.push({ ...cur, ns: b - since });
  return out;
}
