import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi, StateRegion } from '../../common/host-memory-api.js';
import { macBytes } from './net-address.js';
import {
  NET_PE_FLAGS,
  NET_PE_KIND,
  NET_PE_MAC,
  NET_PE_MIRROR,
  NET_PE_MTU,
  NET_PE_PARENT,
  NET_PE_TARGET,
  NET_PE_UPCALL_RING,
  NET_PE_VLAN,
  NET_PE_VLAN_MAP,
  NET_PF_MIRROR,
  NET_PF_UP,
  NET_PORT_NONE,
  NET_PORT_TRUNK_SUB,
  NET_PORT_TUNNEL,
  NET_PORT_VNIC,
  NET_PT_ENTRIES,
  NET_PT_ENTRY_BYTES,
  NET_PT_HIGH_WATER,
  NET_PT_LAYOUT,
  NET_PT_MAGIC,
  NET_PT_MAX_PORTS,
} from './net-layout.js';

export type PortKind = 'vnic' | 'tunnel' | 'trunk-sub';

/** A port table entry as the control plane writes it (assembly/net/port-table.ts). */
export interface PortEntry {
  kind: PortKind;
  up?: boolean;
  /** VNIC: the device state (NETD) address; tunnel: the tunnel I/O region (NTIO) address. */
  target?: number;
  /** Trunk sub-port: the VNIC port it lives on, and its VLAN id. */
  parent?: number;
  vlan?: number;
  mtu?: number;
  /** VNIC trunk: the address of its VLAN → sub-port map (u16[4096]). */
  vlanMap?: number;
  /** Mirror ring address (0: none). */
  mirror?: number;
  /** Upcall ring address (0: misses are dropped). */
  upcallRing?: number;
  mac?: string;
}

const KINDS = { vnic: NET_PORT_VNIC, tunnel: NET_PORT_TUNNEL, 'trunk-sub': NET_PORT_TRUNK_SUB } as const;

/**
 * The switch's port table ('NPRT'): port id → a VNIC's queues, a tunnel, a trunk sub-port. The
 * fast path reads it on every packet and never writes it. A live entry changes only through
 * `set`/`remove`, which follow the table's protocol: kind NONE first, wait until no burst holds
 * the old entry (the switch's epoch moved twice), rewrite, kind last.
 */
export class PortTable {
  readonly region: StateRegion;

  constructor(
    private readonly memory: HostMemoryApi,
    readonly maxPorts: number,
    name: string,
    private readonly owner: string,
    private readonly waitQuiet: () => Promise<void>,
  ) {
    this.region = memory.allocState({
      name,
      owner,
      kind: 'device-state',
      magic: NET_PT_MAGIC,
      layoutVersion: NET_PT_LAYOUT,
      payloadBytes: NET_PT_ENTRIES - 64 + maxPorts * NET_PT_ENTRY_BYTES,
    });
    memory.view.setUint32(this.region.base + NET_PT_MAX_PORTS, maxPorts, true);
  }

  get base(): number {
    return this.region.base;
  }

  entryAddr(port: number): number {
    this.check(port);
    return this.region.base + NET_PT_ENTRIES + port * NET_PT_ENTRY_BYTES;
  }

  kind(port: number): PortKind | null {
    const k = this.memory.u8[this.entryAddr(port) + NET_PE_KIND];
    return k === NET_PORT_VNIC
      ? 'vnic'
      : k === NET_PORT_TUNNEL
        ? 'tunnel'
        : k === NET_PORT_TRUNK_SUB
          ? 'trunk-sub'
          : null;
  }

  /** Writes (or rewrites) port `port`. A live entry is first taken down and waited out. */
  async set(port: number, entry: PortEntry): Promise<void> {
    const e = this.entryAddr(port);
    if (this.memory.u8[e + NET_PE_KIND] !== NET_PORT_NONE) await this.takeDown(port);
    this.write(port, entry);
  }

  /** set() for a port that is not in use (no waiting: nothing can hold it). */
  setNew(port: number, entry: PortEntry): void {
    if (this.kind(port) !== null)
      throw new QingtianError(ErrorCode.DeviceState, `port ${port}: already in use (${this.kind(port)}); use set()`);
    this.write(port, entry);
  }

  /** Removes port `port`; resolves once no burst can still be using it. */
  async remove(port: number): Promise<void> {
    if (this.kind(port) === null) return;
    await this.takeDown(port);
    this.memory.u8.fill(0, this.entryAddr(port), this.entryAddr(port) + NET_PT_ENTRY_BYTES);
    this.updateHighWater();
  }

  /** Sets or clears a flag bit of a live entry (UP, MIRROR): one byte store, no protocol needed. */
  setFlags(port: number, flags: { up?: boolean; mirror?: boolean }): void {
    const at = this.entryAddr(port) + NET_PE_FLAGS;
    let f = this.memory.u8[at]!;
    if (flags.up !== undefined) f = flags.up ? f | NET_PF_UP : f & ~NET_PF_UP;
    if (flags.mirror !== undefined) f = flags.mirror ? f | NET_PF_MIRROR : f & ~NET_PF_MIRROR;
    Atomics.store(this.memory.u8, at, f);
  }

  private async takeDown(port: number): Promise<void> {
    Atomics.store(this.memory.u8, this.entryAddr(port) + NET_PE_KIND, NET_PORT_NONE);
    await this.waitQuiet();
  }

  private write(port: number, p: PortEntry): void {
    const e = this.entryAddr(port);
    const v = this.memory.view;
    this.memory.u8.fill(0, e, e + NET_PT_ENTRY_BYTES);
    let flags = p.up === false ? 0 : NET_PF_UP;
    if ((p.mirror ?? 0) !== 0) flags |= NET_PF_MIRROR;
    v.setUint8(e + NET_PE_FLAGS, flags);
    v.setUint16(e + NET_PE_PARENT, p.parent ?? 0, true);
    v.setUint16(e + NET_PE_VLAN, p.vlan ?? 0, true);
    v.setUint16(e + NET_PE_MTU, p.mtu ?? 0, true);
    v.setUint32(e + NET_PE_TARGET, p.target ?? 0, true);
    v.setUint32(e + NET_PE_VLAN_MAP, p.vlanMap ?? 0, true);
    v.setUint32(e + NET_PE_MIRROR, p.mirror ?? 0, true);
    v.setUint32(e + NET_PE_UPCALL_RING, p.upcallRing ?? 0, true);
    if (p.mac !== undefined) this.memory.u8.set(macBytes(p.mac), e + NET_PE_MAC);
    // Kind last: the fast path ignores an entry until then.
    Atomics.store(this.memory.u8, e + NET_PE_KIND, KINDS[p.kind]);
    this.updateHighWater();
  }

  private updateHighWater(): void {
    let high = 0;
    for (let p = 0; p < this.maxPorts; p++)
      if (this.memory.u8[this.region.base + NET_PT_ENTRIES + p * NET_PT_ENTRY_BYTES + NET_PE_KIND] !== NET_PORT_NONE)
        high = p + 1;
    Atomics.store(this.memory.i32, (this.region.base + NET_PT_HIGH_WATER) >> 2, high);
  }

  private check(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port >= this.maxPorts)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `port: expected an integer in [0, ${this.maxPorts - 1}], got ${port}`,
      );
  }

  free(): void {
    this.memory.free(this.region, this.owner);
  }
}
