import { afterEach, describe, expect, it } from 'vitest';
import { InThreadFlows } from '../../src/bench/net/in-thread-flows.js';
import { InThreadKernel } from '../../src/bench/net/in-thread-kernel.js';

/**
 * bench net's in-thread cases (kernel-64B/1500B, kernel-new-flows-vpc) with tiny sizes: what they
 * count must be what happened. Correctness facts only, never a time: every frame published
 * arrives, the flows asked for are installed, and the slow path answers every upcall.
 */
const MACS = { a: [2, 0, 0, 0, 0, 0x0a], b: [2, 0, 0, 0, 0, 0x0b] };
const frames = (
  frameBytes: number,
): {
  srcMac: number[];
  dstMac: number[];
  srcIp: number[];
  dstIp: number[];
  frameBytes: number;
} => ({ srcMac: MACS.a, dstMac: MACS.b, srcIp: [198, 18, 0, 10], dstIp: [198, 18, 0, 11], frameBytes });

describe('bench net: in-thread kernel cases', () => {
  let k: InThreadKernel | undefined;
  afterEach(() => {
    k?.close();
    k = undefined;
  });

  for (const bytes of [64, 1500])
    it(`${bytes} B: warm installs each flow of the stream once, then every frame is a hit and arrives`, () => {
      k = InThreadKernel.start({ frames: frames(bytes), macs: MACS, flows: 64, memBytes: 128 << 20 });
      const warm = k.warm();
      expect(warm.upcalls).toBe(64);
      expect(warm.answered).toBe(64);
      // Frames warm published and left in flight arrive too.
      k.passes('wasm', 0);
      expect(k.counts.wasm.delivered).toBe(k.counts.wasm.sent);
      const s0 = k.switchStats();
      expect(s0.flows).toBe(64);
      expect(s0.installs).toBe(64);
      expect(s0.installFailed).toBe(0);
      expect(s0.upcallDrops).toBe(0);

      const w = k.passes('wasm', 5);
      expect(w.sent).toBeGreaterThan(0);
      expect(w.delivered).toBe(w.sent);
      const s1 = k.switchStats();
      expect(s1.misses).toBe(s0.misses);
      expect(s1.hits - s0.hits).toBe(w.sent);
      expect(s1.outputDrops + s1.actionDrops + s1.malformed).toBe(0);
      // The timed loop counts what it delivers (the case reported 0 once with nothing failing).
      expect(k.streamWasm(20).wall).toBeGreaterThan(0);
      k.passes('wasm', 0);
      expect(k.counts.wasm.delivered).toBe(k.counts.wasm.sent);

      const p = k.passes('ts', 5);
      expect(p.sent).toBeGreaterThan(0);
      expect(p.delivered).toBe(p.sent);
      expect(k.streamTs(20).wall).toBeGreaterThan(0);
      k.passes('ts', 0);
      expect(k.counts.ts.delivered).toBe(k.counts.ts.sent);
    });
});

describe('bench net: in-thread new flows through the real slow path', () => {
  it('installs and delivers every new flow asked for; the slow path answers every upcall', async () => {
    const installed = 1000;
    const count = 600;
    const f = InThreadFlows.start({ installed, frames: frames(64), macs: MACS });
    try {
      const w0 = f.switchStats();
      expect(w0.flows).toBe(installed);
      const s0 = f.slowStats();

      const r = f.wasm(count, 1, 128);
      expect(r.sent).toBe(count);
      expect(r.delivered).toBe(count);
      expect(r.wall).toBeGreaterThan(0);

      const w = f.switchStats();
      const s = f.slowStats();
      // One miss and one upcall per new flow, each taken by the slow path and answered once.
      expect(w.misses - w0.misses).toBe(count);
      expect(w.upcalls - w0.upcalls).toBe(count);
      expect(w.upcallDrops).toBe(0);
      expect(s.upcalls - s0.upcalls).toBe(count);
      expect(s.downcalls - s0.downcalls).toBe(count);
      expect(s.installed - s0.installed).toBe(count);
      expect(s.reinjected - s0.reinjected).toBe(count);
      expect(s.dropped - s0.dropped).toBe(0);
      expect(s.connections).toBe(count);
      // The fast path took every answer: installed, re-injected, nothing refused.
      expect(w.installs - w0.installs).toBe(count);
      expect(w.reinjected - w0.reinjected).toBe(count);
      expect(w.installFailed + w.reinjectFailed).toBe(0);
      expect(w.flows).toBe(installed + count);
      expect(f.flowCount()).toBe(installed + count);

      // The peer delivers the same flows (its in-thread static slow path).
      const p = f.peer(count, 1, 128);
      expect(p.sent).toBe(count);
      expect(p.delivered).toBe(count);
    } finally {
      await f.close();
    }
  });
});
