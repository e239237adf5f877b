import { setTimeout as sleep } from 'node:timers/promises';
import type { LatencyHistogramData } from '../../common/latency-histogram.js';
import { BURST_BUCKETS, emptyLatency } from '../core/burst-latency.js';
import { readBurstSplit } from '../core/burst-split.js';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { intIn, nameString, parseArgs } from '../../common/validate.js';
import { CTL_DOORBELL, CTL_SLEEPING, ringDoorbell } from '../core/core-layout.js';
import type { DpuCore, Job } from '../core/dpu-core.js';
import { FlowTable } from '../flow/flow-table.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import type { NetDevice } from './net-device.js';
import {
  NET_DUMP_BYTES,
  NET_DUMP_RECORDS,
  NET_KEY_BYTES,
  NET_STAMP_NONE,
  NET_SW_ORDERED,
  NET_FR_ACTIONS,
  NET_FR_ACTION_BYTES,
  NET_FR_BYTES,
  NET_FR_BYTES_COUNT,
  NET_FR_COOKIE,
  NET_FR_CREATED,
  NET_FR_LAYOUT,
  NET_FR_MAGIC,
  NET_FR_PACKETS,
  NET_FR_RECORDS,
  NET_KEY_IN_PORT,
  NETD_PORT,
  NET_PS_ERRORS,
  NET_PS_IN_BYTES,
  NET_PS_IN_PACKETS,
  NET_PS_OUT_BYTES,
  NET_PS_OUT_DROPS,
  NET_PS_OUT_PACKETS,
  NET_PS_UPCALLS,
  NET_PS_UPCALL_DROPS,
  NET_SC_LAYOUT,
  NET_SC_MAGIC,
  NET_SW_AGE_BUDGET,
  NET_SW_COUNTER_ARRAY,
  NET_SW_DROPS,
  NET_SW_EPOCH,
  NET_SW_LAST_REFUSAL,
  NET_SW_CLOCK,
  NET_SW_LAYOUT,
  NET_SW_PORT_HIST_BYTES,
  NET_SW_SLOW_HIST,
  NET_SW_SPLIT,
  NET_SW_MAGIC,
  NET_SW_MALFORMED,
  NET_SW_MAX_IDLE,
  NET_SW_NOW,
  NET_SW_PORT_STATS,
  NET_SW_PORT_STAT_BYTES,
  NET_SW_STATS,
  NET_SW_UPCALL_BELL,
  NET_UPC_RECORD_BYTES,
  NET_VLAN_MAP_BYTES,
} from './net-layout.js';
import { NetRing } from './net-ring.js';
import { PortTable } from './port-table.js';
import type { SlowPathSwitch, SlowPathSwitchInit } from './slow-path-switch.js';
import { SWITCH_STAT_NAMES, type SwitchStats } from './switch-stats.js';
import type { TunnelIo } from './tunnel-io.js';
import { writeDowncall, type Downcall } from './upcall-record.js';

export interface VSwitchOptions {
  /** Name (and owner of the switch's regions). */
  name: string;
  /** Port ids 0..maxPorts-1, 1-4096. Default 64. */
  maxPorts?: number;
  /** Flows the flow cache holds, 8-16M. Default 65536. */
  flowCapacity?: number;
  /** Packets per sub-burst, 1-128. Default 64. */
  maxBurst?: number;
  /**
   * Records of each port's upcall ring (a power of two): a new flow's first burst waits there for
   * its install. Default 256.
   */
  upcallRecords?: number;
  /** Records of the downcall ring (a power of two). Default 256. */
  downcallRecords?: number;
  /** Ticks a flow may go unhit before aging removes it; 0 turns aging off. Default 10000. */
  maxIdleTicks?: number;
  /** Flow-cache buckets aging visits per run. Default 64. */
  ageBudget?: number;
  /** Hash seed of the flow cache. */
  seed?: number;
}

const optionsSchema = z.strictObject({
  name: nameString(48),
  maxPorts: intIn(1, 4096).optional(),
  flowCapacity: intIn(8, 1 << 24).optional(),
  maxBurst: intIn(1, 128).optional(),
  upcallRecords: intIn(1, 4096).optional(),
  downcallRecords: intIn(1, 65536).optional(),
  maxIdleTicks: intIn(0, 0xffffffff).optional(),
  ageBudget: intIn(0, 1 << 22).optional(),
  seed: intIn(0, 0xffffffff).optional(),
});

