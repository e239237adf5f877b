import * as C from '../../generated/guest.js';
import { RegionAllocator } from '../../memory/region-allocator.js';
import { scrub } from '../../memory/scrub.js';
import type { Region } from '../../common/host-memory-api.js';
import type { ContainerOp, ContainerResult, ContainerState } from './protocol/containers.js';
import { AgentError } from './protocol/status.js';

/** Where the table starts in the container host's RAM (the first 64 KiB stay the guest's). */
export const TABLE_GPA = 0x10000;

const STATES: Record<number, ContainerState> = {
  [C.CT_DEFINED]: 'defined',
  [C.CT_RUNNING]: 'running',
  [C.CT_PAUSED]: 'paused',
  [C.CT_SHUTOFF]: 'shutoff',
  [C.CT_FAULT]: 'shutoff',
};
const WORD: Record<ContainerState, number> = {
  defined: C.CT_DEFINED,
  running: C.CT_RUNNING,
  paused: C.CT_PAUSED,
  shutoff: C.CT_SHUTOFF,
};
/** Legal moves: op → (states it starts from, state it ends in). */
const MOVES: Record<Exclude<ContainerOp, 'destroy'>, [ContainerState[], ContainerState]> = {
  start: [['defined', 'shutoff'], 'running'],
  pause: [['running'], 'paused'],
  resume: [['paused'], 'running'],
  stop: [['running', 'paused'], 'shutoff'],
};

interface Held {
  id: number;
  name: string;
  slot: number;
  mem: Region;
}

/**
 * Where the network area of a container host with `capacity` slots starts (guest-physical):
 * right after its table. The area's layout is the guest's (container-runtime.ts).
 */
export function containerNetGpa(capacity: number): number {
  return TABLE_GPA + tableBytes(capacity);
}

/** Bytes of a table of `capacity` slots, rounded up to 64 KiB. */
export function tableBytes(capacity: number): number {
  return Math.ceil((C.CT_SLOTS + capacity * C.CT_SLOT_BYTES) / 65536) * 65536;
}

/**
 * The containers of one container host, as the host agent holds them: the table in the host's
 * RAM that its vCPUs run tasks from (assembly/guest/container-runtime.ts), the slots, and each
 * container's memory quota carved out of the host's RAM above the table (scrubbed when the
 * container goes). Changes are made in batches; each batch bumps the table's epoch once.
 */
export class ContainerTable {
  private readonly view: DataView;
  private readonly i32: Int32Array;
  private readonly memory: RegionAllocator;
  private readonly byId = new Map<number, Held>();
  private readonly names = new Set<string>();
  private readonly freeSlots: number[];
  private nextId = 1;

  constructor(
    private readonly u8: Uint8Array,
    /** Host address of the host's guest-physical 0, and its RAM size. */
    private readonly ram: { base: number; sizeBytes: number },
    readonly capacity: number,
    readonly vcpus: number,
    /** Bytes after the table kept for the guest's network (0: none). */
    readonly netBytes = 0,
  ) {
    this.view = new DataView(u8.buffer);
    this.i32 = new Int32Array(u8.buffer);
    const netGpa = containerNetGpa(capacity);
    const end = netGpa + netBytes;
    if (end >= ram.sizeBytes)
      throw new AgentError(
        'bad-request',
        `vm.create containers.capacity: ${capacity} slots` +
          (netBytes ? ` and ${netBytes} bytes of network area` : '') +
          ` need more than the VM's ${ram.sizeBytes >> 20} MiB`,
      );
    // Container memory: guest-physical addresses from the end of the table.
    this.memory = new RegionAllocator(ram.sizeBytes, end);
    this.freeSlots = Array.from({ length: capacity }, (_, i) => capacity - 1 - i);
    const t = this.table;
    this.view.setUint32(t + C.CT_CAPACITY, capacity, true);
    this.view.setUint32(t + C.CT_VCPUS, vcpus, true);
    if (netBytes > 0) {
      this.view.setUint32(t + C.CT_NET_GPA, netGpa, true);
      this.view.setUint32(t + C.CT_NET_BYTES, netBytes, true);
    }
    this.view.setUint32(t, C.CT_MAGIC, true);
  }

  /** Host address of the table. */
  get table(): number {
    return this.ram.base + TABLE_GPA;
  }

  get count(): number {
    return this.byId.size;
  }

  /** Bytes of container memory in use. */
  get memoryBytes(): number {
    return this.memory.stats().usedBytes;
  }

  private slotAddr(slot: number): number {
    return this.table + C.CT_SLOTS + slot * C.CT_SLOT_BYTES;
  }

  private state(h: Held): ContainerState {
    return STATES[Atomics.load(this.i32, this.slotAddr(h.slot) >> 2)] ?? 'shutoff';
  }

  private setState(h: Held, s: ContainerState): void {
    Atomics.store(this.i32, this.slotAddr(h.slot) >> 2, WORD[s]);
  }

