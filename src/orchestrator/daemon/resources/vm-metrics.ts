import type { LatencyHistogramData } from '../../../common/latency-histogram.js';
import { BURST_BOUNDS_S } from '../../../dpu/core/burst-latency.js';
import type { Vm } from '../../vms/vm.js';
import type { VmBlkHandle, VmNetHandle } from '../../vms/vm-device.js';
import { BURST_DECADES_S } from './port-metrics.js';
import { labelValue, PromFamily, PromHistogram, type ByteSink, type SeriesMemo } from '../prom-text.js';

/** A device's traffic as the guest sees it: rx into the guest, tx out of it. */
export interface VmDeviceTraffic {
  vm: string;
  device: string;
  kind: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
}

/** The devices of a VM the guest is probing now: only then do their counters move. */
const SERVING = new Set(['running', 'paused']);

/** A VM's devices whose counters can be read now: its vsock device, and net / blk while it runs. */
function servingDevices(vm: Vm): { id: string; handle: VmNetHandle | VmBlkHandle }[] {
  if (!SERVING.has(vm.state)) return [];
  const out: { id: string; handle: VmNetHandle | VmBlkHandle }[] = [];
  for (const d of vm.devices) {
    if (d.kind !== 'net' && d.kind !== 'blk') continue;
    try {
      out.push({ id: d.id, handle: vm.device(d.id) });
    } catch {
      // Between a state change and its devices' boot or halt: nothing to read this time.
    }
  }
  return out;
}

/**
 * The traffic of each VM's devices, read out of band from the devices' counters: the vsock
 * device (it counts at the host's end of the connection, so its tx is the guest's rx) and the
 * net devices of VMs that run (a net device is made afresh at each boot, its counters with it).
 */
export function vmDeviceTraffic(vms: readonly Vm[]): VmDeviceTraffic[] {
  const out: VmDeviceTraffic[] = [];
  for (const vm of vms) {
    const vs = vm.vsock;
    if (vs) {
      const t = vs.device.traffic();
      out.push({
        vm: vm.name,
        device: vs.id,
        kind: 'vsock',
        rxPackets: t.txPackets,
        rxBytes: t.txBytes,
        txPackets: t.rxPackets,
        txBytes: t.rxBytes,
      });
    }
    for (const { id, handle } of servingDevices(vm)) {
      if (handle.kind !== 'net') continue;
      const t = handle.device.traffic();
      out.push({ vm: vm.name, device: id, kind: 'net', ...pick(t) });
    }
  }
  return out;
}

const pick = (t: { rxPackets: number; rxBytes: number; txPackets: number; txBytes: number }) => ({
  rxPackets: t.rxPackets,
  rxBytes: t.rxBytes,
  txPackets: t.txPackets,
  txBytes: t.txBytes,
});

const BLK_OPS = [
  ['read', 'reads'],
  ['write', 'writes'],
  ['flush', 'flushes'],
  ['get_id', 'getIds'],
  ['discard', 'discards'],
  ['write_zeroes', 'writeZeroes'],
] as const;
const BLK_ERRORS = [
  ['ioerr', 'ioErrors'],
  ['unsupp', 'unsupported'],
  ['rejected', 'rejected'],
] as const;

const EMPTY = Buffer.alloc(0);
/** Prefixes of one burst histogram series: a line per bound, +Inf, sum, count. */
const BLK_HIST_SERIES = BURST_BOUNDS_S.length + 3;

/** The prefixes of one VM's series, made once per VM (names and ids do not change). */
interface VmPrefixes {
  state: string;
  stateLine: Buffer;
  vcpus: Buffer;
  memory: Buffer;
  /** Per device object (a net device is new at each boot): that device's prefixes. */
  devices: WeakMap<object, Buffer[]>;
}

/**
 * The per-VM families of `/metrics`: state, size, device traffic (vsock and net: packets and
 * bytes; net: drops and errors; blk: requests by op, bytes, errors), each device's burst
 * durations and each disk's request latency (pop to used), read out of band. Series prefixes
 * are made once per VM and device and kept (a scrape with 100 VMs then only formats numbers).
 * Rendering is synchronous: no await per VM.
 */
