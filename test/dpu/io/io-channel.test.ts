/**
 * I/O channels and workers (src/dpu/io/): a kernel posts fixed-size requests into an SPSC ring
 * in shared memory, an I/O worker thread serves them with real files, and completions come back
 * through a second ring. The proof that matters: a DPU core keeps serving its other queues while
 * one of its requests is outstanding.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { IoChannel } from '../../../src/dpu/io/io-channel.js';
import { IoProbe } from '../../../src/dpu/io/io-probe.js';
import { IoWorker } from '../../../src/dpu/io/io-worker.js';
import { FileOp } from '../../../src/dpu/io/handlers/file.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { createDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { LoopbackDevice } from '../../../src/dpu/virtio/loopback-device.js';
import { until } from '../../helpers/kernels.js';
import { GuardedGuest, MIB, startRig, type Rig } from '../virtio/helpers.js';

type Run = (state: number, budget: number) => number;

describe('I/O channel and worker', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qt-io-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A kernel run from this thread: the probe job entry, one burst per call. */
  function mainThread(): { memory: HostMemory; run: Run } {
    const memory = new HostMemory({ sizeBytes: 16 * MIB });
    const run = new LoaderRuntime(memory).kernel('core').fn<Run>('core_io_probe');
    return { memory, run };
  }

  it('echo: every request comes back once, out of a kernel that never waits', async () => {
    const { memory, run } = mainThread();
    const channel = new IoChannel(memory, { name: 'echo', capacity: 8 });
    const worker = await IoWorker.start(memory, channel, { handler: 'echo' });
    const probe = new IoProbe(memory, channel, {
      name: 'p',
      op: 9,
      depth: 8,
      total: 1000,
      bufferBytes: 48,
      arg0Step: 3,
    });
    await until(() => {
      expect(run(probe.state.base, 16)).toBeGreaterThanOrEqual(0);
      return probe.stats().completed === 1000;
    }, '1000 echoes');
    expect(probe.stats()).toEqual({
      issued: 1000,
      completed: 1000,
      failed: 0,
      resultSum: 48_000,
      lastValue: expect.any(BigInt) as bigint,
    });
    const s = worker.stats();
    expect(s).toMatchObject({ submitted: 1000, completed: 1000, inflight: 0, handled: 1000, failed: 0 });
    // At most one kick per burst, and only to a sleeping worker.
    expect(s.kicks).toBeLessThanOrEqual(s.wakeups + 1);
    await worker.close();
    probe.free();
    channel.free();
  });

  it('file: positional reads land in the device buffers; a missing file fails every request with -ENOENT', async () => {
    const { memory, run } = mainThread();
    const path = join(dir, 'data.bin');
    const data = new Uint8Array(64 * 512).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
    writeFileSync(path, data);
    const channel = new IoChannel(memory, { name: 'file', capacity: 64 });
    const worker = await IoWorker.start(memory, channel, { handler: 'file', data: { path } });
    // All 64 reads in flight at once, block n into buffer slot n, completing in any order.
    const probe = new IoProbe(memory, channel, {
      name: 'p',
      op: FileOp.READ,
      depth: 64,
      total: 64,
      bufferBytes: 512,
      arg0Step: 512,
    });
    expect(run(probe.state.base, 64)).toBe(64);
    await until(() => (run(probe.state.base, 64), probe.stats().completed === 64), '64 block reads');
    for (let n = 0; n < 64; n++) expect(probe.buffer(n), `block ${n}`).toEqual(data.subarray(n * 512, (n + 1) * 512));
    expect(probe.stats()).toMatchObject({ failed: 0, resultSum: 64 * 512 });
    await worker.close();
    probe.free();
    channel.free();

    const ch2 = new IoChannel(memory, { name: 'nofile', capacity: 4 });
    const w2 = await IoWorker.start(memory, ch2, { handler: 'file', data: { path: join(dir, 'absent') } });
    const p2 = new IoProbe(memory, ch2, { name: 'p2', op: FileOp.READ, depth: 4, total: 10, bufferBytes: 64 });
    await until(() => (run(p2.state.base, 8), p2.stats().completed === 10), '10 failed reads');
    expect(p2.stats()).toMatchObject({ failed: 10, resultSum: 0 });
    expect(w2.stats().failed).toBe(10);
    await w2.close();
    p2.free();
    ch2.free();
  });

  it('refuses bad options, a second worker on a channel, a handler module without createHandler', async () => {
    const { memory } = mainThread();
    const code = (f: () => unknown, c: string, text: RegExp): void => {
      let caught: unknown = null;
      try {
        f();
      } catch (e) {
        caught = e;
      }
      expect(isQingtianError(caught, c as never), String(caught)).toBe(true);
      expect(String(caught)).toMatch(text);
    };
    code(
      () => new IoChannel(memory, { name: 'x', capacity: 3 }),
      'QT_INVALID_ARGUMENT',
      /capacity: expected a power of two/,
    );
    code(() => new IoChannel(memory, { name: 'x', extra: 1 } as never), 'QT_INVALID_ARGUMENT', /I\/O channel options/);
    const channel = new IoChannel(memory, { name: 'x', capacity: 4 });
    code(
      () => new IoProbe(memory, channel, { name: 'p', op: 1, depth: 8, total: 1, bufferBytes: 8 }),
      'QT_INVALID_ARGUMENT',
      /depth \(at most the channel capacity\): expected an integer in \[1, 4\]/,
    );
    await expect(IoWorker.start(memory, channel, { handler: 'disk' as never })).rejects.toThrow(
      /handler: expected one of 'echo', 'file' or a URL/,
    );
    const bogus = pathToFileURL(join(dir, 'no-handler.mjs'));
    writeFileSync(bogus, 'export const x = 1;\n');
    await expect(IoWorker.start(memory, channel, { handler: bogus })).rejects.toThrow(/exports no createHandler/);
    const worker = await IoWorker.start(memory, channel, { handler: 'echo' });
    await expect(IoWorker.start(memory, channel, { handler: 'echo' })).rejects.toThrow(/already served by/);
    code(() => channel.free(), 'QT_DEVICE_STATE', /close it first/);
    await worker.close();
    channel.free();
  });

  describe('on a DPU core', () => {
    let rig: Rig;
    beforeAll(async () => {
      rig = await startRig(1, 'adaptive');
      await rig.pool.loadKernel(rig.rt.kernel('core'));
    });
    afterAll(async () => rig.close());

    it('the core keeps echoing a guest while its file read waits on a FIFO, then completes it', async () => {
      const core = rig.pool.cores[0]!;
      const fifo = join(dir, 'slow.fifo');
      try {
        execFileSync('mkfifo', [fifo]);
      } catch (e) {
        console.warn(`skipped: mkfifo is not available here (${String(e)})`);
        return;
      }
      // Job 1: a loopback device serving a guest.
      const gg = new GuardedGuest(rig.memory, 'io', MIB);
      const g = gg.guest;
      const features = { packed: false, eventIdx: true, indirect: false, inOrder: false };
      const dev = new LoopbackDevice(rig.rt, g, 'io:loop', { maxQueueSize: 64 });
      const drv = createDriver(g, { size: 64, features, notify: () => core.ringDoorbell() });
      dev.configure({ size: 64, features, descGpa: drv.descGpa, driverGpa: drv.driverGpa, deviceGpa: drv.deviceGpa });
      await dev.start({ core, budget: 32 });
      // Job 2: one read of the FIFO, on the same core, served by an I/O worker.
      const channel = new IoChannel(rig.memory, { name: 'io:fifo', capacity: 4 });
      channel.bindCore(core);
      const worker = await IoWorker.start(rig.memory, channel, { handler: 'file', data: { path: fifo } });
      const probe = new IoProbe(rig.memory, channel, {
        name: 'io:probe',
        op: FileOp.READ,
        depth: 1,
        total: 1,
        bufferBytes: 100,
      });
      const job = await core.attachJob({
        kernel: rig.rt.kernel('core'),
        entry: 'core_io_probe',
        arm: 'core_io_probe_arm',
        state: probe.state.base,
        budget: 8,
      });
      await until(() => worker.stats().handled === 0 && channel.stats().submitted === 1, 'the read to be submitted');

      // While the read is outstanding the same core echoes 500 requests for the guest.
      const buf = g.allocGpa(64 * 128, 64);
      let echoed = 0;
      let sent = 0;
      while (echoed < 500) {
        while (sent - echoed < 32) {
          const at = buf + BigInt((sent % 64) * 128);
          g.write(at, new Uint8Array(16).fill(sent & 0xff));
          if (drv.add([{ gpa: at, len: 16 }], [{ gpa: at + 64n, len: 16 }]) === null) break;
          sent++;
        }
        drv.kick();
        for (const c of drv.reap()) {
          expect(c.len).toBe(16);
          echoed++;
        }
        await new Promise((r) => setImmediate(r));
      }
      expect(probe.stats()).toMatchObject({ issued: 1, completed: 0 });
      expect(channel.stats().inflight).toBe(1);
      expect(core.runState()).not.toBe('failed');

      // The FIFO gets its bytes: the read completes, the worker rings the core, the probe sees it.
      const payload = new Uint8Array(100).map((_, i) => (i * 13 + 5) & 0xff);
      const w = await open(fifo, 'w');
      await w.write(payload);
      await w.close();
      await until(() => probe.stats().completed === 1, 'the read to complete');
      expect(probe.stats()).toMatchObject({ failed: 0, resultSum: 100 });
      expect(probe.buffer(0)).toEqual(payload);
      expect(channel.stats().coreRings).toBeGreaterThanOrEqual(1);
      expect(dev.stats()).toMatchObject({ needsReset: false, requests: echoed });
      expect(job.status).toBe('running');

      await core.detachJob(job);
      await dev.stop();
      await worker.close();
      probe.free();
      channel.free();
      dev.free();
    });
  });
});