/** Counters of one switch port, read out of band. */
export interface PortStats {
  inPackets: number;
  inBytes: number;
  outPackets: number;
  outBytes: number;
  outDrops: number;
  upcalls: number;
  upcallDrops: number;
  errors: number;
}

export interface FlowInfo {
  key: Uint8Array;
  inPort: number;
  record: number;
  lastHit: number;
  cookie: number;
  created: number;
  packets: number;
  bytes: number;
  actions: Uint8Array;
}

type Fn<A extends unknown[], R = number> = (...a: A) => R;

/**
 * The vSwitch fast path (assembly/net/vswitch.ts) as a job on one DPU core, and its tables: the
 * port table, the flow cache with its flow records, the downcall ring, per-port upcall rings, and
 * the switch's counters. The slow path installs flows and re-injects packets through
 * `downcall()`; it reads misses from `upcallRing(port)` when woken on `upcallBellAddr`.
 */
export class VSwitch implements SlowPathSwitch {
  readonly name: string;
  readonly state: StateRegion;
  readonly ports: PortTable;
  readonly flowTable: FlowTable;
  readonly records: StateRegion;
  readonly down: NetRing;
  readonly scratch: StateRegion;
  readonly maxPorts: number;
  readonly flowCapacity: number;
  private readonly kernel: LoadedKernel;
  private readonly upcallRings = new Map<number, NetRing>();
  private readonly vlanMaps = new Map<number, Region>();
  private readonly upcallRecords: number;
  private readonly dumpArea: Region;
  private job: Job | null = null;
  private core: DpuCore | null = null;
  private freed = false;

  constructor(
    private readonly rt: KernelRuntime,
    options: VSwitchOptions,
  ) {
    const o = parseArgs(optionsSchema, options, 'VSwitch options');
    this.name = o.name;
    this.maxPorts = o.maxPorts ?? 64;
    this.flowCapacity = o.flowCapacity ?? 65536;
    this.upcallRecords = pow2(o.upcallRecords ?? 256, 'upcallRecords');
    const maxBurst = o.maxBurst ?? 64;
    const k = (this.kernel = rt.kernel('net'));
    const mem = rt.memory;
    const owner = o.name;
    this.state = mem.allocState({
      name: `${owner}:switch`,
      owner,
      kind: 'device-state',
      magic: NET_SW_MAGIC,
      layoutVersion: NET_SW_LAYOUT,
      payloadBytes: k.fn<Fn<[number]>>('net_switch_bytes')(this.maxPorts),
    });
    this.ports = new PortTable(mem, this.maxPorts, `${owner}:ports`, owner, () => this.waitQuiet());
    this.flowTable = new FlowTable({ capacity: this.flowCapacity, runtime: rt, seed: o.seed ?? 0x5eed_0017 });
    this.records = mem.allocState({
      name: `${owner}:flows`,
      owner,
      kind: 'device-state',
      magic: NET_FR_MAGIC,
      layoutVersion: NET_FR_LAYOUT,
      payloadBytes: k.fn<Fn<[number]>>('net_flow_record_bytes')(this.flowCapacity),
    });
    if (k.fn<Fn<[number, number]>>('net_flow_records_init')(this.records.base, this.flowCapacity) !== 0)
      throw new QingtianError(ErrorCode.KernelLoadFailed, `${owner}: net_flow_records_init refused the region`);
    this.down = new NetRing(
      mem,
      `${owner}:down`,
      owner,
      pow2(o.downcallRecords ?? 256, 'downcallRecords'),
      NET_UPC_RECORD_BYTES,
    );
    this.scratch = mem.allocState({
      name: `${owner}:scratch`,
      owner,
      kind: 'core-scratch',
      magic: NET_SC_MAGIC,
      layoutVersion: NET_SC_LAYOUT,
      payloadBytes: k.fn<Fn<[number]>>('net_scratch_bytes')(maxBurst),
    });
    if (k.fn<Fn<[number, number]>>('net_scratch_init')(this.scratch.base, maxBurst) !== 0)
      throw new QingtianError(ErrorCode.KernelLoadFailed, `${owner}: net_scratch_init refused the region`);
    const rc = k.fn<Fn<number[]>>('net_switch_init')(
      this.state.base,
      this.ports.base,
      this.flowTable.state.base,
      this.records.base,
      this.down.base,
      this.scratch.base,
    );
    if (rc !== 0) throw new QingtianError(ErrorCode.KernelLoadFailed, `${owner}: net_switch_init refused its tables`);
    const v = mem.view;
    v.setUint32(this.state.base + NET_SW_MAX_IDLE, o.maxIdleTicks ?? 10_000, true);
    v.setUint32(this.state.base + NET_SW_AGE_BUDGET, o.ageBudget ?? 64, true);
    this.dumpArea = mem.alloc({
      name: `${owner}:dump`,
      owner,
      kind: 'core-scratch',
      sizeBytes: NET_DUMP_RECORDS + 256 * NET_DUMP_BYTES,
    });
  }

