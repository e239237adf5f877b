import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { Lifetime } from '../../common/lifetime.js';
import { distFile, kernelFile } from '../../common/package-paths.js';
import { inspectKernel } from '../../common/kernel-image.js';
import type { VcpuReply, VcpuRequest } from './vcpu-worker.js';
import { readFileSync } from 'node:fs';
import { parseArgs } from '../../common/validate.js';
import {
  VCPU_CLASS_NICE,
  vcpuSchedSchema,
  type VcpuClass,
  type VcpuPlacement,
  type VcpuSchedSpec,
} from '../sched/vcpu-class.js';
import { checkVcpuCpus } from '../sched/vcpu-thread.js';

/**
 * Default scheduling priority of a vCPU thread (Linux nice). The machine modelled runs guests on
 * host CPUs and the data path on the DPU's own cores; here they share CPUs, and a vCPU below the
 * DPU cores and the control plane keeps a spinning guest from delaying them (DpuOptions.nice).
 */
export const DEFAULT_VCPU_NICE = VCPU_CLASS_NICE.normal;

/** One-at-a-time round trips as a vCPU timed them (GuestVcpu.rtt). */
export interface RttSamples {
  /** Each request's round trip, µs. */
  samplesUs: Float64Array;
  /** Requests not answered within the timeout. */
  timeouts: number;
  /**
   * With `watchTids`: per sample, the times the vCPU or a watched thread was given a CPU again
   * during it (Linux schedstat; 0 elsewhere). 0: the OS took neither off its CPU. Otherwise null.
   */
  switched: Uint32Array | null;
}

/** Options of {@link GuestVcpu}. */
export interface GuestVcpuOptions {
  /**
   * Linux nice of the vCPU thread, -20..19 (a raise above the process's needs privileges), or null to keep the
   * process's. Default DEFAULT_VCPU_NICE.
   */
  nice?: number | null | undefined;
  /**
   * The vCPU's priority class (src/hypervisor/sched/vcpu-class.ts): sets its nice value and
   * scheduling policy from the class. Not with `nice`. Default: 'normal' when `nice` is not
   * given either; with `nice`, that nice value under the normal policy.
   */
  class?: VcpuClass | undefined;
  /** CPUs the vCPU thread may run on (distinct CPU numbers; Linux with taskset). Default: the process's. */
  cpus?: number[] | undefined;
}

/**
 * The main thread's handle on a guest vCPU worker. Requests are control-plane messages; each
 * one runs a whole workload (a timed pump, a latency series) inside the worker.
 */
export class GuestVcpu {
  private readonly worker: Worker;
  private queue: Promise<unknown> = Promise.resolve();
  private exited = false;
  private readonly life = new Lifetime('GuestVcpu', 'stop()');