export class VmMetrics {
  private readonly info = new PromFamily('qingtian_vm_info', 'gauge', 'A VM of the host (1 per VM), by state');
  private readonly vcpus = new PromFamily('qingtian_vm_vcpus', 'gauge', 'vCPUs of a VM');
  private readonly memory = new PromFamily('qingtian_vm_memory_bytes', 'gauge', 'Guest RAM of a VM');
  private readonly packets = new PromFamily(
    'qingtian_vm_device_packets_total',
    'counter',
    'Packets through a VM vsock or net device (rx: into the guest, tx: out of it); a net device counts from its VM boot',
  );
  private readonly bytes = new PromFamily(
    'qingtian_vm_device_bytes_total',
    'counter',
    'Payload bytes through a VM vsock or net device (rx: into the guest, tx: out of it); a net device counts from its VM boot',
  );
  private readonly netDrops = new PromFamily(
    'qingtian_vm_net_dropped_packets_total',
    'counter',
    'Frames for the guest a VM net device dropped (no receive buffer, filtered, too big for the buffers)',
  );
  private readonly netErrors = new PromFamily(
    'qingtian_vm_net_errors_total',
    'counter',
    'Guest buffers (rx) and transmit requests (tx) a VM net device refused',
  );
  private readonly blkRequests = new PromFamily(
    'qingtian_vm_blk_requests_total',
    'counter',
    'Requests a VM disk took from the guest, by op (IOPS: rate of this)',
  );
  private readonly blkBytes = new PromFamily(
    'qingtian_vm_blk_bytes_total',
    'counter',
    'Data bytes of the read and write requests a VM disk accepted',
  );
  private readonly blkErrors = new PromFamily(
    'qingtian_vm_blk_request_errors_total',
    'counter',
    'Requests a VM disk answered IOERR or UNSUPP, or returned without a status (malformed)',
  );
  private readonly bursts = new PromHistogram(
    'qingtian_vm_device_burst_duration_seconds',
    "How long each burst of a VM's vsock or blk device held its DPU core (one call that did work, " +
      'timed by the core from its previous clock read of the pass); a net device is served by the vSwitch burst',
    BURST_BOUNDS_S,
  );
  private readonly blkLatency = new PromHistogram(
    'qingtian_vm_blk_request_duration_seconds',
    'Per request a VM disk completed (its requests_total), the time from the DPU core burst that popped its chain ' +
      'to the burst that wrote its used element, each taken at the start of the burst by the core clock; a request ' +
      'completed in the burst that popped it (RAM and null disks, refused requests) counts 0: it took at most that burst',
    BURST_BOUNDS_S,
    BURST_DECADES_S,
  );
  private readonly families: readonly PromFamily[] = [
    this.info,
    this.vcpus,
    this.memory,
    this.packets,
    this.bytes,
    this.netDrops,
    this.netErrors,
    this.blkRequests,
    this.blkBytes,
    this.blkErrors,
    this.bursts,
    this.blkLatency,
  ];
  private readonly prefixes = new WeakMap<Vm, VmPrefixes>();
  /** Per device (by its prefixes): its burst series as last printed. */
  private readonly memos = new WeakMap<readonly Buffer[], SeriesMemo>();
  /** Per blk device (by its prefixes): its request-latency series as last printed. */
  private readonly latencyMemos = new WeakMap<readonly Buffer[], SeriesMemo>();

