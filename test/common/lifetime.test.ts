import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lifetime } from '../../src/common/lifetime.js';
import {
  CcFlowTable,
  Classifier,
  EcOffload,
  FlowTable,
  Host,
  PacketParser,
  ReedSolomon,
  RouteTable,
} from '../../src/index.js';
import {
  AuditedTraffic,
  ccSetup,
  compileNetwork,
  DeviceQueue,
  Guest,
  GuestVcpu,
  HostMemory,
  incastFlows,
  incastStar,
  LoaderRuntime,
  LoopbackDevice,
  Simulation,
} from '../../src/internals.js';

/**
 * The public instance methods and getters a class declares in its source (what a caller can reach),
 * read with the TypeScript compiler so that a member added later is covered without editing this
 * table.
 */
function publicMembers(file: string, className: string): { name: string; getter: boolean }[] {
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const cls = src.statements.find(
    (s): s is ts.ClassDeclaration => ts.isClassDeclaration(s) && s.name?.text === className,
  );
  if (!cls) throw new Error(`${file} declares no class ${className}`);
  const hidden = (m: ts.ClassElement): boolean =>
    (ts.getCombinedModifierFlags(m) &
      (ts.ModifierFlags.Private | ts.ModifierFlags.Protected | ts.ModifierFlags.Static)) !==
    0;
  return cls.members
    .filter((m) => (ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m)) && !hidden(m))
    .map((m) => ({ name: (m.name as ts.Identifier).text, getter: ts.isGetAccessorDeclaration(m) }));
}

interface Row {
  /** The class as the source names it, and its file. */
  cls: string;
  file: string;
  /** A live instance, and the call that ends it. */
  make(): Promise<{ obj: object; end: () => Promise<void> | void }>;
  /** The ender, and members exempt from the rule (each with its reason). */
  ender: string;
  exempt?: Record<string, string>;
}

let host: Host;
let mem: HostMemory;
let rt: LoaderRuntime;