  constructor(
    memory: Pick<HostMemoryApi, 'memory' | 'sizeBytes'>,
    readonly name: string,
    options: GuestVcpuOptions = {},
  ) {
    const sched = parseArgs(vcpuSchedSchema, { class: options.class, cpus: options.cpus }, `GuestVcpu ${name} options`);
    if (sched.class !== undefined && options.nice !== undefined)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `GuestVcpu ${name} options: give class or nice, not both (class ${sched.class}, nice ${String(options.nice)})`,
        { field: 'class' },
      );
    const nice =
      sched.class !== undefined
        ? VCPU_CLASS_NICE[sched.class]
        : options.nice === undefined
          ? DEFAULT_VCPU_NICE
          : options.nice;
    if (sched.cpus) checkVcpuCpus(sched.cpus, `GuestVcpu ${name} options.cpus`);
    if (nice !== null && !(Number.isInteger(nice) && nice >= -20 && nice <= 19)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `GuestVcpu nice: expected an integer in [-20, 19] or null, got ${String(nice)}`,
      );
    }
    const wasmPath = kernelFile('guest');
    // Guest code obeys the kernel rules too; check it before a vCPU runs it.
    inspectKernel(readFileSync(wasmPath), memory.sizeBytes / 65536, 'guest');
    this.worker = new Worker(distFile('src/hypervisor/guest/vcpu-worker.js'), {
      // Neither class nor nice: a normal vCPU, under its class's policy too.
      workerData: {
        memory: memory.memory,
        wasmPath,
        nice,
        cls: sched.class ?? (options.nice === undefined ? 'normal' : null),
        cpus: sched.cpus ?? null,
      },
      name,
    });
    this.worker.on('exit', () => (this.exited = true));
  }

  /** Calls a guest kernel export (setup: driver init and the like). */
  async call(fn: string, ...args: (number | bigint)[]): Promise<number | bigint | null> {
    const r = await this.request({ op: 'call', fn, args });
    return 'value' in r ? r.value : null;
  }

  /**
   * Keeps the loopback ring full for `ms` (or until the word at host address `stopAddr` turns
   * non-zero); returns completions and the exact elapsed time. With `audit` (host address of a
   * 'GAUD' area) every completion is audited (src/hypervisor/guest/loopback-audit.ts).
   */
  async pump(
    drv: number,
    buf: bigint,
    scratch: number,
    ms: number,
    rounds = 64,
    opts: { audit?: number; stopAddr?: number; waitNs?: number } = {},
  ): Promise<{ completed: number; elapsedNs: number }> {
    const r = await this.request({ op: 'pump', drv, buf, scratch, ms, rounds, ...opts });
    if (!('completed' in r)) throw unexpected(this.name, 'pump');
    return { completed: r.completed, elapsedNs: r.elapsedNs };
  }

  /**
   * `count` one-at-a-time requests, polling or waiting on interrupts; per-request latency in µs.
   * With `watchTids` (kernel thread ids of this process, such as a DPU core's
   * `DpuCore.threadId()`) each sample also says whether the OS took this vCPU or those
   * threads off their CPU while it ran (`switched`).
   */
  async rtt(
    drv: number,
    buf: bigint,
    scratch: number,
    count: number,
    mode: 'poll' | 'irq',
    timeoutNs = 1_000_000_000n,
    watchTids?: readonly number[],
  ): Promise<RttSamples> {
    const r = await this.request({
      op: 'rtt',
      drv,
      buf,
      scratch,
      count,
      mode,
      timeoutNs,
      ...(watchTids ? { watchTids: [...watchTids] } : {}),
    });
    if (!('samplesUs' in r)) throw unexpected(this.name, 'rtt');
    return { samplesUs: r.samplesUs, timeouts: r.timeouts, switched: r.switched };
  }

  /** Calls the guest export `fn(...args)` over and over for `ms`; sums what it returns (work done per call). */
  async timed(fn: string, args: (number | bigint)[], ms: number): Promise<{ completed: number; elapsedNs: number }> {
    const r = await this.request({ op: 'timed', fn, args, ms });
    if (!('completed' in r)) throw unexpected(this.name, 'timed');
    return { completed: r.completed, elapsedNs: r.elapsedNs };
  }

  /** `count` timed calls of the guest export `fn(...args)` (µs each); a call not returning 1 is a timeout. */
  async series(
    fn: string,
    args: (number | bigint)[],
    count: number,
  ): Promise<{ samplesUs: Float64Array; timeouts: number }> {
    const r = await this.request({ op: 'series', fn, args, count });
    if (!('samplesUs' in r)) throw unexpected(this.name, 'series');
    return { samplesUs: r.samplesUs, timeouts: r.timeouts };
  }

  /**
   * Calls guest export `fn(...args)` in a loop inside the vCPU until `ms` have passed or, with
   * `until`, the i32 at host address `until.addr` reaches `until.value` (compared as a wrapping
   * counter). Returns the sum of what the calls returned and the elapsed time.
   */
  async loop(
    fn: string,
    args: (number | bigint)[],
    ms: number,
    until?: { addr: number; value: number },
  ): Promise<{ completed: number; elapsedNs: number }> {
    const r = await this.request({
      op: 'loop',
      fn,
      args,
      ms,
      untilAddr: until?.addr ?? 0,
      untilValue: until?.value ?? 0,
    });
    if (!('completed' in r)) throw new Error('unexpected reply');
    return { completed: r.completed, elapsedNs: r.elapsedNs };
  }

  /**
   * Runs guest program `fn(...args)` step by step under the VM control block at host address
   * `ctl` (pause, stop, power: assembly/guest/vm-control.ts) until the guest halts or the VM is
   * stopped. The vCPU takes no other request meanwhile.
   */
  async runProgram(
    fn: string,
    args: (number | bigint)[],
    ctl: number,
  ): Promise<{ exit: 'halted' | 'stopped'; steps: number }> {
    const r = await this.request({ op: 'program', fn, args, ctl });
    if (!('exit' in r)) throw new Error('unexpected reply');
    return { exit: r.exit, steps: r.steps };
  }

  /**
   * Re-places the vCPU (a pooled thread given to another VM, or a class change): its class sets
   * its nice value, `cpus` its CPUs (omitted: the CPUs it had). Resolves with the placement the
   * thread reports. A request queued before it runs at the old placement.
   */
  async place(spec: VcpuSchedSpec): Promise<VcpuPlacement> {
    this.life.check('place');
    const s = parseArgs(vcpuSchedSchema, spec, `vCPU ${this.name} place`);
    if (s.cpus) checkVcpuCpus(s.cpus, `vCPU ${this.name} place.cpus`);
    const cls = s.class ?? 'normal';
    const r = await this.request({ op: 'place', cls, nice: VCPU_CLASS_NICE[cls], cpus: s.cpus ?? null });
    if (!('placement' in r)) throw unexpected(this.name, 'place');
    return r.placement;
  }

  /** Where and how the vCPU thread runs now, as the thread itself reports it. */
  async placement(): Promise<VcpuPlacement> {
    const r = await this.request({ op: 'placement' });
    if (!('placement' in r)) throw unexpected(this.name, 'placement');
    return r.placement;
  }

  async stop(): Promise<void> {
    if (!this.life.end()) return;
    if (!this.exited) await this.worker.terminate();
  }

  private request(req: VcpuRequest): Promise<Exclude<VcpuReply, { ok: false }>> {
    if (this.life.ended) return Promise.reject(this.life.error(req.op));
    const run = async (): Promise<Exclude<VcpuReply, { ok: false }>> => {
      this.life.check(req.op);
      if (this.exited) throw new QingtianError(ErrorCode.DeviceState, `vCPU ${this.name} has exited`);
      const reply = await new Promise<VcpuReply>((resolve, reject) => {
        const onExit = (): void =>
          reject(new QingtianError(ErrorCode.DeviceState, `vCPU ${this.name} exited during ${req.op}`));
        this.worker.once('exit', onExit);
        this.worker.once('message', (m: VcpuReply) => {
          this.worker.off('exit', onExit);
          resolve(m);
        });
        this.worker.postMessage(req);
      });
      if (!reply.ok) throw new QingtianError(ErrorCode.DeviceState, `vCPU ${this.name}: ${reply.error}`);
      return reply;
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

function unexpected(vcpu: string, op: string): QingtianError {
  return new QingtianError(ErrorCode.KernelFault, `vCPU ${vcpu}: ${op}: the worker answered another request`);
}
