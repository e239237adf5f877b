import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier, FlowTable, RouteTable, flowKey } from '../../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../../src/internals.js';
import { familyKernel } from '../../helpers/kernels.js';

/**
 * Readers on another thread (as DPU cores would be) look up while the main thread updates:
 * every answer they see must belong to some whole version of the structure.
 */
const mem = new HostMemory({ sizeBytes: 512 << 20 });
const runtime = new LoaderRuntime(mem);

/**
 * Runs `writer` at least `rounds` times while a reader thread calls `fn` in a loop, and until the
 * reader has made 200 calls and seen `minDistinct` different results (how often the reader
 * catches an intermediate state depends on the machine's timing), for 20 s at most.
 */
async function withReader(
  fn: string,
  state: number,
  input: number,
  count: number,
  allowed: number[] | null,
  writer: () => void,
  rounds: number,
  allowedAt?: number[][],
  minDistinct = 1,
): Promise<{ calls: number; bad: number; seen: [number, number][] }> {
  const scratch = mem.alloc({ name: 'test:reader', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
  const out = scratch.base;
  const stopAt = scratch.base + 2048;
  const w = new Worker(join(__dirname, '..', '..', 'helpers', 'flow-reader-worker.mjs'), {
    workerData: {
      bytes: familyKernel('flow'),
      memory: mem.memory,
      fn,
      state,
      input,
      count,
      out,
      allowed,
      allowedAt,
      stopAt,
    },
  });
  try {
    const done = new Promise<{ calls: number; bad: number; seen: [number, number][] }>((res, rej) => {
      w.once('message', res);
      w.once('error', rej);
    });
    // Write only once the reader runs, and keep writing until it has overlapped many updates.
    const progress = (): number => Atomics.load(mem.i32, (stopAt >> 2) + 1);
    const distinct = (): number => Atomics.load(mem.i32, (stopAt >> 2) + 2);
    while (progress() === 0) await new Promise((r) => setTimeout(r, 5));
    const deadline = Date.now() + 20_000;
    for (let i = 0; i < rounds || ((progress() < 200 || distinct() < minDistinct) && Date.now() < deadline); i++) {
      writer();
      if (i % 64 === 63) await new Promise((r) => setImmediate(r));
    }
    Atomics.store(mem.i32, stopAt >> 2, 1);
    return await done;
  } finally {
    await w.terminate();
    mem.free(scratch, 'test');
  }
}

describe('lookups on another thread during updates', () => {
  it('route table: readers see the old or the new route, never a hole (Left-Right)', async () => {
    const t = new RouteTable({ runtime, maxGroups: 16 });
    const input = mem.alloc({ name: 'test:addrs', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      t.insert('10.0.0.0/8', 1);
      const addrs = [0x0a010203, 0x0a0102ff, 0x0a010280];
      addrs.forEach((a, i) => mem.view.setUint32(input.base + i * 4, a, true));
      const r = await withReader(
        'flow_lpm4_lookup',
        t.state.base,
        input.base,
        addrs.length,
        [1, 2, 3],
        () => {
          t.insert('10.1.0.0/16', 2);
          t.insert('10.1.2.128/25', 3);
          t.delete('10.1.2.128/25');
          t.delete('10.1.0.0/16');
        },
        300,
      );
      expect(r.calls).toBeGreaterThan(0);
      expect(r.bad).toBe(0);
    } finally {
      t.dispose();
      mem.free(input, 'test');
    }
  });

  it('route table: while nodes are created, resized, widened and freed, each address sees one of its routes', async () => {
    const t = new RouteTable({ runtime, maxGroups: 16 });
    const input = mem.alloc({ name: 'test:addrs', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      t.insert('10.0.0.0/8', 1);
      // Five addresses: four through the SIMD stages, one through the scalar tail.
      const addrs = [0x0a010205, 0x0a010305, 0x0a01c801, 0x0a020001, 0x0a0102c8];
      const allowedAt = [[1, 3, 40000], [1, 2, 3], [1, 3], [1], [1, 3, 40000, 5]];
      addrs.forEach((a, i) => mem.view.setUint32(input.base + i * 4, a, true));
      let k = 0;
      const r = await withReader(
        'flow_lpm4_lookup',
        t.state.base,
        input.base,
        addrs.length,
        null,
        () => {
          switch (k++ % 4) {
            case 0:
              t.update({
                insert: [
                  ['10.1.2.0/24', 40000],
                  ['10.1.3.0/24', 2],
                ],
              });
              break; // a node, wide
            case 1:
              t.update({
                insert: [
                  ['10.1.0.0/16', 3],
                  ['10.1.2.192/26', 5],
                ],
              });
              break; // resized, a group
            case 2:
              t.update({ delete: ['10.1.2.0/24', '10.1.2.192/26'] });
              break; // narrow again
            default:
              t.update({ delete: ['10.1.3.0/24', '10.1.0.0/16'] });
              break; // a leaf again: node freed
          }
        },
        400,
        allowedAt,
        2,
      );
      expect(r.calls).toBeGreaterThan(0);
      expect(r.bad).toBe(0);
      // Some answers came from a node (timing decides which of its states the reader caught).
      expect(r.seen.some(([v]) => v !== 1)).toBe(true);
    } finally {
      t.dispose();
      mem.free(input, 'test');
    }
  });

  it('classifier: readers never wait for or fail because of the writer, and see the broad rule or the specific one, never nothing (Left-Right)', async () => {
    const c = new Classifier({ runtime, capacity: 4096 });
    const input = mem.alloc({ name: 'test:hdrs', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      const broad = c.insert({ src: '10.0.0.0/8', priority: 100 });
      new Uint32Array(mem.memory.buffer, input.base, 10).set([0x0a010203, 5, 1000, 80, 6, 0x0a7f0000, 5, 1, 443, 17]);
      let specific = -1;
      const specifics = new Set<number>();
      const filler: number[] = [];
      let k = 0;
      const r = await withReader(
        'flow_cls_classify',
        c.state.base,
        input.base,
        2,
        null,
        () => {
          if (specific >= 0) c.remove(specific);
          specific = c.insert({ src: '10.1.2.0/24', dstPorts: [80, 80], priority: 1 });
          specifics.add(specific);
          filler.push(c.insert({ src: `11.${k & 255}.0.0/16`, priority: 50 }));
          if (filler.length > 100) c.remove(filler.shift()!);
          k++;
        },
        1500,
      );
      expect(r.calls).toBeGreaterThan(0);
      expect(r.bad).toBe(0);
      // Only the broad rule or one of the specific rules ever answered (never a filler, never -1).
      expect(r.seen.filter(([v]) => v !== broad && !specifics.has(v))).toEqual([]);
      expect(r.seen.some(([v]) => specifics.has(v))).toBe(true);
    } finally {
      c.dispose();
      mem.free(input, 'test');
    }
  });

  it('flow cache: a resident flow is always found while others churn and move (seqlock)', async () => {
    const t = new FlowTable({ runtime, capacity: 256, clock: () => 1 });
    const input = mem.alloc({ name: 'test:keys', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      const resident = [
        flowKey({ src: 1, dst: 2, srcPort: 3, dstPort: 4, proto: 6 }),
        flowKey({ src: 5, dst: 6, srcPort: 7, dstPort: 8, proto: 17 }),
      ];
      resident.forEach((k, i) => {
        t.insert(k, 100 + i);
        mem.u8.set(k, input.base + i * 48);
      });
      let n = 0;
      const r = await withReader(
        'flow_fc_lookup',
        t.state.base,
        input.base,
        2,
        [100, 101],
        () => {
          for (let j = 0; j < 8; j++) t.insert(flowKey({ src: 1000 + n++, dst: 2, proto: 6 }), 1);
          if (n > 200) for (let j = 0; j < 8; j++) t.delete(flowKey({ src: 1000 + n - 200 + j, dst: 2, proto: 6 }));
        },
        800,
      );
      expect(r.calls).toBeGreaterThan(0);
      expect(r.bad).toBe(0);
    } finally {
      t.dispose();
      mem.free(input, 'test');
    }
  });
});