const rows: Row[] = [
  {
    cls: 'FlowTable',
    file: 'src/dpu/flow/flow-table.ts',
    make: async () => {
      const t = new FlowTable({ capacity: 64, runtime: rt });
      return { obj: t, end: () => t.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'Classifier',
    file: 'src/dpu/flow/classifier.ts',
    make: async () => {
      const c = new Classifier({ capacity: 16, runtime: rt });
      c.insert({ src: '10.0.0.0/8' });
      return { obj: c, end: () => c.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'RouteTable',
    file: 'src/dpu/flow/route-table.ts',
    make: async () => {
      const r = new RouteTable({ family: 'ipv6', maxGroups: 16, runtime: rt });
      r.insert('2001:db8::/32', 1);
      return { obj: r, end: () => r.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'PacketParser',
    file: 'src/dpu/flow/packet-parser.ts',
    make: async () => {
      const p = new PacketParser({ runtime: rt });
      return { obj: p, end: () => p.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'ReedSolomon',
    file: 'src/dpu/ec/reed-solomon.ts',
    make: async () => {
      const rs = new ReedSolomon({ dataShards: 2, parityShards: 1, runtime: rt });
      return { obj: rs, end: () => rs.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'CcFlowTable',
    file: 'src/dpu/cc/cc-kernel.ts',
    make: async () => {
      const t = new CcFlowTable({ law: 'ldcp', flows: 4, runtime: rt });
      t.ackBatch(8);
      return { obj: t, end: () => t.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'Simulation',
    file: 'src/netsim/simulation.ts',
    make: async () => {
      const network = compileNetwork(incastStar(2));
      const flows = incastFlows(network.hosts.slice(0, 2), network.hosts[2]!, 10_000);
      const sim = Simulation.create({ network, flows, cc: ccSetup('dcqcn'), seed: 1, runtime: rt });
      return { obj: sim, end: () => sim.dispose() };
    },
    ender: 'dispose',
  },
  {
    cls: 'Guest',
    file: 'src/hypervisor/guest/guest.ts',
    make: async () => {
      const g = new Guest(mem, { name: 'lifetime-guest', ramBytes: 65536 });
      return { obj: g, end: () => g.destroy() };
    },
    ender: 'destroy',
  },
  {
    cls: 'DeviceQueue',
    file: 'src/dpu/virtio/device-queue.ts',
    make: async () => {
      const g = new Guest(mem, { name: 'lifetime-dq', ramBytes: 65536 });
      const q = new DeviceQueue(rt, g, 'lifetime-dq:q', { maxSize: 8, irqAddr: g.allocIrq() });
      return {
        obj: q,
        end: () => {
          q.free();
          g.destroy();
        },
      };
    },
    ender: 'free',
  },
  {
    cls: 'LoopbackDevice',
    file: 'src/dpu/virtio/loopback-device.ts',
    make: async () => {
      const g = new Guest(mem, { name: 'lifetime-lb', ramBytes: 65536 });
      const d = new LoopbackDevice(rt, g, 'lifetime-lb:dev', { maxQueueSize: 8 });
      return {
        obj: d,
        end: () => {
          d.free();
          g.destroy();
        },
      };
    },
    ender: 'free',
  },
  {
    cls: 'GuestVcpu',
    file: 'src/hypervisor/guest/vcpu.ts',
    make: async () => {
      const v = new GuestVcpu(mem, 'lifetime-vcpu');
      return { obj: v, end: () => v.stop() };
    },
    ender: 'stop',
  },
  {
    cls: 'Host',
    file: 'src/orchestrator/host.ts',
    make: async () => {
      const h = await bootSmall();
      return { obj: h, end: () => h.shutdown() };
    },
    ender: 'shutdown',
  },
  {
    cls: 'DpuCorePool',
    file: 'src/dpu/core/core-pool.ts',
    make: async () => {
      const h = await bootSmall();
      return { obj: h.dpu, end: () => h.shutdown() };
    },
    ender: 'close',
  },
  {
    cls: 'DpuCore',
    file: 'src/dpu/core/dpu-core.ts',
    make: async () => {
      const h = await bootSmall();
      return { obj: h.dpu.core(0), end: () => h.shutdown() };
    },
    ender: 'retire',
    exempt: { stop: 'stopping a stopped core is a no-op, as a second dispose is' },
  },
  {
    cls: 'HotSwapManager',
    file: 'src/ops/hot-swap/hot-swap-manager.ts',
    make: async () => {
      const h = await bootSmall();
      return { obj: h.swaps, end: () => h.shutdown() };
    },
    ender: 'close',
  },
  {
    cls: 'EcOffload',
    file: 'src/dpu/ec/ec-offload.ts',
    make: async () => {
      const off = await EcOffload.start(host.runtime, host.dpu, { cores: 1 });
      return { obj: off, end: () => off.close() };
    },
    ender: 'close',
  },
  {
    cls: 'AuditedTraffic',
    file: 'src/ops/hot-swap/audited-traffic.ts',
    make: async () => {
      await host.loadKernel('virtio');
      const t = await AuditedTraffic.create({
        memory: host.memory,
        runtime: host.runtime,
        core: host.dpu.core(0),
        name: 'lifetime-traffic',
        maxRequests: 1 << 10,
      });
      return { obj: t, end: () => t.close() };
    },
    ender: 'close',
  },
];

function bootSmall(): Promise<Host> {
  return Host.boot({ memory: { sizeBytes: 32 << 20 }, dpu: { cores: 1, mode: 'interrupt' } });
}

describe('every disposable class throws QT_DISPOSED after its end', () => {
  beforeAll(async () => {
    mem = new HostMemory({ sizeBytes: 256 << 20 });
    rt = new LoaderRuntime(mem);
    host = await Host.boot({ memory: { sizeBytes: 64 << 20 }, dpu: { cores: 1, mode: 'interrupt' } });
  });
  afterAll(async () => {
    await host?.shutdown();
  });

  it('Lifetime: check passes until end, end is idempotent, the error names object and operation', () => {
    const life = new Lifetime('Thing', 'close()');
    expect(() => life.check('read')).not.toThrow();
    expect(life.end()).toBe(true);
    expect(life.end()).toBe(false);
    expect(() => life.check('read')).toThrow(
      expect.objectContaining({ code: 'QT_DISPOSED', message: 'Thing.read: used after close()' }),
    );
  });

  for (const row of rows) {
    it(`${row.cls}: every public method and getter after ${row.ender}()`, async () => {
      const members = publicMembers(row.file, row.cls).filter(
        (m) => m.name !== row.ender && !(row.exempt && m.name in row.exempt),
      );
      // A class that lost its members, or a table row that names the wrong class, must fail here.
      expect(members.length).toBeGreaterThan(0);
      const { obj, end } = await row.make();
      await end();
      await end(); // a second end does nothing
      const target = obj as Record<string, unknown>;
      const call = (name: string): unknown => Reflect.apply(target[name] as (...a: unknown[]) => unknown, obj, []);
      const outcomes: Record<string, string> = {};
      for (const m of members) {
        try {
          await (async () => {
            if (m.getter) return target[m.name];
            return call(m.name);
          })();
          outcomes[m.name] = 'returned';
        } catch (e) {
          outcomes[m.name] = (e as { code?: string }).code ?? `threw ${String(e)}`;
        }
      }
      expect(outcomes).toEqual(Object.fromEntries(members.map((m) => [m.name, 'QT_DISPOSED'])));
    });
  }
});