  /** Writes the families, for the VMs listed, into `page`, in one synchronous pass over them. */
  render(vms: readonly Vm[], page: ByteSink): void {
    for (const vm of vms) {
      const p = this.vmPrefixes(vm);
      const state = vm.state;
      if (state !== p.state) {
        p.state = state;
        p.stateLine = this.info.prefix(`vm="${labelValue(vm.name)}",state="${state}"`);
      }
      this.info.add(p.stateLine, 1);
      this.vcpus.add(p.vcpus, vm.vcpus);
      this.memory.add(p.memory, vm.memoryBytes);
      const vs = vm.vsock;
      if (vs) {
        const d = this.devicePrefixes(vm, p, vs.device, vs.id, 'vsock');
        const t = vs.device.traffic();
        this.traffic(d, t.txPackets, t.txBytes, t.rxPackets, t.rxBytes);
        this.burst(d, vs.device.burstLatency());
      }
      for (const { id, handle } of servingDevices(vm)) {
        const d = this.devicePrefixes(vm, p, handle.device, id, handle.kind);
        if (handle.kind === 'net') {
          const t = handle.device.traffic();
          this.traffic(d, t.rxPackets, t.rxBytes, t.txPackets, t.txBytes);
          this.netDrops.add(d[4]!, t.rxDrops);
          this.netErrors.add(d[5]!, t.rxErrors);
          this.netErrors.add(d[6]!, t.txErrors);
        } else {
          const c = handle.device.requestCounters();
          BLK_OPS.forEach(([, key], i) => this.blkRequests.add(d[i]!, c[key]));
          this.blkBytes.add(d[6]!, c.bytesRead);
          this.blkBytes.add(d[7]!, c.bytesWritten);
          BLK_ERRORS.forEach(([, key], i) => this.blkErrors.add(d[8 + i]!, c[key]));
          this.burst(d, handle.device.burstLatency(), 11);
          this.requestLatency(d, handle.device.requestLatency(), 11 + BLK_HIST_SERIES);
        }
      }
    }
    for (const f of this.families) f.flush(page);
  }

  private vmPrefixes(vm: Vm): VmPrefixes {
    let p = this.prefixes.get(vm);
    if (!p) {
      const l = `vm="${labelValue(vm.name)}"`;
      p = {
        state: '',
        stateLine: EMPTY,
        vcpus: this.vcpus.prefix(l),
        memory: this.memory.prefix(l),
        devices: new WeakMap(),
      };
      this.prefixes.set(vm, p);
    }
    return p;
  }

  /**
   * A device's prefixes, in the order render() uses them. vsock: packets rx/tx, bytes rx/tx,
   * then its burst series. net: packets rx/tx, bytes rx/tx, drops, errors rx/tx. blk: requests
   * by op (6), bytes read/write, errors (3), its burst series, then its request-latency series.
   */
  private devicePrefixes(vm: Vm, p: VmPrefixes, device: object, id: string, kind: 'vsock' | 'net' | 'blk'): Buffer[] {
    let d = p.devices.get(device);
    if (d) return d;
    const l = `vm="${labelValue(vm.name)}",device="${labelValue(id)}"`;
    const lk = `${l},kind="${kind}"`;
    if (kind === 'blk') {
      d = [
        ...BLK_OPS.map(([op]) => this.blkRequests.prefix(`${l},op="${op}"`)),
        this.blkBytes.prefix(`${l},direction="read"`),
        this.blkBytes.prefix(`${l},direction="write"`),
        ...BLK_ERRORS.map(([status]) => this.blkErrors.prefix(`${l},status="${status}"`)),
        ...this.bursts.series(lk),
        ...this.blkLatency.series(l),
      ];
    } else {
      d = [
        this.packets.prefix(`${lk},direction="rx"`),
        this.packets.prefix(`${lk},direction="tx"`),
        this.bytes.prefix(`${lk},direction="rx"`),
        this.bytes.prefix(`${lk},direction="tx"`),
        ...(kind === 'net'
          ? [
              this.netDrops.prefix(l),
              this.netErrors.prefix(`${l},direction="rx"`),
              this.netErrors.prefix(`${l},direction="tx"`),
            ]
          : this.bursts.series(lk)),
      ];
    }
    p.devices.set(device, d);
    return d;
  }

  private traffic(d: readonly Buffer[], rxPackets: number, rxBytes: number, txPackets: number, txBytes: number): void {
    this.packets.add(d[0]!, rxPackets);
    this.packets.add(d[1]!, txPackets);
    this.bytes.add(d[2]!, rxBytes);
    this.bytes.add(d[3]!, txBytes);
  }

  private requestLatency(d: readonly Buffer[], h: LatencyHistogramData, from: number): void {
    let memo = this.latencyMemos.get(d);
    if (!memo) this.latencyMemos.set(d, (memo = { count: -1, sum: -1, bytes: null }));
    this.blkLatency.observeMemo(d, h, from, memo);
  }

  private burst(d: readonly Buffer[], h: LatencyHistogramData, from = 4): void {
    let memo = this.memos.get(d);
    if (!memo) this.memos.set(d, (memo = { count: -1, sum: -1, bytes: null }));
    this.bursts.observeMemo(d, h, from, memo);
  }
}