  /** Runs the switch as a job on `core` (entry net_switch_run, arm net_switch_arm). */
  async attach(core: DpuCore, budget = 256): Promise<Job> {
    if (this.job)
      throw new QingtianError(ErrorCode.DeviceState, `${this.name}: already attached to core ${this.job.coreId}`);
    this.job = await core.attachJob({
      kernel: this.kernel,
      entry: 'net_switch_run',
      arm: 'net_switch_arm',
      state: this.state.base,
      budget,
      splitAddr: this.splitAddr(),
      clockAddr: this.state.base + NET_SW_CLOCK,
    });
    this.core = core;
    return this.job;
  }

  /**
   * How long each burst of the switch held its core (every port's frames of that burst, fast
   * path and re-injections), read out of band: DpuCore.burstLatency. Empty while detached.
   */
  burstLatency(): LatencyHistogramData {
    return (this.job && this.core?.burstLatency(this.job.id)) || emptyLatency();
  }

  /**
   * Per frame port `port` sent into the switch (its inPackets), the duration of the switch burst
   * that took the frame in, observed by the core running the switch (burst-split.ts), read out
   * of band. Kept across detach and attach; empty before any burst.
   */
  portBurstLatency(port: number): LatencyHistogramData {
    this.ports.entryAddr(port);
    const buf = this.rt.memory.i32.buffer;
    this.f64 ??= new Float64Array(buf);
    this.u32 ??= new Uint32Array(buf);
    return readBurstSplit(this.u32, this.f64, this.splitAddr(), port) ?? emptyLatency();
  }

  /**
   * Per frame re-injected on port `port` after an upcall (a flow's first packets through the slow
   * path), the time from the burst that sent it up to the burst that re-injected it, each taken at
   * the start of its burst by the core's clock, read out of band. A re-injection answering an
   * upcall more than NET_SW_STAMP_SLOTS upcalls old is not timed.
   */
  portSlowPathLatency(port: number): LatencyHistogramData {
    this.ports.entryAddr(port);
    const buf = this.rt.memory.i32.buffer;
    const f64 = (this.f64 ??= new Float64Array(buf));
    const at =
      (this.state.base +
        this.rt.memory.view.getUint32(this.state.base + NET_SW_SLOW_HIST, true) +
        port * NET_SW_PORT_HIST_BYTES) >>
      3;
    const out = emptyLatency();
    out.sumSeconds = f64[at]! / 1e9;
    for (let b = 0; b < BURST_BUCKETS; b++) out.count += out.counts[b] = f64[at + 1 + b]!;
    return out;
  }

  /** Views over host memory for portBurstLatency (made at its first call). */
  private f64: Float64Array | null = null;
  private u32: Uint32Array | null = null;

  /** Host address of the per-port burst split (set by net_switch_init). */
  private splitAddr(): number {
    return this.state.base + this.rt.memory.view.getUint32(this.state.base + NET_SW_SPLIT, true);
  }

  async detach(): Promise<void> {
    if (this.job && this.core) await this.core.detachJob(this.job);
    this.job = null;
    this.core = null;
  }

