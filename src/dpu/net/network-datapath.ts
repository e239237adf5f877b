import type { GuestMemoryView } from '../../common/guest-api.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { DpuCore } from '../core/dpu-core.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import { formatMac } from './mac-address.js';
import { NetDevice, type NetDeviceStats } from './net-device.js';
import { NET_PE_MIRROR } from './net-layout.js';
import { PcapMirror } from './pcap-mirror.js';
import type { CtTimeouts } from './conntrack.js';
import { SlowPathOnCore } from './slow-path-on-core.js';
import { TunnelIo } from './tunnel-io.js';
import { TunnelSocket } from './tunnel-socket.js';
import type { ModelOp } from './vpc-model-ops.js';
import type { Port, Tunnel } from './vpc-resources.js';
import { VSwitch } from './vswitch.js';

export interface DatapathOptions {
  runtime: KernelRuntime;
  core: DpuCore;
  maxPorts: number;
  flowCapacity: number;
  maxIdleMs: number;
  upcallRecords: number;
  /** Wall-clock nanoseconds at performance.now() 0 (pcap timestamps). */
  epochNs: bigint;
  /** The slow path's model (its options and its changes so far) and conntrack timeouts. */
  slowPath: {
    model: { seed?: number | undefined; maxPortId?: number | undefined };
    ops: readonly ModelOp[];
    ctTimeouts?: Partial<CtTimeouts> | undefined;
    arenaBytes?: number | undefined;
  };
}

/**
 * The network's data plane as the control plane holds it: one vSwitch job on a DPU core, the
 * slow path on the same core (a host job holding a replica of the VPC model), the virtio-net
 * devices of attached ports, the tunnels' socket workers and the pcap mirrors. Port ids are the
 * VPC model's.
 */
export class NetworkDatapath {
  readonly sw: VSwitch;
  readonly devices = new Map<number, { device: NetDevice; guest: string }>();
  readonly tunnels = new Map<number, { io: TunnelIo; socket: TunnelSocket }>();
  readonly mirrors = new Map<number, PcapMirror>();

  private constructor(
    private readonly o: DatapathOptions,
    sw: VSwitch,
    readonly slow: SlowPathOnCore,
  ) {
    this.sw = sw;
  }

  /**
   * Creates the switch, places it on the core, and puts the slow path on the same core.
   * `made(slow)` is called as soon as the slow path's handle exists (it holds `o.slowPath.ops`):
   * the model's later changes go to it from then on, even while it is still starting.
   */
  static async start(o: DatapathOptions, made: (slow: SlowPathOnCore) => void): Promise<NetworkDatapath> {
    const sw = new VSwitch(o.runtime, {
      name: 'network',
      maxPorts: o.maxPorts,
      flowCapacity: o.flowCapacity,
      maxIdleTicks: o.maxIdleMs,
      upcallRecords: o.upcallRecords,
    });
    try {
      await sw.attach(o.core);
    } catch (e) {
      sw.free();
      throw e;
    }
    const slow = new SlowPathOnCore(o.core, o.runtime.memory, sw, { ports: [], ...o.slowPath });
    made(slow);
    try {
      await slow.start();
    } catch (e) {
      await sw.detach().catch(() => undefined);
      sw.free();
      throw e;
    }
    return new NetworkDatapath(o, sw, slow);
  }

  /** Gives VM port `port` a virtio-net device in `guest`, on the switch (with its sub-ports). */
  attach(
    port: Port,
    guest: GuestMemoryView,
    opts: { queuePairs?: number | undefined; mtu?: number | undefined },
  ): NetDevice {
    if (this.devices.has(port.id))
      throw new QingtianError(
        ErrorCode.DeviceState,
        `port '${port.name}' is already attached to guest '${this.devices.get(port.id)!.guest}'`,
      );
    const devOpts: ConstructorParameters<typeof NetDevice>[2] = { name: `net:${port.name}`, mac: formatMac(port.mac) };
    if (opts.queuePairs !== undefined) devOpts.queuePairs = opts.queuePairs;
    if (opts.mtu !== undefined) devOpts.mtu = opts.mtu;
    const device = new NetDevice(this.o.runtime, guest, devOpts);
    // Every VNIC is a trunk: untagged frames are the port's, tagged ones go to its sub-ports.
    this.sw.addVnic(port.id, device, { trunk: true });
    this.devices.set(port.id, { device, guest: guest.name });
    this.slow.addPort(port.id);
    for (const sub of port.subPorts.values()) this.addSub(sub);
    return device;
  }

