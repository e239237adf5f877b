import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { VsockSocket } from '../../../src/common/vsock/vsock-socket.js';
import * as V from '../../../src/generated/vsock.js';
import { dirtyPages } from '../../../src/hypervisor/guest/dirty-log.js';
import { until } from '../../helpers/kernels.js';
import { readBytes, startVsockRig, type VsockRig } from './helpers.js';
import { RawVsockGuest, type Packet } from './raw-guest.js';

/**
 * The device against the spec's words (virtio 1.2 §5.10), packet by packet: a guest written
 * byte by byte (RawVsockGuest) checks what the device puts on the wire.
 */
describe('virtio-vsock spec points (§5.10), seen from the guest', () => {
  let rig: VsockRig;
  let g: RawVsockGuest;
  let accepted: VsockSocket[];
  beforeAll(async () => {
    rig = await startVsockRig();
  });
  afterAll(async () => {
    await rig.close();
  });

  async function guest(ringBytes = 65536, rxBuffers?: number): Promise<RawVsockGuest> {
    g = new RawVsockGuest(rig, `spec${Math.random().toString(36).slice(2, 8)}`, rig.pool.cores[0]!, {
      guestCid: 5,
      ringBytes,
    });
    accepted = [];
    g.dev.host.listen(1, (s) => {
      s.on('error', () => undefined);
      accepted.push(s);
    });
    await g.start(rxBuffers);
    return g;
  }
  afterEach(async () => {
    expect(g.dev.stats().needsReset).toBe(false);
    await g.stop();
  });

  const from = (port: number, op: number) => (p: Packet) => p.hdr.dstPort === port && p.hdr.op === op;

  it('§5.10.6.2, §5.10.6.3.2: a RESPONSE is addressed back to the sender and carries the credit of the flow', async () => {
    await guest(32768);
    g.send({ op: V.VSOCK_OP_REQUEST, srcPort: 4000, dstPort: 1, bufAlloc: 8192 });
    const r = await g.expectPacket(from(4000, V.VSOCK_OP_RESPONSE), 'RESPONSE');
    expect(r.hdr).toMatchObject({
      srcCid: 2n,
      dstCid: 5n,
      srcPort: 1,
      dstPort: 4000,
      type: V.VSOCK_TYPE_STREAM,
      len: 0,
    });
    expect(r.hdr.bufAlloc).toBe(32768);
    expect(r.hdr.fwdCnt).toBe(0);
  });

  it('§5.10.6.3: CREDIT_REQUEST is answered with CREDIT_UPDATE; the host reports what its application consumed', async () => {
    await guest();
    await g.open(1, 4001);
    await until(() => accepted.length === 1, 'accepted');
    g.send({ op: V.VSOCK_OP_RW, srcPort: 4001 }, new Uint8Array(1000).fill(7));
    expect((await readBytes(accepted[0]!, 1000)).length).toBe(1000);
    g.send({ op: V.VSOCK_OP_CREDIT_REQUEST, srcPort: 4001 });
    const u = await g.expectPacket(from(4001, V.VSOCK_OP_CREDIT_UPDATE), 'CREDIT_UPDATE');
    expect(u.hdr.bufAlloc).toBe(65536);
    expect(u.hdr.fwdCnt).toBe(1000);
  });

  it("§5.10.6.3: the host never sends beyond the guest's credit, asks for more once per stall, and resumes on CREDIT_UPDATE", async () => {
    await guest();
    g.send({ op: V.VSOCK_OP_REQUEST, srcPort: 4002, dstPort: 1, bufAlloc: 1000 });
    await g.expectPacket(from(4002, V.VSOCK_OP_RESPONSE), 'RESPONSE');
    await until(() => accepted.length === 1, 'accepted');
    accepted[0]!.write(Buffer.alloc(2500, 1));
    const first = await g.expectPacket(from(4002, V.VSOCK_OP_RW), 'data');
    expect(first.payload.length).toBe(1000);
    await g.expectPacket(from(4002, V.VSOCK_OP_CREDIT_REQUEST), 'CREDIT_REQUEST');
    g.collect();
    expect(g.received.filter(from(4002, V.VSOCK_OP_RW))).toHaveLength(0);
    // The guest consumed the 1000 bytes: its fwd_cnt says so, and 1000 more may come.
    g.send({ op: V.VSOCK_OP_CREDIT_UPDATE, srcPort: 4002, bufAlloc: 1000, fwdCnt: 1000 });
    const second = await g.expectPacket(from(4002, V.VSOCK_OP_RW), 'more data');
    expect(second.payload.length).toBe(1000);
    // 500 bytes still wait: the host asks again, once per stall.
    await g.expectPacket(from(4002, V.VSOCK_OP_CREDIT_REQUEST), 'second CREDIT_REQUEST');
    expect(g.dev.stats().endpoint.creditRequests).toBe(2);
  });

  it("§5.10.6.5: SHUTDOWN(RCV) stops the host's writes: nothing more is sent, the failed write resets the flow", async () => {
    await guest();
    await g.open(1, 4003);
    await until(() => accepted.length === 1, 'accepted');
    const s = accepted[0]!;
    g.send({ op: V.VSOCK_OP_SHUTDOWN, srcPort: 4003, flags: V.VSOCK_SHUTDOWN_RCV });
    await until(() => g.dev.stats().endpoint.rxPackets >= 2, 'SHUTDOWN(RCV) received');
    await expect(
      new Promise((resolve, reject) => s.write('late', (e) => (e ? reject(e) : resolve(null)))),
    ).rejects.toMatchObject({
      code: 'QT_VSOCK_RESET',
      details: { reason: 'peer-shutdown' },
    });
    // As a write after EPIPE on TCP, the failed write ends the socket: with an error, so by RST.
    await g.expectPacket(from(4003, V.VSOCK_OP_RST), 'RST');
    g.collect();
    expect(g.received.filter(from(4003, V.VSOCK_OP_RW))).toHaveLength(0);
  });

  it("§5.10.6.5: a host close is SHUTDOWN with both flags, after the data, and ends with the guest's RST", async () => {
    await guest();
    await g.open(1, 4004);
    await until(() => accepted.length === 1, 'accepted');
    accepted[0]!.end('last words');
    accepted[0]!.resume();
    const data = await g.expectPacket(from(4004, V.VSOCK_OP_RW), 'data');
    expect(Buffer.from(data.payload).toString()).toBe('last words');
    await g.expectPacket(from(4004, V.VSOCK_OP_SHUTDOWN), 'SHUTDOWN(SEND)');
    g.send({ op: V.VSOCK_OP_SHUTDOWN, srcPort: 4004, flags: V.VSOCK_SHUTDOWN_BOTH });
    await g.expectPacket(from(4004, V.VSOCK_OP_RST), 'RST');
    await until(() => g.dev.host.socketCount === 0, 'host socket released');
  });

  it('§5.10.6.7: TRANSPORT_RESET is a 4-byte event with id 0; the new CID is in the config space', async () => {
    await guest();
    g.dev.transportReset(77);
    await until(() => {
      g.collect();
      return g.events.length === 1;
    }, 'event');
    expect(g.events).toEqual([V.VSOCK_EVENT_TRANSPORT_RESET]);
    expect(new DataView(g.dev.configRead(0, 8).buffer).getBigUint64(0, true)).toBe(77n);
  });

  it('§2.7.4: a header split over two tx descriptors is read whole', async () => {
    await guest();
    g.send({ op: V.VSOCK_OP_REQUEST, srcPort: 4010, dstPort: 1 }, undefined, { splitAt: 10 });
    const r = await g.expectPacket(from(4010, V.VSOCK_OP_RESPONSE), 'RESPONSE');
    expect(r.hdr).toMatchObject({ srcPort: 1, dstPort: 4010, dstCid: 5n });
    expect(g.dev.stats().endpoint.malformed).toBe(0);
  });

  it('§2.7.4: packets land whole in rx buffers of two descriptors cut inside the header', async () => {
    await guest(65536, 0);
    g.postRx(8, 4096, { splitAt: 20 });
    g.send({ op: V.VSOCK_OP_REQUEST, srcPort: 4011, dstPort: 1 });
    const r = await g.expectPacket(from(4011, V.VSOCK_OP_RESPONSE), 'RESPONSE');
    expect(r.hdr).toMatchObject({ srcPort: 1, dstPort: 4011, srcCid: 2n, dstCid: 5n, len: 0 });
    await until(() => accepted.length === 1, 'accepted');
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
    accepted[0]!.write(bytes);
    const d = await g.expectPacket(from(4011, V.VSOCK_OP_RW), 'data');
    expect(Buffer.from(d.payload).equals(bytes)).toBe(true);
  });

  it('rx packets reach guest RAM through the dirty log', async () => {
    await guest(65536, 0);
    const ram = g.gg.guest;
    ram.startDirtyLog();
    // A page of its own between the rings (which the driver writes) and the buffers.
    ram.allocGpa(4096, 4096);
    g.postRx(4, 8192);
    ram.readAndClearDirty();
    g.send({ op: V.VSOCK_OP_REQUEST, srcPort: 4012, dstPort: 1 });
    const r = await g.expectPacket(from(4012, V.VSOCK_OP_RESPONSE), 'RESPONSE');
    await until(() => accepted.length === 1, 'accepted');
    // The data packet's payload crosses into the buffer's second page.
    accepted[0]!.write(Buffer.alloc(6000, 3));
    const d = await g.expectPacket(from(4012, V.VSOCK_OP_RW), 'data');
    const pages = dirtyPages(ram.readAndClearDirty());
    expect(pages).toContain(Number(r.gpa >> 12n));
    expect(pages).toContain(Number(d.gpa >> 12n));
    expect(pages).toContain(Number((d.gpa + 6000n) >> 12n));
  });
});