  /** One run of the switch on the calling thread (tests; a switch not attached to a core). */
  runOnce(budget = 256): number {
    if (this.job) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: attached to a core; it runs there`);
    return this.kernel.fn<Fn<[number, number]>>('net_switch_run')(this.state.base, budget);
  }

  /** The core's doorbell and sleeping words: where a guest driver kicks the switch's devices. */
  notifyWords(): { doorbell: number; sleeping: number } {
    if (!this.core) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: not attached to a core`);
    return { doorbell: this.core.controlBase + CTL_DOORBELL, sleeping: this.core.controlBase + CTL_SLEEPING };
  }

  /** Wakes the serving core (after writing downcalls); a no-op when the switch runs on the caller's thread. */
  kick(): void {
    if (this.core) ringDoorbell(this.rt.memory.i32, this.core.controlBase);
  }

  /** Attaches a virtio-net device as port `port` (a trunk when `trunk`). */
  addVnic(port: number, device: NetDevice, opts: { trunk?: boolean; mirror?: NetRing; upcalls?: boolean } = {}): void {
    const mem = this.rt.memory;
    let vlanMap = 0;
    if (opts.trunk) {
      const r = mem.alloc({
        name: `${this.name}:vlan-map:${port}`,
        owner: this.name,
        kind: 'device-state',
        sizeBytes: NET_VLAN_MAP_BYTES,
      });
      mem.u8.fill(0xff, r.base, r.base + NET_VLAN_MAP_BYTES);
      this.vlanMaps.set(port, r);
      vlanMap = r.base;
    }
    mem.view.setUint32(device.state.base + NETD_PORT, port, true);
    this.ports.setNew(port, {
      kind: 'vnic',
      target: device.state.base,
      mac: device.mac,
      vlanMap,
      mirror: opts.mirror?.base ?? 0,
      upcallRing: opts.upcalls === false ? 0 : this.upcallRing(port).base,
    });
  }

  /** A VLAN sub-port `port` of trunk VNIC port `parent` (frames tagged `vlan` enter by it). */
  addTrunkSub(port: number, parent: number, vlan: number, opts: { mac?: string; upcalls?: boolean } = {}): void {
    const map = this.vlanMaps.get(parent);
    if (!map) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: port ${parent} is not a trunk VNIC`);
    parseArgs(intIn(1, 4094), vlan, 'trunk sub-port vlan');
    const entry: Parameters<PortTable['setNew']>[1] = {
      kind: 'trunk-sub',
      parent,
      vlan,
      upcallRing: opts.upcalls === false ? 0 : this.upcallRing(port).base,
    };
    if (opts.mac !== undefined) entry.mac = opts.mac;
    this.ports.setNew(port, entry);
    this.rt.memory.view.setUint16(map.base + 2 * vlan, port, true);
  }

  /** A VXLAN tunnel port (its socket worker is bound to the tunnel I/O region). */
  addTunnel(port: number, tio: TunnelIo, opts: { upcalls?: boolean; mirror?: NetRing } = {}): void {
    if (this.core) tio.bindCore(this.core.controlBase);
    this.ports.setNew(port, {
      kind: 'tunnel',
      target: tio.base,
      mirror: opts.mirror?.base ?? 0,
      upcallRing: opts.upcalls === false ? 0 : this.upcallRing(port).base,
    });
  }

  /** Removes a port; resolves once no burst can be using it. */
  async removePort(port: number): Promise<void> {
    await this.ports.remove(port);
  }

  /** The upcall ring of `port` (created on first use). */
  upcallRing(port: number): NetRing {
    let r = this.upcallRings.get(port);
    if (!r) {
      r = new NetRing(
        this.rt.memory,
        `${this.name}:upcall:${port}`,
        this.name,
        this.upcallRecords,
        NET_UPC_RECORD_BYTES,
      );
      this.upcallRings.set(port, r);
    }
    return r;
  }

  /** Host address of the word the switch bumps and notifies after a run that wrote upcalls. */
  get upcallBellAddr(): number {
    return this.state.base + NET_SW_UPCALL_BELL;
  }

  /**
   * Where the slow path's end of this switch is (its rings for `ports`, the upcall bell, the
   * serving core's doorbell), for a runner on another thread (`SharedSwitchEnd`).
   */
  slowPathEnd(ports: readonly number[]): SlowPathSwitchInit {
    const words = this.core ? this.notifyWords() : { doorbell: 0, sleeping: 0 };
    return {
      stateBase: this.state.base,
      down: { base: this.down.base, capacity: this.down.capacity },
      upcallRings: ports.map((port) => {
        const r = this.upcallRing(port);
        return { port, base: r.base, capacity: r.capacity };
      }),
      ...words,
    };
  }

  /** Sends one downcall (install, re-inject, delete, flush) and wakes the core. False: ring full. */
  downcall(d: Downcall): boolean {
    const ok = writeDowncall(this.rt.memory, this.down, d);
    if (ok) this.kick();
    return ok;
  }

  /**
   * Ordered upcalls (upcall.ts in the kernel): the fast path counts each miss it hands up, and a
   * packet hitting a flow whose earlier packets are still unanswered goes up behind them. Only for
   * a slow path that answers every counted upcall once (`release` in its downcalls), as the
   * SlowPathRunner does.
   */
  orderUpcalls(on: boolean): void {
    Atomics.store(this.rt.memory.i32, (this.state.base + NET_SW_ORDERED) >> 2, on ? 1 : 0);
  }

  /** Sets the switch's tick (the control plane's clock: 1 ms by convention). */
  setNow(tick: number): void {
    Atomics.store(this.rt.memory.i32, (this.state.base + NET_SW_NOW) >> 2, tick | 0);
  }

  /** Runs completed so far (the epoch word, +1 per run). */
  epoch(): number {
    return Atomics.load(this.rt.memory.i32, (this.state.base + NET_SW_EPOCH) >> 2) >>> 0;
  }

  /** Resolves once two runs have ended (no run that began before the call is still going). */
  async waitQuiet(timeoutMs = 5000): Promise<void> {
    if (!this.job) return; // nothing runs it asynchronously
    const start = this.epoch();
    const deadline = Date.now() + timeoutMs;
    this.kick();
    while ((this.epoch() - start) >>> 0 < 2) {
      if (Date.now() > deadline)
        throw new QingtianError(
          ErrorCode.Timeout,
          `${this.name}: the switch did not complete two runs within ${timeoutMs} ms`,
        );
      this.kick();
      await sleep(1);
    }
  }

  stats(): SwitchStats {
    const v = this.rt.memory.view;
    const b = this.state.base;
    const n = (off: number): number => Number(v.getBigUint64(b + off, true));
    const out = {} as Record<string, unknown>;
    SWITCH_STAT_NAMES.forEach(([name, idx]) => (out[name] = n(NET_SW_STATS + 8 * idx)));
    out['drops'] = Array.from({ length: 16 }, (_, i) => n(NET_SW_DROPS + 8 * i));
    out['malformedByReason'] = Array.from({ length: 16 }, (_, i) => n(NET_SW_MALFORMED + 8 * i));
    out['lastRefusal'] = v.getUint32(b + NET_SW_LAST_REFUSAL, true);
    out['flows'] = this.flowTable.size;
    return out as unknown as SwitchStats;
  }

  /** COUNT action counter `i`: packets and bytes. */
  counter(i: number): { packets: number; bytes: number } {
    parseArgs(intIn(0, 63), i, 'counter');
    const v = this.rt.memory.view;
    const at = this.state.base + NET_SW_COUNTER_ARRAY + 16 * i;
    return { packets: Number(v.getBigUint64(at, true)), bytes: Number(v.getBigUint64(at + 8, true)) };
  }

  portStats(port: number): PortStats {
    this.ports.entryAddr(port);
    const v = this.rt.memory.view;
    const at = this.state.base + NET_SW_PORT_STATS + port * NET_SW_PORT_STAT_BYTES;
    const n = (off: number): number => Number(v.getBigUint64(at + off, true));
    return {
      inPackets: n(NET_PS_IN_PACKETS),
      inBytes: n(NET_PS_IN_BYTES),
      outPackets: n(NET_PS_OUT_PACKETS),
      outBytes: n(NET_PS_OUT_BYTES),
      outDrops: n(NET_PS_OUT_DROPS),
      upcalls: n(NET_PS_UPCALLS),
      upcallDrops: n(NET_PS_UPCALL_DROPS),
      errors: n(NET_PS_ERRORS),
    };
  }

  /** The installed flows, read out of band (a concurrent run may change them meanwhile). */
  flows(limit = Infinity): FlowInfo[] {
    const dump = this.kernel.fn<Fn<[number, number, number, number]>>('net_flow_dump');
    const mem = this.rt.memory;
    const v = mem.view;
    const out: FlowInfo[] = [];
    let at = 0;
    for (;;) {
      const next = dump(this.state.base, at, this.dumpArea.base, 256);
      if (next < 0)
        throw new QingtianError(ErrorCode.DeviceState, `${this.name}: net_flow_dump refused the switch state`);
      const n = v.getUint32(this.dumpArea.base, true);
      for (let i = 0; i < n && out.length < limit; i++) {
        const r = this.dumpArea.base + NET_DUMP_RECORDS + i * NET_DUMP_BYTES;
        const idx = v.getUint32(r + 48, true);
        const fr = this.records.base + NET_FR_RECORDS + idx * NET_FR_BYTES;
        out.push({
          key: mem.u8.slice(r, r + 48),
          inPort: v.getUint16(r + NET_KEY_IN_PORT, true),
          record: idx,
          lastHit: v.getUint32(r + 52, true),
          cookie: v.getUint32(fr + NET_FR_COOKIE, true),
          created: v.getUint32(fr + NET_FR_CREATED, true),
          packets: Number(v.getBigUint64(fr + NET_FR_PACKETS, true)),
          bytes: Number(v.getBigUint64(fr + NET_FR_BYTES_COUNT, true)),
          actions: mem.u8.slice(fr + NET_FR_ACTIONS, fr + NET_FR_ACTIONS + v.getUint16(fr + NET_FR_ACTION_BYTES, true)),
        });
      }
      if (out.length >= limit || n === 0 || next >= this.flowTable.bucketCount * 8) break;
      at = next;
    }
    return out;
  }

  /**
   * Last-hit ticks of installed flows by key (48 bytes each): one keyed probe per key, out of band,
   * so a sweep of the few connections due costs what they cost, not a pass over a table of a
   * million flows. `undefined` for a key not installed.
   */
  flowStamps(keys: readonly Uint8Array[]): (number | undefined)[] {
    const out: (number | undefined)[] = [];
    const stamps = this.kernel.fn<Fn<[number, number, number, number]>>('net_flow_stamps');
    const mem = this.rt.memory;
    const base = this.dumpArea.base;
    const outAt = base + 256 * NET_KEY_BYTES;
    for (let at = 0; at < keys.length; at += 256) {
      const n = Math.min(256, keys.length - at);
      for (let i = 0; i < n; i++) mem.u8.set(keys[at + i]!.subarray(0, NET_KEY_BYTES), base + i * NET_KEY_BYTES);
      if (stamps(this.state.base, base, n, outAt) !== n)
        throw new QingtianError(ErrorCode.DeviceState, `${this.name}: net_flow_stamps refused the switch state`);
      for (let i = 0; i < n; i++) {
        const t = mem.view.getUint32(outAt + 4 * i, true);
        out.push(t === NET_STAMP_NONE ? undefined : t);
      }
    }
    return out;
  }

  /** Frees every region (detach first). */
  free(): void {
    if (this.freed) return;
    if (this.job) throw new QingtianError(ErrorCode.DeviceState, `${this.name}: detach before free`);
    this.freed = true;
    const mem = this.rt.memory;
    for (const r of this.upcallRings.values()) r.free();
    for (const r of this.vlanMaps.values()) mem.free(r, this.name);
    this.down.free();
    this.flowTable.dispose();
    mem.free(this.records, this.name);
    mem.free(this.scratch, this.name);
    mem.free(this.dumpArea, this.name);
    this.ports.free();
    mem.free(this.state, this.name);
  }
}

function pow2(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || (n & (n - 1)) !== 0)
    throw new QingtianError(ErrorCode.InvalidArgument, `VSwitch ${what}: expected a power of two, got ${n}`);
  return n;
}
