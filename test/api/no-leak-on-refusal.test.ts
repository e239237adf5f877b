import { describe, expect, it } from 'vitest';
import { CcFlowTable, Classifier, FlowTable, PacketParser, ReedSolomon, RouteTable } from '../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../src/internals.js';

/**
 * A constructor refused part-way leaves host memory as it found it: each allocation a constructor
 * makes is made to fail in turn (host memory filled so that the ones before it fit and it does
 * not), and every refusal must be a QingtianError with the allocator's accounting unchanged.
 */
interface Row {
  name: string;
  make(runtime: LoaderRuntime): { dispose(): void };
  /** Host memory for the case (an IPv4 table's direct stage alone is 128 MiB). */
  memoryMiB?: number;
}

const rows: Row[] = [
  { name: 'FlowTable', make: (runtime) => new FlowTable({ runtime, capacity: 4096 }) },
  { name: 'Classifier', make: (runtime) => new Classifier({ runtime, capacity: 256 }) },
  {
    name: 'RouteTable ipv4',
    make: (runtime) => new RouteTable({ runtime, family: 'ipv4', maxGroups: 64, maxNodeBytes: 1 << 20 }),
    memoryMiB: 176,
  },
  { name: 'RouteTable ipv6', make: (runtime) => new RouteTable({ runtime, family: 'ipv6', maxGroups: 64 }) },
  { name: 'PacketParser', make: (runtime) => new PacketParser({ runtime }) },
  { name: 'ReedSolomon', make: (runtime) => new ReedSolomon({ runtime, dataShards: 4, parityShards: 2 }) },
  { name: 'CcFlowTable', make: (runtime) => new CcFlowTable({ runtime, law: 'dcqcn', flows: 1024 }) },
];

const PAGE = 4096;

describe('no leak on refusal: a constructor that runs out of memory part-way frees what it took', () => {
  for (const row of rows) {
    it(`${row.name}: each of its allocations refused in turn`, () => {
      const mem = new HostMemory({ sizeBytes: (row.memoryMiB ?? 48) << 20 });
      const runtime = new LoaderRuntime(mem);
      // The first construction loads the kernel (kept by the runtime); the regions it adds beyond
      // that, in allocation order, are what the object itself takes.
      row.make(runtime).dispose();
      const before = mem.regions().map((r) => r.id);
      const probe = row.make(runtime);
      const own = mem
        .regions()
        .filter((r) => !before.includes(r.id))
        .sort((a, b) => a.id - b.id)
        .map((r) => r.sizeBytes);
      probe.dispose();
      expect(own.length).toBeGreaterThan(0);

      for (let k = 0; k < own.length; k++) {
        const fits = own.slice(0, k).reduce((a, b) => a + b, 0);
        const s = mem.stats();
        // All free memory is one block here; leave room for the first k regions, one page short
        // of the next.
        expect(s.freeBlocks).toBe(1);
        const filler = mem.alloc({
          name: 'test:filler',
          owner: 'test',
          kind: 'core-scratch',
          sizeBytes: s.freeBytes - (fits + own[k]! - PAGE),
        });
        const accounting = (): unknown => {
          const t = mem.stats();
          return { used: t.usedBytes, regions: t.regionCount, byOwner: t.byOwner, blocks: t.freeBlocks };
        };
        const at = accounting();
        let err: unknown;
        try {
          row.make(runtime).dispose();
        } catch (e) {
          err = e;
        }
        expect(err, `allocation ${k + 1} of ${own.length}`).toMatchObject({
          name: 'QingtianError',
          code: 'QT_OUT_OF_MEMORY',
        });
        expect(accounting(), `allocation ${k + 1} of ${own.length}`).toEqual(at);
        mem.free(filler, 'test');
      }
    });
  }
});
