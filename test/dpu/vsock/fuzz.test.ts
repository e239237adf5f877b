import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import * as V from '../../../src/generated/vsock.js';
import { until } from '../../helpers/kernels.js';
import { readBytes, startVsockRig, vsockPair, type VsockPair, type VsockRig } from './helpers.js';
import { RawVsockGuest, encodeHeader, type Header } from './raw-guest.js';

/**
 * Random packets from a hostile guest (seeded, so a failure replays), mixed with valid
 * openings so that connections exist to be abused: whatever arrives, the device never breaks
 * (only ring faults do that), never writes outside the guest's RAM, keeps its counters
 * consistent, and a neighbour on the same core keeps working. A failure found here becomes a
 * named test in bad-input.test.ts.
 */
describe('vsock fuzz: random packets from a guest', () => {
  let rig: VsockRig;
  let neighbour: VsockPair;
  beforeAll(async () => {
    rig = await startVsockRig();
    neighbour = await vsockPair(rig, 'fz-neighbour', { guestCid: 9 });
    neighbour.driver.endpoint.listen(7, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
  });
  afterAll(async () => {
    await neighbour.stop();
    await rig.close();
  });

  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: 600 packets, the device keeps serving`, async () => {
      const rnd = new Prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[rnd.u32() % xs.length]!;
      const g = new RawVsockGuest(rig, `fz${seed}`, rig.pool.cores[0]!, { guestCid: 3, maxConns: 4 });
      g.dev.host.listen(1, (s) => {
        s.on('error', () => undefined);
        s.on('data', () => undefined);
      });
      await g.start(48);
      const ports = [5000, 5001, 5002, 5003];
      let short = 0;
      for (let i = 0; i < 600; i++) {
        const h: Partial<Header> = {
          srcPort: pick(ports),
          dstPort: pick([1, 1, 1, 2]),
          op: pick([1, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 6, 7, 0, 8, 0xffff]),
          type: rnd.u32() % 16 === 0 ? pick([0, 2, 7]) : 1,
          flags: pick([0, 1, 2, 3, 0xffffffff]),
          bufAlloc: pick([0, 4096, 65536, 65536, 0xffffffff]),
          fwdCnt: rnd.u32() % 16 === 0 ? pick([1, 0xffffffff]) : 0,
          srcCid: rnd.u32() % 16 === 0 ? pick([4n, 2n, 3n | (1n << 32n)]) : 3n,
          dstCid: rnd.u32() % 16 === 0 ? pick([3n, 0xffffffffn, 2n | (1n << 40n)]) : 2n,
        };
        const payload = new Uint8Array(pick([0, 0, 1, 100, 4096, 9000]));
        const lie = rnd.u32() % 16 === 0; // hdr.len that does not match the bytes
        const hdr = encodeHeader(g.hdr({ ...h, len: lie ? rnd.u32() % 70000 : payload.length }));
        const raw = new Uint8Array(hdr.length + payload.length);
        raw.set(hdr);
        raw.set(payload, hdr.length);
        const cut = Math.max(1, rnd.u32() % 16 === 0 ? rnd.u32() % 44 : raw.length); // sometimes a short packet
        if (cut < V.VSOCK_HDR_BYTES) short++;
        const split = rnd.u32() % 4 === 0 && cut > 1 ? { splitAt: 1 + (rnd.u32() % (cut - 1)) } : {};
        g.send({}, undefined, { raw: raw.subarray(0, cut), ...split });
        if (i % 32 === 31) {
          await g.txDone();
          g.collect();
          g.received.length = 0;
          g.postRx(Math.max(0, 48 - g.rx.outstanding));
        }
      }
      await g.txDone();
      const st = g.dev.stats();
      expect(st.needsReset).toBe(false);
      expect(st.txChains).toBe(600);
      expect(g.gg.guardsIntact()).toBe(true);
      // Every packet is accounted for: too short for a header (V1), or received and judged.
      expect(st.endpoint.rxPackets + short).toBe(600);
      expect(st.endpoint.malformed).toBeGreaterThanOrEqual(short);
      // The neighbour still echoes.
      const s = await neighbour.dev.host.connect(7);
      s.write('ok');
      expect((await readBytes(s, 2)).toString()).toBe('ok');
      s.destroy();
      await until(() => neighbour.dev.host.socketCount === 0, 'neighbour socket closed');
      await g.stop();
    });
  }
});
