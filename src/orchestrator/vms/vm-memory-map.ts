import { writeGuestMap } from '../../common/gpa.js';
import type { GuestMemoryView } from '../../common/guest-api.js';
import type { HostMemoryApi, Region, StateRegion } from '../../common/host-memory-api.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { GMAP_BYTES, GMAP_LAYOUT, GMAP_MAGIC } from '../../generated/common.js';

const IRQ_PAGE = 4096;

/**
 * The DPU side's view of a VM's memory: the guest memory map its device kernels translate
 * through, over the RAM the host agent gave the VM (which the agent owns and scrubs), and a page
 * of interrupt words for its devices. Both are the control plane's and freed by `free()`.
 */
export class VmMemoryMap implements GuestMemoryView {
  readonly gmap: StateRegion;
  readonly irqPage: Region;
  private nextIrq = 0;
  private readonly freeIrqs: number[] = [];
  private freed = false;

  constructor(
    readonly memory: HostMemoryApi,
    readonly name: string,
    /** Host address of the VM's guest-physical 0 (from the agent). */
    readonly ramBase: number,
    readonly ramBytes: number,
  ) {
    this.gmap = memory.allocState({
      name: `${this.owner}:gmap`,
      owner: this.owner,
      kind: 'device-state',
      magic: GMAP_MAGIC,
      layoutVersion: GMAP_LAYOUT,
      payloadBytes: GMAP_BYTES,
    });
    try {
      this.irqPage = memory.alloc({
        name: `${this.owner}:irq`,
        owner: this.owner,
        kind: 'device-state',
        sizeBytes: IRQ_PAGE,
      });
    } catch (e) {
      memory.free(this.gmap, this.owner);
      throw e;
    }
    writeGuestMap(memory.view, this.gmap.base, [{ gpaStart: 0n, sizeBytes: BigInt(ramBytes), hostBase: ramBase }]);
  }

  get owner(): string {
    return `vm:${this.name}`;
  }

  get gmapBase(): number {
    return this.gmap.base;
  }

  allocIrq(): number {
    const reused = this.freeIrqs.pop();
    if (reused !== undefined) return reused;
    if (this.nextIrq >= IRQ_PAGE / 4)
      throw new QingtianError(
        ErrorCode.CapacityExceeded,
        `${this.owner}: all ${IRQ_PAGE / 4} interrupt words are in use`,
      );
    return this.irqPage.base + 4 * this.nextIrq++;
  }

  /** Gives back an interrupt word allocIrq() handed out: zeroed, handed out again later. */
  freeIrq(addr: number): void {
    const at = addr - this.irqPage.base;
    if (!Number.isInteger(at) || at < 0 || at >= 4 * this.nextIrq || at % 4 !== 0 || this.freeIrqs.includes(addr))
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.owner}: freeIrq: expected an allocated interrupt word, got 0x${addr.toString(16)}`,
      );
    Atomics.store(this.memory.i32, addr >> 2, 0);
    this.freeIrqs.push(addr);
  }

  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.memory.free(this.gmap, this.owner);
    this.memory.free(this.irqPage, this.owner);
  }
}
