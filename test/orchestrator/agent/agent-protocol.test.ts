import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VsockSocket } from '../../../src/common/vsock/vsock-socket.js';
import { DpuCorePool } from '../../../src/dpu/core/core-pool.js';
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { AF_HEADER_BYTES, AF_MAGIC } from '../../../src/generated/guest.js';
import { FrameKind, FrameReader, encodeFrame, type Frame } from '../../../src/hypervisor/agent/protocol/frame.js';
import { AGENT_PORT, MESSAGES } from '../../../src/hypervisor/agent/protocol/messages.js';
import { statusName } from '../../../src/hypervisor/agent/protocol/status.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { HostAgent } from '../../../src/orchestrator/agent/host-agent.js';

const MIB = 1 << 20;
const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

/** A raw connection to the agent's port: frames out, frames back. */
class RawConn {
  private readonly reader = new FrameReader(1 << 20);
  private readonly got: Frame[] = [];
  private waiters: (() => void)[] = [];
  ended = false;

  constructor(readonly socket: VsockSocket) {
    socket.on('data', (b: Buffer) => {
      this.got.push(...this.reader.push(b));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  send(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  request(type: number, id: number, body: Uint8Array, version?: number): void {
    this.send(encodeFrame({ kind: FrameKind.Request, type, id, status: 0, body, ...(version ? { version } : {}) }));
  }

  async next(): Promise<Frame> {
    while (this.got.length === 0) {
      if (this.ended) throw new Error('connection ended');
      await new Promise<void>((r) => this.waiters.push(r));
    }
    return this.got.shift()!;
  }
}

describe('host agent protocol: bad messages are refused with a stable status', () => {
  let pool: DpuCorePool;
  let agent: HostAgent;

  beforeAll(async () => {
    const memory = new HostMemory({ sizeBytes: 256 * MIB });
    pool = await DpuCorePool.start(memory, { cores: 1, mode: 'adaptive', idleSpinPolls: 64 });
    agent = await HostAgent.boot({ memory, runtime: new LoaderRuntime(memory), dpu: pool }, { poolBytes: 16 * MIB });
  });
  afterAll(async () => {
    await agent.stop();
    await pool.close();
  });

  const open = async (): Promise<RawConn> => new RawConn(await agent.device.host.connect(AGENT_PORT));
  // Each hello adds the agent's memory (known once beforeAll ran).
  const hello = { versions: [1], client: 'raw' };

  it('refuses requests before hello (bad-state), then serves them', async () => {
    const c = await open();
    c.request(MESSAGES.ping.type, 7, json({}));
    const r = await c.next();
    expect([r.id, statusName(r.status)]).toEqual([7, 'bad-state']);
    c.request(MESSAGES.hello.type, 8, json({ ...hello, memory: agent.client.memory }));
    expect(statusName((await c.next()).status)).toBe('ok');
    c.request(MESSAGES.ping.type, 9, json({}));
    expect([(await c.next()).id, c.ended]).toEqual([9, false]);
    c.socket.destroy();
  });

  it('refuses an unknown type, an unknown version, bad JSON and a schema violation; the connection goes on', async () => {
    const c = await open();
    c.request(MESSAGES.hello.type, 1, json({ ...hello, memory: agent.client.memory }));
    await c.next();
    c.request(999, 2, json({}));
    c.request(MESSAGES.ping.type, 3, json({}), 9);
    c.request(MESSAGES['vm.create'].type, 4, new TextEncoder().encode('{not json'));
    c.request(MESSAGES['vm.create'].type, 5, json({ name: 'x', vcpus: 1, memoryMiB: 1, extra: true }));
    c.request(MESSAGES['vm.start'].type, 6, json({ vm: 'one' }));
    const got = [];
    for (let i = 0; i < 5; i++) {
      const f = await c.next();
      got.push([f.id, statusName(f.status), new TextDecoder().decode(f.body)]);
    }
    got.sort((a, b) => (a[0] as number) - (b[0] as number));
    expect(got.map((g) => g.slice(0, 2))).toEqual([
      [2, 'unknown-type'],
      [3, 'unsupported-version'],
      [4, 'bad-request'],
      [5, 'bad-request'],
      [6, 'bad-request'],
    ]);
    expect(got[4]![2]).toMatch(/vm.start.vm: expected an integer/);
    c.request(MESSAGES.ping.type, 7, json({}));
    expect(statusName((await c.next()).status)).toBe('ok');
    c.socket.destroy();
  });

  it('answers a broken frame (bad magic, oversized length) with bad-frame and closes that connection only', async () => {
    const c = await open();
    c.request(MESSAGES.hello.type, 1, json({ ...hello, memory: agent.client.memory }));
    await c.next();
    const junk = new Uint8Array(AF_HEADER_BYTES).fill(0x41);
    c.send(junk);
    expect(statusName((await c.next()).status)).toBe('bad-frame');
    await expect(c.next()).rejects.toThrow('connection ended');
    const d = await open();
    const big = encodeFrame({ kind: FrameKind.Request, type: 2, id: 1, status: 0, body: new Uint8Array(0) });
    new DataView(big.buffer, big.byteOffset).setUint32(16, (1 << 20) + 1, true);
    expect(new DataView(big.buffer, big.byteOffset).getUint32(0, true)).toBe(AF_MAGIC);
    d.send(big);
    expect(statusName((await d.next()).status)).toBe('bad-frame');
    // The agent and the control plane's own connection are unaffected.
    await agent.client.ping();
  });
});