  /** A sub-port of an attached VM port joins the switch. */
  addSub(sub: Port): void {
    this.sw.addTrunkSub(sub.id, sub.parent!.id, sub.vlan, { mac: formatMac(sub.mac) });
    this.slow.addPort(sub.id);
  }

  /**
   * Takes a port (VNIC, sub-port or tunnel) off the switch; resolves once no burst uses it, with
   * a VNIC's last device counters (read then, before its device is freed).
   */
  async removePort(id: number): Promise<NetDeviceStats | null> {
    if (this.sw.ports.kind(id) === null) return null;
    await this.unmirror(id);
    await this.slow.removePort(id);
    await this.sw.removePort(id);
    const d = this.devices.get(id);
    if (!d) return null;
    const last = d.device.stats();
    d.device.free();
    this.devices.delete(id);
    return last;
  }

  /** A tunnel port: its I/O region on the switch and a socket worker bound to `address:port`. */
  async addTunnel(t: Tunnel, address: string, port: number): Promise<number> {
    const io = new TunnelIo(this.o.runtime.memory, `tunnel:${t.name}`, 'network');
    let socket: TunnelSocket;
    try {
      socket = await TunnelSocket.open(this.o.runtime.memory, io, address, port);
    } catch (e) {
      io.free();
      throw e;
    }
    this.sw.addTunnel(t.id, io);
    this.tunnels.set(t.id, { io, socket });
    this.slow.addPort(t.id);
    return socket.port;
  }

  async removeTunnel(id: number): Promise<void> {
    const t = this.tunnels.get(id);
    if (!t) return;
    await this.removePort(id);
    await t.socket.close();
    t.io.free();
    this.tunnels.delete(id);
  }

  /** Mirrors every frame entering or leaving port `id` into a pcap file. */
  async mirror(id: number, name: string, path: string, snaplen: number | undefined): Promise<PcapMirror> {
    if (this.sw.ports.kind(id) === null)
      throw new QingtianError(ErrorCode.DeviceState, `port '${name}' is not on the switch (attach it first)`);
    if (this.mirrors.has(id))
      throw new QingtianError(
        ErrorCode.DeviceState,
        `port '${name}' is already mirrored to ${this.mirrors.get(id)!.path}`,
      );
    const m = await PcapMirror.open(this.o.runtime.memory, { path, snaplen, epochNs: this.o.epochNs, name });
    // The ring's address first, then the flag that makes the fast path read it.
    Atomics.store(this.o.runtime.memory.i32, (this.sw.ports.entryAddr(id) + NET_PE_MIRROR) >> 2, m.ring.base);
    this.sw.ports.setFlags(id, { mirror: true });
    this.mirrors.set(id, m);
    return m;
  }

  /** Stops mirroring port `id`: the flag goes, the bursts that saw it end, the file is closed. */
  async unmirror(id: number): Promise<void> {
    const m = this.mirrors.get(id);
    if (!m) return;
    this.sw.ports.setFlags(id, { mirror: false });
    await this.sw.waitQuiet();
    Atomics.store(this.o.runtime.memory.i32, (this.sw.ports.entryAddr(id) + NET_PE_MIRROR) >> 2, 0);
    this.mirrors.delete(id);
    await m.close();
  }

  async close(): Promise<void> {
    await this.slow.detach();
    for (const id of [...this.mirrors.keys()]) await this.unmirror(id);
    await this.sw.detach();
    for (const t of this.tunnels.values()) {
      await t.socket.close();
      t.io.free();
    }
    this.tunnels.clear();
    for (const d of this.devices.values()) d.device.free();
    this.devices.clear();
    this.sw.free();
  }
}
