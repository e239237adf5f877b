import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import type { HostMemory } from '../../../src/memory/host-memory.js';
import { defaultRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { NET_TIO_CORE_DOORBELL, NET_TIO_CORE_SLEEPING } from '../../../src/dpu/net/net-layout.js';
import { TunnelIo } from '../../../src/dpu/net/tunnel-io.js';
import { TunnelSocket } from '../../../src/dpu/net/tunnel-socket.js';
import { decodeVxlan, encodeVxlan } from '../../../src/dpu/net/vxlan-codec.js';

const rt = defaultRuntime();
const open: TunnelSocket[] = [];
const tios: TunnelIo[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  for (const t of tios.splice(0)) t.free();
});

function tunnelIo(name: string, records = 256): TunnelIo {
  const t = new TunnelIo(rt.memory, `test:${name}`, 'test', records);
  tios.push(t);
  return t;
}

describe('VXLAN tunnel socket worker', () => {
  it('sends what the core queues and queues what arrives, ringing the core', async () => {
    const tio = tunnelIo('io', 8);
    const t = await TunnelSocket.open(rt.memory, tio, '127.0.0.1', 0);
    open.push(t);
    expect(t.port).toBeGreaterThan(0);
    const words = rt.memory.alloc({ name: 'test:core-words', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    const doorbell = words.base;
    const sleeping = words.base + 64;
    rt.memory.view.setUint32(tio.base + NET_TIO_CORE_DOORBELL, doorbell, true);
    rt.memory.view.setUint32(tio.base + NET_TIO_CORE_SLEEPING, sleeping, true);
    const peer = createSocket('udp4');
    peer.bind(0, '127.0.0.1');
    await once(peer, 'listening');
    const peerPort = peer.address().port;

    // Core → wire: one record in the TX ring, then its bell.
    const inner = new Uint8Array(60).map((_, i) => i);
    const payload = encodeVxlan(77, inner);
    const u8 = rt.memory.u8;
    const tx = tio.tx.spsc;
    expect(
      tx.push((w) => {
        const at = w * 4;
        u8.set([127, 0, 0, 1], at);
        rt.memory.view.setUint16(at + 4, peerPort, true);
        rt.memory.view.setUint16(at + 6, payload.length, true);
        u8.set(payload, at + 16);
      }),
    ).toBe(true);
    tio.tx.ringBell();
    const [msg, rinfo] = (await once(peer, 'message')) as [Buffer, { port: number }];
    expect(rinfo.port).toBe(t.port);
    const d = decodeVxlan(new Uint8Array(msg));
    expect(d).toMatchObject({ vni: 77 });
    expect([...('inner' in d ? d.inner : [])]).toEqual([...inner]);

    // Wire → core: a datagram becomes an RX record and the core's doorbell moves.
    Atomics.store(rt.memory.i32, sleeping >> 2, 1);
    const before = Atomics.load(rt.memory.i32, doorbell >> 2);
    peer.send(encodeVxlan(9, inner), t.port, '127.0.0.1');
    const rx = tio.rx.spsc;
    const t0 = Date.now();
    while (!rx.hasData() && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
    let got: { addr: number[]; port: number; len: number; payload: Uint8Array } | undefined;
    rx.pop((w) => {
      const at = w * 4;
      const len = rt.memory.view.getUint16(at + 6, true);
      got = {
        addr: [...u8.subarray(at, at + 4)],
        port: rt.memory.view.getUint16(at + 4, true),
        len,
        payload: u8.slice(at + 16, at + 16 + len),
      };
    });
    expect(got).toMatchObject({ addr: [127, 0, 0, 1], port: peerPort, len: 68 });
    expect(decodeVxlan(got!.payload)).toMatchObject({ vni: 9 });
    expect(Atomics.load(rt.memory.i32, doorbell >> 2)).toBe(before + 1);
    expect(t.stats()).toMatchObject({ txSent: 1, rxReceived: 1, rxFull: 0 });

    // A core that does not drain: the ring fills, the rest is counted, never overwritten.
    for (let i = 0; i < 12; i++) peer.send(encodeVxlan(i, inner), t.port, '127.0.0.1');
    const t1 = Date.now();
    while (t.stats().rxReceived + t.stats().rxFull < 13 && Date.now() - t1 < 5000)
      await new Promise((r) => setTimeout(r, 5));
    expect(t.stats()).toMatchObject({ rxReceived: 9, rxFull: 4 });
    expect(rx.size()).toBe(8);
    peer.close();
    rt.memory.free(words, 'test');
  });

  it('refuses a port already bound, leaving nothing behind', async () => {
    const t = await TunnelSocket.open(rt.memory, tunnelIo('a'), '127.0.0.1', 0);
    open.push(t);
    const other = tunnelIo('b');
    const used = (): [number, number] => {
      const st = (rt.memory as HostMemory).stats();
      return [st.usedBytes, st.regionCount];
    };
    const before = used();
    const err = await TunnelSocket.open(rt.memory, other, '127.0.0.1', t.port).catch((e: unknown) => e);
    expect(isQingtianError(err)).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`tunnel: cannot bind UDP 127\\.0\\.0\\.1:${t.port}`));
    expect(used()).toEqual(before);
  });
});
