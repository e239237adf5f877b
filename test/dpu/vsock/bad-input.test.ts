import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { VsockSocket } from '../../../src/common/vsock/vsock-socket.js';
import { ringDoorbell } from '../../../src/dpu/core/core-layout.js';
import * as V from '../../../src/generated/vsock.js';
import { until } from '../../helpers/kernels.js';
import { readBytes, startVsockRig, vsockPair, type VsockPair, type VsockRig } from './helpers.js';
import { RawVsockGuest, encodeHeader } from './raw-guest.js';

/**
 * Bad input from a guest (docs/virtio-bad-input.md, "V. virtio-vsock"; policies in
 * docs/virtio-policy.md). Each test drives one hostile guest's vsock device, while a healthy
 * neighbour's device runs on the same DPU core: after every test the neighbour still echoes, the
 * hostile guest's RAM guards are intact, and the core still serves.
 */
describe('virtio-vsock bad input (V1-V20): only the guest that sent it is affected', () => {
  let rig: VsockRig;
  let neighbour: VsockPair;
  let g: RawVsockGuest;
  let accepted: VsockSocket[];
  let errors: Error[];

  beforeAll(async () => {
    rig = await startVsockRig();
    neighbour = await vsockPair(rig, 'neighbour', { guestCid: 4 });
    neighbour.driver.endpoint.listen(7, (s) => {
      s.on('error', () => undefined); // the test's client resets it when done
      s.pipe(s);
    });
  });
  afterAll(async () => {
    await neighbour.stop();
    await rig.close();
  });

  async function hostile(opts: { maxConns?: number; rxBuffers?: number } = {}): Promise<RawVsockGuest> {
    g = new RawVsockGuest(rig, `bad${Math.random().toString(36).slice(2, 8)}`, rig.pool.cores[0]!, {
      guestCid: 3,
      ...(opts.maxConns ? { maxConns: opts.maxConns } : {}),
    });
    accepted = [];
    errors = [];
    g.dev.host.listen(1, (s) => {
      accepted.push(s);
      s.on('error', (e) => errors.push(e));
    });
    await g.start(opts.rxBuffers ?? 32);
    return g;
  }

  afterEach(async () => {
    // The neighbour on the same core is untouched and the hostile guest wrote nowhere else.
    const s = await neighbour.dev.host.connect(7);
    s.write('still here');
    expect((await readBytes(s, 10)).toString()).toBe('still here');
    s.destroy();
    expect(neighbour.dev.stats().needsReset).toBe(false);
    expect(g.gg.guardsIntact()).toBe(true);
    await g.stop();
  });

  const ep = (): Record<string, number> => g.dev.stats().endpoint;
  const isRst = (port: number) => (p: { hdr: { op: number; dstPort: number } }) =>
    p.hdr.op === V.VSOCK_OP_RST && p.hdr.dstPort === port;

  it('V1: a tx packet shorter than its header is dropped, nothing answered, the device goes on', async () => {
    await hostile();
    g.send({}, undefined, { raw: new Uint8Array(20) });
    await g.txDone();
    expect(ep().malformed).toBe(1);
    await g.open(1, 5001);
    expect(g.dev.stats().needsReset).toBe(false);
  });

  it('V2: hdr.len larger than the bytes present resets the connection (RST)', async () => {
    await hostile();
    await g.open(1, 5002);
    await until(() => accepted.length === 1, 'accepted');
    g.send({ op: V.VSOCK_OP_RW, srcPort: 5002, len: 100 }, new Uint8Array(0), {
      raw: new Uint8Array([...encodeHeader(g.hdr({ op: V.VSOCK_OP_RW, srcPort: 5002, len: 100 })), 1, 2, 3]),
    });
    await g.expectPacket(isRst(5002), 'RST');
    await until(() => errors.length === 1, 'host socket reset');
    expect(errors[0]).toMatchObject({ code: 'QT_VSOCK_RESET', details: { reason: 'protocol-violation' } });
    expect(ep().malformed).toBe(1);
  });

  it('V3: hdr.len above 64 KiB is refused with RST even when the bytes are there', async () => {
    await hostile();
    await g.open(1, 5003);
    g.send({ op: V.VSOCK_OP_RW, srcPort: 5003 }, new Uint8Array(65537));
    await g.expectPacket(isRst(5003), 'RST');
    expect(ep().malformed).toBe(1);
    expect(ep().rxBytes).toBe(0);
  });

  it('V4: a tx chain with a device-writable buffer is dropped unanswered (tx buffers are read-only)', async () => {
    await hostile();
    g.send({ op: V.VSOCK_OP_REQUEST, srcPort: 5004 }, undefined, { writable: true });
    await g.txDone();
    expect(ep().malformed).toBe(1);
    expect(ep().connsOpened).toBe(0);
    expect(g.dev.stats().txRejected).toBe(1);
  });

  it('V5: an unknown type (SEQPACKET, not negotiated) gets RST (§5.10.6.4)', async () => {
    await hostile();
    g.send({ type: V.VSOCK_TYPE_SEQPACKET, srcPort: 5005 });
    await g.expectPacket(isRst(5005), 'RST');
    expect(ep().unknownType).toBe(1);
    expect(ep().connsOpened).toBe(0);
  });

  it('V6: op INVALID (0) and an unknown op (99) get RST; an open connection is closed by it', async () => {
    await hostile();
    g.send({ op: 0, srcPort: 5006 });
    await g.expectPacket(isRst(5006), 'RST for op 0');
    await g.open(1, 5106);
    await until(() => accepted.length === 1, 'accepted');
    g.send({ op: 99, srcPort: 5106 });
    await g.expectPacket(isRst(5106), 'RST for op 99');
    await until(() => errors.length === 1, 'connection reset');
    expect(ep().unknownOp).toBe(2);
  });

  it("V7: a src_cid that is not the guest's (spoofing another guest) is dropped silently", async () => {
    await hostile();
    g.send({ srcCid: 4n, srcPort: 5007 });
    g.send({ srcCid: 2n, srcPort: 5007 });
    await g.txDone();
    g.collect();
    expect(ep().spoofed).toBe(2);
    expect(g.received).toHaveLength(0);
    expect(ep().connsOpened).toBe(0);
  });

  it('V8: a dst_cid other than the host (guest to guest) is dropped silently', async () => {
    await hostile();
    g.send({ dstCid: 4n, srcPort: 5008 });
    await g.txDone();
    g.collect();
    expect(ep().spoofed).toBe(1);
    expect(g.received).toHaveLength(0);
  });

  it('V9: CIDs with the reserved upper 32 bits set are dropped silently (§5.10.6)', async () => {
    await hostile();
    g.send({ srcCid: g.cid | (1n << 32n), srcPort: 5009 });
    g.send({ dstCid: 2n | (1n << 40n), srcPort: 5009 });
    await g.txDone();
    expect(ep().spoofed).toBe(2);
    expect(ep().connsOpened).toBe(0);
  });

  it('V10: data beyond the credit the host advertised resets the connection (§5.10.6.3)', async () => {
    await hostile();
    await g.open(1, 5010);
    await until(() => accepted.length === 1, 'accepted');
    accepted[0]!.pause(); // the host reads nothing: its 64 KiB buffer is all the credit there is
    for (let i = 0; i < 16; i++) g.send({ op: V.VSOCK_OP_RW, srcPort: 5010 }, new Uint8Array(4096).fill(i));
    g.send({ op: V.VSOCK_OP_RW, srcPort: 5010 }, new Uint8Array(1));
    await g.expectPacket(isRst(5010), 'RST');
    expect(ep().creditViolations).toBe(1);
    expect(ep().rxBytes).toBe(65536);
    accepted[0]!.resume();
    await until(() => errors.length === 1, 'host socket reset');
    expect(errors[0]).toMatchObject({ details: { reason: 'protocol-violation' } });
  });

  it('V11: a packet for a connection that does not exist is answered with RST (RST on a closed port)', async () => {
    await hostile();
    g.send({ op: V.VSOCK_OP_RW, srcPort: 5011 }, new Uint8Array(10));
    await g.expectPacket(isRst(5011), 'RST');
    g.send({ op: V.VSOCK_OP_RST, srcPort: 5011 });
    await g.txDone();
    g.collect();
    expect(g.received.filter(isRst(5011))).toHaveLength(0); // an RST is never answered
    expect(ep().noConnection).toBe(1);
  });

  it('V12: a REQUEST to a port nobody listens on, or with no slot left, gets RST', async () => {
    await hostile({ maxConns: 1 });
    g.send({ dstPort: 999, srcPort: 5012 });
    await g.expectPacket(isRst(5012), 'RST (no listener)');
    await g.open(1, 5112);
    g.send({ dstPort: 1, srcPort: 5212 });
    await g.expectPacket(isRst(5212), 'RST (no slot)');
    expect(ep().noListener).toBe(1);
    expect(ep().noSlot).toBe(1);
  });

  it('V13: a second REQUEST for a live flow resets it', async () => {
    await hostile();
    await g.open(1, 5013);
    await until(() => accepted.length === 1, 'accepted');
    g.send({ dstPort: 1, srcPort: 5013 });
    await g.expectPacket(isRst(5013), 'RST');
    await until(() => errors.length === 1, 'reset');
    expect(ep().protocolErrors).toBe(1);
  });

  it('V14: a control packet carrying a payload gets RST', async () => {
    await hostile();
    await g.open(1, 5014);
    g.send({ op: V.VSOCK_OP_CREDIT_UPDATE, srcPort: 5014 }, new Uint8Array(8));
    await g.expectPacket(isRst(5014), 'RST');
    expect(ep().malformed).toBe(1);
  });

  it('V15: packets out of state (RESPONSE to nothing, data after its own SHUTDOWN(SEND)) reset the flow', async () => {
    await hostile();
    await g.open(1, 5015);
    g.send({ op: V.VSOCK_OP_RESPONSE, srcPort: 5015 });
    await g.expectPacket(isRst(5015), 'RST after RESPONSE');
    await g.open(1, 5115);
    g.send({ op: V.VSOCK_OP_SHUTDOWN, flags: V.VSOCK_SHUTDOWN_SEND, srcPort: 5115 });
    g.send({ op: V.VSOCK_OP_RW, srcPort: 5115 }, new Uint8Array(4));
    await g.expectPacket(isRst(5115), 'RST after data past SHUTDOWN(SEND)');
    expect(ep().protocolErrors).toBe(2);
  });

  it('V16: fwd_cnt claiming bytes the host never sent resets the flow', async () => {
    await hostile();
    await g.open(1, 5016);
    g.send({ op: V.VSOCK_OP_CREDIT_UPDATE, srcPort: 5016, fwdCnt: 1000 });
    await g.expectPacket(isRst(5016), 'RST');
    expect(ep().badFwdCnt).toBe(1);
  });

  it('V17: an rx buffer with a device-readable part is returned empty; the packet goes into the next buffer', async () => {
    await hostile({ rxBuffers: 0 });
    g.postRx(1, 4096, { readablePrefix: 16 });
    g.postRx(1);
    g.send({ dstPort: 1, srcPort: 5017 });
    await g.expectPacket((p) => p.hdr.op === V.VSOCK_OP_RESPONSE, 'RESPONSE in the second buffer');
    expect(g.received).toHaveLength(1); // the first buffer came back with len 0
    expect(ep().rxBufRejected).toBe(1);
  });

  it('V18: an rx buffer smaller than a header is returned empty; the packet waits for a usable one', async () => {
    await hostile({ rxBuffers: 0 });
    g.postRx(1, 20);
    g.send({ dstPort: 1, srcPort: 5018 });
    await until(() => ep().rxBufRejected === 1, 'small buffer rejected');
    g.postRx(1);
    await g.expectPacket((p) => p.hdr.op === V.VSOCK_OP_RESPONSE, 'RESPONSE');
  });

  it('V19: a guest that floods requests and posts no rx buffers: tx is still served, owed RSTs are bounded', async () => {
    await hostile({ rxBuffers: 0 });
    for (let i = 0; i < 60; i++) g.send({ dstPort: 999, srcPort: 6000 + i });
    await g.txDone();
    expect(g.dev.stats().txChains).toBe(60);
    expect(ep().rstDropped).toBe(60 - V.EP_RST_SLOTS);
    g.postRx(40);
    await until(() => {
      g.collect();
      return g.received.length === V.EP_RST_SLOTS;
    }, 'queued RSTs delivered');
    expect(ep().rstSent).toBe(V.EP_RST_SLOTS);
  });

  it('V20: an event buffer that is read-only or too small is returned empty; the event waits', async () => {
    await hostile();
    // Use up the four good event buffers with resets, then offer a bad one. Resets owed at once
    // coalesce into one event (a flag), so each waits for the one before it to be delivered.
    for (let i = 1; i <= 4; i++) {
      g.dev.transportReset();
      await until(() => {
        g.collect();
        return g.events.length === i;
      }, `event ${i}`);
    }
    g['postEvent'](2);
    g.ev.kick();
    g.dev.transportReset();
    await until(() => g.dev.stats().rxRejected === 1, 'bad event buffer rejected');
    expect(g.dev.stats().eventsSent).toBe(4);
  });

  it('ring corruption (B1 on the tx queue) breaks this device only: DEVICE_NEEDS_RESET, host sockets reset', async () => {
    await hostile();
    await g.open(1, 5021);
    await until(() => accepted.length === 1, 'accepted');
    // Move avail.idx 1000 past the device's position (B1).
    const avail = g.gg.guest.host(g.tx.driverGpa, 4);
    rig.memory.view.setUint16(avail + 2, rig.memory.view.getUint16(avail + 2, true) + 1000, true);
    ringDoorbell(rig.memory.i32, rig.pool.cores[0]!.controlBase);
    await until(() => g.dev.stats().needsReset, 'device broken');
    expect(g.dev.stats().brokenQueue).toBe('tx');
    expect(g.dev.stats().queues.tx.broken?.id).toBe('B1');
    await until(() => errors.length === 1, 'host socket ended');
    expect(errors[0]).toMatchObject({ details: { reason: 'transport-reset' } });
  });
});