  /** Defines containers; each item succeeds or fails on its own. */
  create(items: { name: string; share: number; memoryMiB: number; task: 'idle' | 'busy' }[]): ContainerResult[] {
    return items.map((it) => {
      if (this.names.has(it.name))
        return { ok: false, status: 'exists', message: `ct.create name: ${JSON.stringify(it.name)} is already used` };
      const slot = this.freeSlots.pop();
      if (slot === undefined)
        return {
          ok: false,
          status: 'no-resources',
          message: `ct.create: the container host holds its ${this.capacity} containers already`,
        };
      let mem: Region;
      try {
        mem = this.memory.alloc({
          name: it.name,
          owner: `ct:${it.name}`,
          kind: 'guest-ram',
          sizeBytes: it.memoryMiB << 20,
          alignBytes: 65536,
        });
      } catch {
        this.freeSlots.push(slot);
        const free = this.memory.stats().freeBytes >> 20;
        return {
          ok: false,
          status: 'no-resources',
          message: `ct.create memoryMiB: ${it.memoryMiB} MiB asked, ${free} MiB free in the container host`,
        };
      }
      const h: Held = { id: this.nextId++, name: it.name, slot, mem };
      const a = this.slotAddr(slot);
      this.view.setUint32(a + C.CT_SHARE, it.share, true);
      this.view.setUint32(a + C.CT_MEM_GPA, mem.base, true);
      this.view.setUint32(a + C.CT_MEM_BYTES, mem.sizeBytes, true);
      this.view.setUint32(a + C.CT_TASK, it.task === 'busy' ? C.CT_TASK_BUSY : C.CT_TASK_IDLE, true);
      this.view.setUint32(a + C.CT_ID, h.id, true);
      this.view.setBigUint64(a + C.CT_UNITS, 0n, true);
      this.view.setBigUint64(a + C.CT_ROUNDS, 0n, true);
      this.setState(h, 'defined');
      this.byId.set(h.id, h);
      this.names.add(h.name);
      return { ok: true, id: h.id, state: 'defined' as const, memGpa: mem.base, memBytes: mem.sizeBytes };
    });
  }

  /**
   * Applies `op` to each container (each on its own: an illegal move or an unknown id fails that
   * item only). `hostRunning`: the host's vCPUs run (a start needs it). Returns the results and
   * whether a running task was affected (then the caller awaits the epoch).
   */
  apply(
    op: ContainerOp,
    ids: readonly number[],
    hostRunning: boolean,
  ): { results: ContainerResult[]; touched: boolean } {
    let touched = false;
    const results = ids.map((id): ContainerResult => {
      const h = this.byId.get(id);
      if (!h) return { ok: false, status: 'not-found', message: `ct.${op} ids: container ${id} does not exist` };
      const now = this.state(h);
      if (op === 'destroy') {
        if (now === 'running') touched = true;
        // The slot goes first so no task touches the memory being scrubbed after the epoch.
        Atomics.store(this.i32, this.slotAddr(h.slot) >> 2, C.CT_FREE);
        return { ok: true, id, state: 'destroyed', previous: now };
      }
      const [from, to] = MOVES[op];
      if (!from.includes(now))
        return {
          ok: false,
          status: 'bad-state',
          message: `ct.${op}: container ${h.name} is ${now}; ${op} needs ${from.join(' or ')}`,
        };
      if (op === 'start' || op === 'resume') {
        if (!hostRunning)
          return { ok: false, status: 'bad-state', message: `ct.${op}: the container host is not running` };
      }
      if (now === 'running' || to === 'running') touched = true;
      this.setState(h, to);
      return { ok: true, id, state: to, previous: now };
    });
    return { results, touched };
  }

  /** Frees what destroyed containers held (after the epoch: no task touches it). */
  release(ids: readonly number[]): void {
    for (const id of ids) {
      const h = this.byId.get(id);
      if (!h || Atomics.load(this.i32, this.slotAddr(h.slot) >> 2) !== C.CT_FREE) continue;
      scrub(this.u8, this.ram.base + h.mem.base, this.ram.base + h.mem.base + h.mem.sizeBytes);
      this.memory.free(h.mem.id, `ct:${h.name}`);
      this.u8.fill(0, this.slotAddr(h.slot), this.slotAddr(h.slot) + C.CT_SLOT_BYTES);
      this.freeSlots.push(h.slot);
      this.byId.delete(id);
      this.names.delete(h.name);
    }
  }

  /** The host powered off: its running and paused containers are shut off. Returns those. */
  hostOff(): { id: number; name: string; previous: ContainerState }[] {
    const out: { id: number; name: string; previous: ContainerState }[] = [];
    for (const h of this.byId.values()) {
      const s = this.state(h);
      if (s === 'running' || s === 'paused') {
        this.setState(h, 'shutoff');
        out.push({ id: h.id, name: h.name, previous: s });
      }
    }
    return out;
  }

  /** Bumps the epoch; returns it (wait for `acked(epoch)`). */
  bump(): number {
    const i = (this.table + C.CT_EPOCH) >> 2;
    return (Atomics.add(this.i32, i, 1) + 1) | 0;
  }

  /** Waits (without blocking) until every vCPU runs under `epoch` or later; false on timeout. */
  async acked(epoch: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (let v = 0; v < this.vcpus; v++) {
      const i = (this.table + C.CT_SEEN + 4 * v) >> 2;
      for (;;) {
        const seen = Atomics.load(this.i32, i);
        if (((seen - epoch) | 0) >= 0) break;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        const w = Atomics.waitAsync(this.i32, i, seen, left);
        if (w.async) await w.value;
      }
    }
    return true;
  }

  stats(ids?: readonly number[]): { id: number; name: string; state: ContainerState; units: number; rounds: number }[] {
    const held = ids ? ids.map((id) => this.byId.get(id)).filter((h): h is Held => !!h) : [...this.byId.values()];
    return held.map((h) => {
      const a = this.slotAddr(h.slot);
      return {
        id: h.id,
        name: h.name,
        state: this.state(h),
        units: Number(this.view.getBigUint64(a + C.CT_UNITS, true)),
        rounds: Number(this.view.getBigUint64(a + C.CT_ROUNDS, true)),
      };
    });
  }
}
