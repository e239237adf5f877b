/**
 * Test double for the slow path (the real one is the VPC/routing engine): a plain L2 segment.
 * Misses are read from every port's upcall ring when the switch rings its upcall bell; a frame
 * to a known MAC gets a flow (IP frames; others are only re-injected, their keys carry no
 * addresses), broadcast and unknown destinations are flooded to the other ports.
 */
import type { HostMemory } from '../../src/memory/host-memory.js';
import { encodeActions } from '../../src/dpu/net/action-list.js';
import { NET_UPF_PENDING } from '../../src/dpu/net/net-layout.js';
import { takeUpcalls, type UpcallRecord } from '../../src/dpu/net/upcall-record.js';
import type { VSwitch } from '../../src/dpu/net/vswitch.js';

export class L2Path {
  private running = false;
  private loop: Promise<void> | null = null;
  handled = 0;
  installed = 0;

  constructor(
    private readonly memory: HostMemory,
    private readonly sw: VSwitch,
    /** port → MAC ("02:00:00:00:00:0a") of the guest behind it. */
    private readonly macs: Map<number, string>,
  ) {
    // Every upcall gets exactly one answer here, so the fast path may keep flows in order.
    sw.orderUpcalls(true);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    Atomics.notify(this.memory.i32, this.sw.upcallBellAddr >> 2);
    await this.loop;
  }

  /** Handles what is waiting now (also usable without start(), from a test's own loop). */
  drain(): number {
    let n = 0;
    for (const port of this.macs.keys())
      for (const u of takeUpcalls(this.memory, this.sw.upcallRing(port))) n += this.handle(u);
    return n;
  }

  private async run(): Promise<void> {
    const i32 = this.memory.i32;
    const bell = this.sw.upcallBellAddr >> 2;
    while (this.running) {
      const seen = Atomics.load(i32, bell);
      this.drain();
      const w = Atomics.waitAsync(i32, bell, seen, 20);
      if (w.async) await w.value;
    }
  }

  private handle(u: UpcallRecord): number {
    const dst = Array.from(u.frame.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
    const to = [...this.macs].find(([, m]) => m === dst)?.[0];
    const outputs = to !== undefined ? [to] : [...this.macs.keys()].filter((p) => p !== u.port);
    const actions = encodeActions(outputs.map((port) => ({ op: 'output' as const, port })));
    const isIp = u.frame.length >= 14 && u.frame[12] === 0x08 && u.frame[13] === 0x00;
    const install = to !== undefined && isIp && (u.flags & 1) === 0;
    if (install) this.installed++;
    this.sw.downcall({
      op: install ? 'install-reinject' : 'reinject',
      key: u.parse.slice(0, 48),
      actions,
      port: u.port,
      frame: u.frame,
      netHdr: u.netHdr,
      flags: u.flags & 4,
      seq: u.seq,
      ...((u.flags & NET_UPF_PENDING) !== 0 ? { release: u.hash } : {}),
    });
    this.handled++;
    return 1;
  }
}
