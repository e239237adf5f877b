import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { checkKernelStatus, kernelStatusError, statusTable, type StatusTable } from '../../common/kernel-status.js';
import { Lifetime } from '../../common/lifetime.js';
import { intIn, multipleIn, oneOf, parseArgs } from '../../common/validate.js';
import { defaultRuntime, type KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import { mask4, parseIPv4, parseIPv6, toPrefix4, toPrefix6, type Prefix4, type Prefix6 } from './ip-address.js';
import {
  LPM_E_BUSY,
  LPM_E_RANGE,
  LPM_E_STATE,
  LPM_LAYOUT,
  LPM_MAGIC,
  LPM_MAX_NEXT_HOP,
  LPM_NODE_MAX_UNITS,
  LPM_NODE_MIN_UNITS,
  LPM_NO_COVER,
  LPM_OP_ADD,
  LPM_OP_ADDR,
  LPM_OP_BYTES,
  LPM_OP_COVER_LENGTH,
  LPM_OP_DELETE,
  LPM_OP_KIND,
  LPM_OP_LENGTH,
  LPM_OP_NEXT_HOP,
  LPM_STOP_GROUPS,
  LPM_STOP_NODES,
} from '../../generated/flow.js';
import { HDR_BYTES } from '../../generated/common.js';

/** The address family of a {@link RouteTable}. */
export type AddressFamily = 'ipv4' | 'ipv6';

/** Options of {@link RouteTable}. Unknown keys are refused. */
export interface RouteTableOptions {
  /** Default 'ipv4' (DIR-24-8); 'ipv6' is a 16-bit first level with 8-bit strides. */
  family?: AddressFamily | undefined;
  /**
   * 256-entry groups per copy, for routes longer than the first level (/25+ in IPv4, /17+ in
   * IPv6), in [0, 4194304]. Default 8192 (IPv4), 16384 (IPv6). Each costs 1 KiB, twice.
   */
  maxGroups?: number | undefined;
  /**
   * IPv4: bytes per copy for the compact lookup nodes (one per /16 whose routes are not uniform),
   * a multiple of 8 in [1104, 69730344]. Default 16 MiB (a BGP-like table of 900k routes needs
   * about 3.9 MiB; the largest value never fills). Each costs that much twice. Ignored for IPv6.
   */
  maxNodeBytes?: number | undefined;
  /** Where its state lives and which kernels it calls. Default: defaultRuntime(); in a Host: host.runtime. */
  runtime?: KernelRuntime | undefined;
}

/** A route's prefix: text (`'10.0.0.0/8'`, `'2001:db8::/32'`) or `{ addr, length }` (IPv6 `addr` a bigint). */
export type RoutePrefix = string | Prefix4 | Prefix6;

const DEFAULT_NODE_BYTES = 16 << 20;

const optionsSchema = z
  .object({
    family: oneOf(['ipv4', 'ipv6']).optional(),
    maxGroups: intIn(0, 1 << 22).optional(),
    maxNodeBytes: multipleIn(8, LPM_NODE_MIN_UNITS * 8, LPM_NODE_MAX_UNITS * 8).optional(),
    runtime: z
      .custom<KernelRuntime>((v) => typeof v === 'object' && v !== null && 'kernel' in v, { error: 'a KernelRuntime' })
      .optional(),
  })
  .optional();

const OWNER = 'flow-route-table';
/** Ops per kernel call (one Left-Right flip each). */
const STAGE_OPS = 4096;
/** The largest next hop a route can carry, 2^22 − 1 (lookups return -1 for no route). */
export const MAX_NEXT_HOP = LPM_MAX_NEXT_HOP;

interface Route {
  addr: bigint;
  length: number;
}

/**
 * A longest-prefix-match routing table in the `flow` kernel: DIR-24-8 for IPv4, a 16-8-8-…
 * multibit trie for IPv6. IPv4 lookups read a compact image of the DIR-24-8 first level (a
 * 2^16-entry direct table and Poptrie-style nodes in a bounded heap, `maxNodeBytes`) that each
 * update brings up to date. Updates are Left-Right: the kernel changes the copy no reader uses,
 * swaps it in whole, then brings the other copy level; lookups on DPU cores (zero-copy through
 * `lookupAt` or the kernel's `flow_lpm4_lookup` / `flow_lpm6_lookup`) keep the copy they pinned
 * for their burst and never wait.
 *
 * The compact image: a 2^16-entry direct table (256 KiB) and, for each /16 whose routes are not
 * uniform, a node — a 256-bit map of where runs of equal next hops start and the run values, 2
 * bytes each (4 when a next hop is above 32766 or a group index above 32767). A BGP-like table of
 * 900k routes needs about 3.9 MiB of nodes. The heap packs itself when it runs out of room or when
 * its free space passes a quarter of the live nodes.
 *
 * Group exhaustion, and (IPv4) nodes that do not fit in `maxNodeBytes` even packed, are
 * `QT_CAPACITY_EXCEEDED` with `details.applied` (the changes applied before the first that did not
 * fit stay; that one and the rest are not applied; the routes kept match the tables) and
 * `details.resource` (`'groups'` or `'nodes'`). A lookup that stays pinned on a copy costs the
 * writer, never the readers: when the readers of the old copy do not leave after a swap, the batch
 * is in (lookups see it) and the next update first brings that copy level; an update that finds a
 * lookup still on the copy it must change throws `QT_TIMEOUT` with `details.applied` (the batches
 * before it), having changed nothing more.
 */
export class RouteTable {
  /** IPv4 (DIR-24-8) or IPv6 (16-8-8-… multibit trie). */
  readonly family: AddressFamily;
  private readonly region: StateRegion;
  /** The `flow` kernel version it calls. */
  readonly kernel: LoadedKernel;
  /** 256-entry groups per copy, for routes longer than the first level. */
  readonly maxGroups: number;
  /** IPv4: the node heap's size per copy (0 for IPv6). */
  readonly maxNodeBytes: number;
  private readonly runtime: KernelRuntime;
  private readonly stage: Region;
  private readonly fApply: (st: number, ops: number, n: number) => number;
  private readonly fLookup: (st: number, a: number, n: number, out: number) => number;
  /** The RIB: `${length}/${addr}` → next hop; the covering route of a delete comes from here. */
  private readonly rib = new Map<string, number>();
  private readonly statuses: StatusTable;
  private readonly life = new Lifetime('RouteTable');

  constructor(options?: RouteTableOptions) {
    const o = parseArgs(optionsSchema, options, 'RouteTable options');
    this.family = o?.family ?? 'ipv4';
    this.runtime = o?.runtime ?? defaultRuntime();
    this.maxGroups = o?.maxGroups ?? (this.family === 'ipv4' ? 8192 : 16384);
    this.maxNodeBytes = this.family === 'ipv4' ? (o?.maxNodeBytes ?? DEFAULT_NODE_BYTES) : 0;
    this.kernel = this.runtime.kernel('flow');
    const k = this.kernel;
    const topBits = this.family === 'ipv4' ? 24 : 16;
    const nodeUnits = this.maxNodeBytes / 8;
    const bytes = k.fn<(t: number, g: number, l: number) => number>('flow_lpm_bytes')(
      topBits,
      this.maxGroups,
      nodeUnits,
    );
    const mem = this.runtime.memory;
    if (bytes === 0 || bytes > mem.sizeBytes) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `RouteTable options.maxGroups: ${this.maxGroups} groups${this.family === 'ipv4' ? ` and ${this.maxNodeBytes} node bytes` : ''} need ${bytes} bytes, more than the runtime memory (${mem.sizeBytes})`,
      );
    }
    this.region = mem.allocState({
      name: `flow:routes-${this.family}`,
      owner: OWNER,
      kind: 'device-state',
      magic: LPM_MAGIC,
      layoutVersion: LPM_LAYOUT,
      payloadBytes: bytes - HDR_BYTES,
    });
    try {
      this.stage = mem.alloc({
        name: 'flow:routes-stage',
        owner: OWNER,
        kind: 'core-scratch',
        sizeBytes: STAGE_OPS * LPM_OP_BYTES,
      });
    } catch (e) {
      mem.free(this.region, OWNER);
      throw e;
    }
    const st = k.fn<(s: number, t: number, g: number, l: number) => number>('flow_lpm_init')(
      this.region.base,
      topBits,
      this.maxGroups,
      nodeUnits,
    );
    this.statuses = statusTable([
      [LPM_E_STATE, 'state'],
      [LPM_E_RANGE, 'range', 'an address or result range lies outside host memory'],
      [LPM_E_BUSY, 'busy', 'a reader kept a table copy pinned'],
    ]);
    if (st !== 0) {
      mem.free(this.stage, OWNER);
      mem.free(this.region, OWNER);
      throw kernelStatusError('RouteTable', st, this.statuses);
    }
    this.fApply = k.fn('flow_lpm_apply');
    this.fLookup = k.fn(this.family === 'ipv4' ? 'flow_lpm4_lookup' : 'flow_lpm6_lookup');
  }

  /** Adds a route, or changes the next hop of an existing one. nextHop in [0, 4194303]. */
  insert(prefix: RoutePrefix, nextHop: number): void {
    this.life.check('insert');
    this.update({ insert: [[prefix, nextHop]] });
  }

  /** Removes a route; false when it was not there. */
  delete(prefix: RoutePrefix): boolean {
    this.life.check('delete');
    const r = this.route(prefix, 'prefix');
    if (!this.rib.has(keyOf(r))) return false;
    this.update({ delete: [prefix] });
    return true;
  }

  /**
   * Applies deletes then inserts, checked first (nothing changes when any is invalid), in
   * batches of up to 4096 per swap. Deleting an absent route is a no-op.
   */
  update(changes: { insert?: readonly (readonly [RoutePrefix, number])[]; delete?: readonly RoutePrefix[] }): void {
    this.life.check('update');
    const ops: { add: boolean; r: Route; nh: number }[] = [];
    (changes.delete ?? []).forEach((p, i) => ops.push({ add: false, r: this.route(p, `delete[${i}]`), nh: 0 }));
    (changes.insert ?? []).forEach(([p, nh], i) => {
      if (typeof nh !== 'number' || !Number.isInteger(nh) || nh < 0 || nh > MAX_NEXT_HOP) {
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `insert[${i}].nextHop: expected an integer in [0, ${MAX_NEXT_HOP}], got ${JSON.stringify(nh)}`,
        );
      }
      ops.push({ add: true, r: this.route(p, `insert[${i}]`), nh });
    });
    const view = this.runtime.memory.view;
    for (let at = 0; at < ops.length; at += STAGE_OPS) {
      const chunk = ops.slice(at, at + STAGE_OPS);
      const undo: [string, number | undefined][] = [];
      let n = 0;
      for (const op of chunk) {
        const key = keyOf(op.r);
        if (!op.add && !this.rib.has(key)) continue;
        const base = this.stage.base + n * LPM_OP_BYTES;
        view.setUint32(base + LPM_OP_KIND, op.add ? LPM_OP_ADD : LPM_OP_DELETE, true);
        view.setUint32(base + LPM_OP_LENGTH, op.r.length, true);
        if (op.add) {
          view.setUint32(base + LPM_OP_NEXT_HOP, op.nh, true);
          view.setUint32(base + LPM_OP_COVER_LENGTH, 0, true);
        } else {
          const cover = this.cover(op.r);
          view.setUint32(base + LPM_OP_NEXT_HOP, cover ? cover.nh : 0, true);
          view.setUint32(base + LPM_OP_COVER_LENGTH, cover ? cover.length : LPM_NO_COVER, true);
        }
        this.writeAddr(base + LPM_OP_ADDR, op.r.addr);
        undo.push([key, this.rib.get(key)]);
        if (op.add) this.rib.set(key, op.nh);
        else this.rib.delete(key);
        n++;
      }
      const done = this.fApply(this.region.base, this.stage.base, n);
      if (done === n) continue;
      for (let i = undo.length - 1; i >= Math.max(done, 0); i--) {
        const [key, prev] = undo[i]!;
        if (prev === undefined) this.rib.delete(key);
        else this.rib.set(key, prev);
      }
      if (done < 0)
        throw kernelStatusError(
          'RouteTable.update',
          done,
          this.statuses,
          { applied: at },
          `${at} of ${ops.length} changes applied`,
        );
      const applied = `${at + done} of ${ops.length} changes applied`;
      const stop = this.kernel.fn<(s: number) => number>('flow_lpm_stop')(this.region.base);
      if (stop === LPM_STOP_NODES) {
        throw new QingtianError(
          ErrorCode.CapacityExceeded,
          `RouteTable: the lookup nodes do not fit in maxNodeBytes (${this.maxNodeBytes} bytes per copy); ${applied}`,
          { applied: at + done, resource: 'nodes' },
        );
      }
      if (stop === LPM_STOP_GROUPS) {
        throw new QingtianError(
          ErrorCode.CapacityExceeded,
          `RouteTable: all ${this.maxGroups} groups are in use; ${applied}`,
          { applied: at + done, resource: 'groups' },
        );
      }
      throw new QingtianError(
        ErrorCode.KernelFault,
        `RouteTable.update: the kernel refused change ${at + done} for a reason this API does not know (stop reason ${stop}); ${applied}`,
        { applied: at + done, stop },
      );
    }
  }

  /** Next hop for one address ('a.b.c.d', u32, IPv6 text or bigint), or -1. */
  lookup(addr: string | number | bigint): number {
    this.life.check('lookup');
    const a = this.family === 'ipv4' ? this.addr4(addr) : this.addr6(addr);
    const base = this.stage.base;
    if (this.family === 'ipv4') this.runtime.memory.view.setUint32(base, a as number, true);
    else this.writeAddr(base, a as bigint);
    this.check(this.fLookup(this.region.base, base, 1, base + 64));
    return this.runtime.memory.view.getInt32(base + 64, true);
  }

  /**
   * Burst lookup: IPv4 takes one u32 per address, IPv6 four (most significant first). Returns
   * (or fills) one next hop or -1 per address.
   */
  lookupBurst(addrs: Uint32Array, out?: Int32Array): Int32Array {
    this.life.check('lookupBurst');
    const words = this.family === 'ipv4' ? 1 : 4;
    const n = addrs.length / words;
    if (!(addrs instanceof Uint32Array) || !Number.isInteger(n))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `lookupBurst: expected a Uint32Array of ${words} word(s) per address`,
      );
    const res = out ?? new Int32Array(n);
    if (res.length < n)
      throw new QingtianError(ErrorCode.InvalidArgument, `lookupBurst: out.length must be >= ${n}, got ${res.length}`);
    const per = Math.floor((STAGE_OPS * LPM_OP_BYTES) / (words * 4 + 4));
    const mem = this.runtime.memory.memory;
    for (let at = 0; at < n; at += per) {
      const m = Math.min(per, n - at);
      const a = this.stage.base;
      const o = a + per * words * 4;
      new Uint32Array(mem.buffer, a, m * words).set(addrs.subarray(at * words, (at + m) * words));
      this.check(this.fLookup(this.region.base, a, m, o));
      res.set(new Int32Array(mem.buffer, o, m), at);
    }
    return res;
  }

  /** Zero-copy burst over the runtime's memory; returns count. */
  lookupAt(addrsAddr: number, count: number, outAddr: number): number {
    this.life.check('lookupAt');
    return this.check(this.fLookup(this.region.base, addrsAddr, count, outAddr));
  }

  /** Routes held now. */
  get size(): number {
    this.life.check('size');
    return this.rib.size;
  }

  /** 256-entry groups in use (memory figure). */
  get groupsUsed(): number {
    this.life.check('groupsUsed');
    return this.kernel.fn<(s: number) => number>('flow_lpm_groups_used')(this.region.base);
  }

  /** IPv4: bytes of the node heap in use per copy (0 for IPv6). The direct table adds 256 KiB. */
  get nodeBytesUsed(): number {
    this.life.check('nodeBytesUsed');
    return this.kernel.fn<(s: number) => number>('flow_lpm_node_bytes')(this.region.base);
  }

  /** The table's state region; a DPU core job passes `state.base` to `flow_lpm4_lookup` / `flow_lpm6_lookup`. */
  get state(): StateRegion {
    this.life.check('state');
    return this.region;
  }

  /** Frees its state and staging regions. Using it afterwards throws `QT_DISPOSED`; a second call does nothing. */
  dispose(): void {
    if (!this.life.end()) return;
    this.runtime.memory.free(this.region, OWNER);
    this.runtime.memory.free(this.stage, OWNER);
  }

  private cover(r: Route): { nh: number; length: number } | undefined {
    for (let l = r.length - 1; l >= 0; l--) {
      const nh = this.rib.get(keyOf({ addr: this.maskAddr(r.addr, l), length: l }));
      if (nh !== undefined) return { nh, length: l };
    }
    return undefined;
  }

  private route(p: RoutePrefix, field: string): Route {
    if (this.family === 'ipv4') {
      const { addr, length } = toPrefix4(p, field);
      return { addr: BigInt((addr & mask4(length)) >>> 0), length };
    }
    const { addr, length } = toPrefix6(p, field);
    return { addr: this.maskAddr(addr, length), length };
  }

  private maskAddr(a: bigint, length: number): bigint {
    const bits = this.family === 'ipv4' ? 32 : 128;
    const all = (1n << BigInt(bits)) - 1n;
    return a & (all ^ ((1n << BigInt(bits - length)) - 1n));
  }

  private writeAddr(at: number, a: bigint): void {
    const v = this.runtime.memory.view;
    if (this.family === 'ipv4') {
      v.setUint32(at, Number(a), true);
      v.setUint32(at + 4, 0, true);
      v.setUint32(at + 8, 0, true);
      v.setUint32(at + 12, 0, true);
      return;
    }
    for (let w = 0; w < 4; w++) v.setUint32(at + w * 4, Number((a >> BigInt(96 - 32 * w)) & 0xffffffffn), true);
  }

  private addr4(a: string | number | bigint): number {
    if (typeof a === 'string') return parseIPv4(a);
    if (typeof a === 'number' && Number.isInteger(a) && a >= 0 && a <= 0xffffffff) return a;
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `lookup: expected an IPv4 address ('a.b.c.d' or a u32), got ${JSON.stringify(String(a))}`,
    );
  }

  private addr6(a: string | number | bigint): bigint {
    if (typeof a === 'string') return parseIPv6(a);
    if (typeof a === 'bigint' && a >= 0n && a >> 128n === 0n) return a;
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `lookup: expected an IPv6 address (text or a bigint below 2^128), got ${JSON.stringify(String(a))}`,
    );
  }

  private check(status: number): number {
    return checkKernelStatus('RouteTable.lookup', status, this.statuses);
  }
}

function keyOf(r: Route): string {
  return `${r.length}/${r.addr.toString(16)}`;
}
