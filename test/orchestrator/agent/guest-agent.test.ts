import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import * as G from '../../../src/generated/guest.js';
import { FrameKind, FrameReader, encodeFrame, type Frame } from '../../../src/hypervisor/agent/protocol/frame.js';
import { statusName } from '../../../src/hypervisor/agent/protocol/status.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { bootGuestAgent, type RunningGuestAgent } from '../../../src/orchestrator/agent/guest-agent-boot.js';
import { GuestAgentClient } from '../../../src/orchestrator/agent/guest-agent-client.js';

const MIB = 1 << 20;

describe('guest agent: Wasm on a guest vCPU, reached over the guest vsock device', () => {
  let memory: HostMemory;
  let pool: DpuCorePool;
  let guest: Guest;
  let vcpu: GuestVcpu;
  let ctl: number;
  let running: RunningGuestAgent;

  beforeAll(async () => {
    memory = new HostMemory({ sizeBytes: 256 * MIB });
    const runtime = new LoaderRuntime(memory);
    pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 64 });
    await pool.loadKernel(runtime.kernel('vsock'));
    guest = new Guest(memory, { name: 'g-qga', ramBytes: 8 * MIB });
    vcpu = new GuestVcpu(memory, 'g-qga:vcpu0', { nice: null });
    const block = memory.alloc({ name: 'g-qga:ctl', owner: 'test', kind: 'device-state', sizeBytes: 4096 });
    ctl = block.base;
    memory.view.setUint32(ctl, G.VMC_MAGIC, true);
    memory.view.setUint32(ctl + G.VMC_VCPUS, 1, true);
    running = await bootGuestAgent({ runtime, guest, vcpu, core: pool.cores[0]!, ctl, guestCid: 42 });
  });
  afterAll(async () => {
    await vcpu.stop();
    await running.device.stop();
    await pool.close();
  });

  it('reports uptime and counters, and they move', async () => {
    const qga = await GuestAgentClient.connect(running.device.host);
    await qga.ping();
    const a = await qga.info();
    await new Promise((r) => setTimeout(r, 30));
    const b = await qga.info();
    expect(a.version).toBe(1);
    expect(a.uptimeNs).toBeGreaterThan(0n);
    expect(b.uptimeNs - a.uptimeNs).toBeGreaterThanOrEqual(25_000_000n);
    expect(b.requests - a.requests).toBe(1n);
    expect(b.rxBytes).toBeGreaterThan(a.rxBytes);
    expect(b.txBytes).toBeGreaterThan(a.txBytes);
    qga.close();
  });

  it('stops answering while its VM is paused (its vCPU is parked) and answers after resume', async () => {
    const qga = await GuestAgentClient.connect(running.device.host, { timeoutMs: 300 });
    const i32 = memory.i32;
    Atomics.store(i32, (ctl + G.VMC_RUN) >> 2, G.VMC_PAUSED);
    Atomics.add(i32, (ctl + G.VMC_WAKE) >> 2, 1);
    // Its poll sleeps on the interrupt word: a packet wakes it and it parks.
    await expect(qga.ping()).rejects.toMatchObject({ code: 'QT_TIMEOUT' });
    expect(Atomics.load(i32, (ctl + G.VMC_PARKED) >> 2)).toBe(1);
    Atomics.store(i32, (ctl + G.VMC_RUN) >> 2, G.VMC_RUNNING);
    Atomics.notify(i32, (ctl + G.VMC_RUN) >> 2);
    const again = await GuestAgentClient.connect(running.device.host);
    await again.ping();
    again.close();
    qga.close();
  });

  it('refuses a bad frame by closing that connection; an unknown type gets a status and the connection goes on', async () => {
    const sock = await running.device.host.connect(G.QGA_PORT);
    const reader = new FrameReader(1 << 16);
    const frames: Frame[] = [];
    let closed = false;
    sock.on('data', (b: Buffer) => frames.push(...reader.push(b)));
    sock.on('error', () => undefined);
    sock.on('close', () => (closed = true));
    sock.write(encodeFrame({ kind: FrameKind.Request, type: 77, id: 5, status: 0, body: new Uint8Array(0) }));
    sock.write(encodeFrame({ kind: FrameKind.Request, type: G.QGA_PING, id: 6, status: 0, body: new Uint8Array(0) }));
    await until(() => frames.length === 2);
    expect(frames.map((f) => [f.id, statusName(f.status)])).toEqual([
      [5, 'unknown-type'],
      [6, 'ok'],
    ]);
    sock.write(new Uint8Array(G.AF_HEADER_BYTES).fill(0x41));
    await until(() => frames.length === 3 && closed);
    expect(statusName(frames[2]!.status)).toBe('bad-frame');
  });

  it('acknowledges a shutdown, then halts its vCPU', async () => {
    const qga = await GuestAgentClient.connect(running.device.host);
    await qga.shutdown();
    expect((await running.program).exit).toBe('halted');
    expect(Atomics.load(memory.i32, (ctl + G.VMC_HALTED) >> 2)).toBe(1);
  });
});

async function until(cond: () => boolean): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > 10_000) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}
