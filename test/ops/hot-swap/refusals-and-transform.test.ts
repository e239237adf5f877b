import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type QingtianError, isQingtianError } from '../../../src/common/errors.js';
import type { StateRegion } from '../../../src/common/host-memory-api.js';
import type { Job } from '../../../src/dpu/core/dpu-core.js';
import type { LoadedKernel } from '../../../src/dpu/kernels/kernel-loader.js';
import type { Host } from '../../../src/orchestrator/host.js';
import type { RefusedEvent } from '../../../src/ops/hot-swap/events.js';
import { signModule } from '../../../src/ops/hot-swap/signature.js';
import { testKernel } from '../../helpers/kernels.js';
import { bootHost, family, regionNames, signer, stranger, test, until, type Signed } from './helpers.js';

/**
 * Refusals (nothing changes on any core) and the state transform end to end: a counter job
 * keeps a 32-bit count in v1 and a 64-bit one in v2; the count survives swaps both ways.
 */
describe('hot swap: refusals and state transforms', () => {
  let host: Host;
  let counterV1: LoadedKernel;

  beforeAll(async () => {
    host = await bootHost(2);
    await host.loadKernel('virtio');
    counterV1 = await host.loadKernel(testKernel('counter-v1'));
  });

  afterAll(async () => {
    await host?.shutdown();
  });

  /** Everything a refused swap must leave as it was. */
  const snapshot = (): unknown => ({
    commands: host.dpu.cores.map((c) => c.counters().commands),
    regions: regionNames(host),
    kernels: host.kernels.list().map((k) => k.key),
    live: host.swaps.liveVersion('virtio')!.key,
  });

  async function refused(
    name: string,
    m: Signed | Uint8Array,
    signature: unknown,
    code: string,
  ): Promise<QingtianError> {
    const before = snapshot();
    const events: RefusedEvent[] = [];
    host.swaps.on('refused', (e) => events.push(e));
    const bytes = m instanceof Uint8Array ? m : m.bytes;
    const err = await host.hotSwap(name, bytes, { signature: signature as never }).catch((e: unknown) => e);
    host.swaps.removeAllListeners('refused');
    expect(isQingtianError(err), String(err)).toBe(true);
    expect((err as QingtianError).code, (err as Error).message).toBe(code);
    expect(events).toEqual([{ name, code, message: (err as Error).message }]);
    expect(snapshot()).toEqual(before); // not even a command reached a core
    return err as QingtianError;
  }

  it('refuses an unsigned module, a bad signature and an untrusted signer', async () => {
    const v2 = test('virtio-v2');
    expect((await refused('virtio', v2, undefined, ErrorCode.BadSignature)).message).toMatch(/unsigned/);
    const sig = Buffer.from(v2.signature.signature, 'base64');
    sig[7]! ^= 1;
    expect(
      (await refused('virtio', v2, { ...v2.signature, signature: sig.toString('base64') }, ErrorCode.BadSignature))
        .message,
    ).toMatch(/^bad signature/);
    expect((await refused('virtio', v2, family('virtio').signature, ErrorCode.BadSignature)).message).toMatch(
      /signature is for virtio@1\.0\.0/,
    );
    const foreign = signModule(v2.bytes, stranger.privateKeyPem, { name: 'virtio', version: '2.0.0' });
    expect((await refused('virtio', v2, foreign, ErrorCode.BadSignature)).message).toContain(stranger.keyId);
  });

  it('refuses an ABI mismatch and a data segment, naming the memory it would write over', async () => {
    const abi = test('virtio-abi2');
    expect((await refused('virtio', abi, abi.signature, ErrorCode.KernelRejected)).message).toMatch(
      /ABI version 2; this runtime speaks ABI 1/,
    );
    const data = test('virtio-data');
    const e = await refused('virtio', data, data.signature, ErrorCode.KernelRejected);
    expect(e.message).toMatch(/has data segments .*; it would write \d+ B at 0x[0-9a-f]+ over 'low 64 KiB/);
    expect((e.details['overlaps'] as string[]).length).toBeGreaterThan(0);
  });

  it('refuses a missing export, another module, and a module of which no version is live', async () => {
    const noT = test('counter-v2-notransform');
    expect((await refused('counter', noT, noT.signature, ErrorCode.SwapRefused)).message).toMatch(
      /needs qt_state_transform.*missing export/,
    );
    const c2 = test('counter-v2');
    expect((await refused('virtio', c2, c2.signature, ErrorCode.SwapRefused)).message).toMatch(
      /counter@2\.0\.0 is not a version of virtio/,
    );
    const probe = test('probe-v1');
    expect((await refused('probe', probe, probe.signature, ErrorCode.SwapRefused)).message).toMatch(
      /no version of module probe is loaded/,
    );
    await expect(host.hotSwap('Virtio!', c2.bytes, { signature: c2.signature })).rejects.toThrow(
      /hotSwap name: expected a module name/,
    );
    await expect(host.hotSwap('virtio', c2.bytes, { signature: c2.signature, graceMs: -1 })).rejects.toThrow(
      /hotSwap options\.graceMs: expected an integer in \[0, 600000\]/,
    );
  });

  it('swaps in the bytes it was given: a caller overwriting its buffer afterwards changes nothing', async () => {
    const v2 = test('virtio-v2');
    const buffer = new Uint8Array(v2.bytes);
    const pending = host.hotSwap('virtio', buffer, { signature: v2.signature, graceMs: 0 });
    buffer.fill(0);
    const r = await pending;
    expect(r.to).toBe('2.0.0');
    await r.settled;
    const v1 = family('virtio');
    await (
      await host.hotSwap('virtio', v1.bytes, { signature: v1.signature, graceMs: 0 })
    ).settled;
    expect(host.swaps.liveVersion('virtio')!.info.version).toBe('1.0.0');
  });

  it('drops a staged version whose self-test fails; the live version keeps serving', async () => {
    const bad = test('virtio-badtest');
    const regions = regionNames(host);
    const err = await host.hotSwap('virtio', bad.bytes, { signature: bad.signature }).catch((e: unknown) => e);
    expect(isQingtianError(err, ErrorCode.SwapRefused)).toBe(true);
    expect((err as Error).message).toMatch(
      /virtio@2\.1\.0: self-test failed \(qt_self_test returned -42\); the staged version was dropped/,
    );
    expect(regionNames(host)).toEqual(regions);
    expect(host.swaps.liveVersion('virtio')!.info.version).toBe('1.0.0');
  });

  describe('state transform, end to end', () => {
    let state: StateRegion;
    let job: Job;
    const layout = (): number => host.memory.view.getUint32(state.base + 4, true);
    const count = (): number =>
      layout() === 1
        ? host.memory.view.getUint32(state.base + 64, true)
        : Number(host.memory.view.getBigUint64(state.base + 64, true));
    const post = (n: number): void => {
      Atomics.add(host.memory.i32, (state.base + 128) >> 2, n);
      host.dpu.core(1).ringDoorbell();
    };

    beforeAll(async () => {
      state = host.memory.allocState({
        name: 'counter',
        owner: 'test',
        kind: 'job-state',
        magic: 'CNTR',
        layoutVersion: 1,
        payloadBytes: 128,
      });
      job = await host.dpu.core(1).attachJob({ kernel: counterV1, entry: 'counter_run', state: state.base, budget: 1 });
    });

    it('v1 (32-bit count) → v2 (64-bit) → v1: the count survives both ways', async () => {
      post(1000);
      await until(() => count() === 1000, 'v1 counted 1000');
      const c2 = test('counter-v2');
      const up = await host.hotSwap('counter', c2.bytes, { signature: c2.signature, graceMs: 0 });
      expect(up).toMatchObject({ from: '1.0.0', to: '2.0.0', transformed: true, signer: signer.keyId });
      await up.settled;
      const records = host.swaps.modules().filter((m) => m.name === 'counter');
      expect(records.map((m) => [m.version, m.stateLayout, m.status, m.signer])).toEqual([
        ['1.0.0', 1, 'retired', null],
        ['2.0.0', 2, 'live', signer.keyId],
      ]);
      expect(records[1]!.signature).toBe(c2.signature.signature);
      expect(records[1]!.sha256).toBe(c2.signature.module.sha256);
      expect(layout()).toBe(2);
      expect(count()).toBe(1000);
      post(234);
      await until(() => count() === 1234, 'v2 counts on');
      const c1 = test('counter-v1');
      const down = await host.hotSwap('counter', c1.bytes, { signature: c1.signature, graceMs: 0 });
      expect(down).toMatchObject({ from: '2.0.0', to: '1.0.0', transformed: true });
      await down.settled;
      expect(layout()).toBe(1);
      expect(count()).toBe(1234);
      post(66);
      await until(() => count() === 1300, 'v1 counts on');
      expect(job.kernel.info.version).toBe('1.0.0');
    });

    it('a count that no longer fits 32 bits refuses the way back: the commit is undone on every core', async () => {
      const c2 = test('counter-v2');
      await (
        await host.hotSwap('counter', c2.bytes, { signature: c2.signature, graceMs: 0 })
      ).settled;
      await host.dpu.core(1).quiesce();
      host.memory.view.setBigUint64(state.base + 64, 5n << 32n, true);
      await host.dpu.core(1).resume();
      const regions = regionNames(host);
      const c1 = test('counter-v1');
      const err = await host
        .hotSwap('counter', c1.bytes, { signature: c1.signature, graceMs: 0 })
        .catch((e: unknown) => e);
      expect(isQingtianError(err, ErrorCode.SwapFailed)).toBe(true);
      expect((err as Error).message).toMatch(
        /refused on core 1: .*qt_state_transform\(2 → 1\) of job #\d+: returned -2; every core runs 2\.0\.0 again/,
      );
      expect(regionNames(host)).toEqual(regions);
      expect(layout()).toBe(2);
      expect(job.kernel.info.version).toBe('2.0.0');
      post(1);
      await until(() => count() === 5 * 2 ** 32 + 1, 'v2 keeps counting in 64 bits');
    });
  });
});
