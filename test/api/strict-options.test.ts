import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Classifier,
  crc16t10dif,
  FlowTable,
  Host,
  PacketParser,
  ReedSolomon,
  RouteTable,
  T10Dif,
} from '../../src/index.js';
import { HostMemory, LoaderRuntime } from '../../src/internals.js';

/** The call's QingtianError as "CODE message", or 'no error'. */
async function refusal(f: () => unknown): Promise<string> {
  try {
    await f();
  } catch (e) {
    const err = e as { name?: string; code?: string; message: string };
    expect(err.name, `${err.message} is a QingtianError`).toBe('QingtianError');
    return `${err.code} ${err.message}`;
  }
  return 'no error';
}

let rt: LoaderRuntime;
let host: Host;

beforeAll(async () => {
  rt = new LoaderRuntime(new HostMemory({ sizeBytes: 64 << 20 }));
  host = await Host.boot({ memory: { sizeBytes: 32 << 20 }, dpu: { cores: 1, mode: 'interrupt' } });
});
afterAll(async () => {
  await host?.shutdown();
});

describe('every options object refuses unknown keys, naming the key and the accepted ones', () => {
  it('Host.boot: top level and nested objects', async () => {
    expect(await refusal(() => Host.boot({ cores: 2 } as never))).toBe(
      "QT_INVALID_ARGUMENT Host options: unknown key 'cores' (accepted: memory, dpu, trustedKeys, storage, network, vms, instances)",
    );
    expect(await refusal(() => Host.boot({ dpu: { core: 2 } } as never))).toBe(
      "QT_INVALID_ARGUMENT Host options.dpu: unknown key 'core' (accepted: cores, mode, idleSpinPolls, commandTimeoutMs, nice, cpus, trace)",
    );
    expect(await refusal(() => Host.boot({ memory: { size: 1 << 20 } } as never))).toBe(
      "QT_INVALID_ARGUMENT Host options.memory: unknown key 'size' (accepted: sizeBytes, hugePages)",
    );
  });

  it('Host.boot: the nested keys that exist still work', async () => {
    const h = await Host.boot({ memory: { sizeBytes: 32 << 20 }, dpu: { cores: 2, mode: 'interrupt' } });
    try {
      expect(h.dpu.cores.length).toBe(2);
    } finally {
      await h.shutdown();
    }
  });

  it('top-level type errors read plainly', async () => {
    expect(await refusal(() => Host.boot(5 as never))).toBe(
      'QT_INVALID_ARGUMENT Host options: expected an object, got 5',
    );
    expect(await refusal(() => new ReedSolomon(undefined as never))).toBe(
      'QT_INVALID_ARGUMENT ReedSolomon options: expected an object, got nothing',
    );
    expect(await refusal(() => new FlowTable({ capacity: '8' } as never))).toBe(
      'QT_INVALID_ARGUMENT FlowTable options.capacity: expected an integer in [8, 16777216], got "8"',
    );
  });

  it('the data-path classes', async () => {
    const unknown = (s: string): RegExp => new RegExp(`^QT_INVALID_ARGUMENT .*: unknown key '${s}' \\(accepted: `);
    expect(await refusal(() => new FlowTable({ capcity: 8, runtime: rt } as never))).toMatch(unknown('capcity'));
    expect(await refusal(() => new Classifier({ runtime: rt, capacty: 8 } as never))).toMatch(unknown('capacty'));
    expect(await refusal(() => new RouteTable({ runtime: rt, familly: 'ipv6' } as never))).toMatch(unknown('familly'));
    expect(await refusal(() => new PacketParser({ runtim: rt } as never))).toMatch(unknown('runtim'));
    expect(
      await refusal(() => new ReedSolomon({ dataShards: 2, parityShards: 1, runtime: rt, shards: 3 } as never)),
    ).toMatch(unknown('shards'));
    expect(await refusal(() => new T10Dif({ blockSize: 512, type: 1, runtime: rt, reftag: 100 } as never))).toBe(
      "QT_INVALID_ARGUMENT T10Dif options: unknown key 'reftag' (accepted: blockSize, type, refTag, appTag, appTagMask, checks, guardSeed, runtime, simd)",
    );
    expect(
      await refusal(() => new T10Dif({ blockSize: 512, type: 1, runtime: rt, checks: { guards: true } } as never)),
    ).toBe("QT_INVALID_ARGUMENT T10Dif options.checks: unknown key 'guards' (accepted: guard, appTag, refTag)");
    expect(await refusal(() => crc16t10dif(new Uint8Array(8), 0, { runtime: rt, simdd: 'auto' } as never))).toBe(
      "QT_INVALID_ARGUMENT crc16t10dif options: unknown key 'simdd' (accepted: runtime, simd)",
    );
  });

  it('host members: allocation requests, hot-swap options', async () => {
    expect(
      await refusal(() =>
        host.memory.alloc({ name: 'x', owner: 'o', kind: 'core-scratch', sizeBytes: 4096, align: 4096 } as never),
      ),
    ).toMatch(
      /^QT_INVALID_ARGUMENT alloc: unknown key 'align' \(accepted: name, owner, kind, sizeBytes, alignBytes, atBase\)$/,
    );
    const before = host.memory.stats();
    expect(await refusal(() => host.hotSwap('virtio', new Uint8Array(8), { gracems: 0 } as never))).toMatch(
      /^QT_INVALID_ARGUMENT hotSwap options: unknown key 'gracems' \(accepted: signature, graceMs, /,
    );
    expect(host.memory.stats().regionCount).toBe(before.regionCount);
  });
});
