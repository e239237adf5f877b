import { describe, expect, it } from 'vitest';
import { NetRig } from './net-rig.js';
import { l4ChecksumOk, udpFrame } from './frames.js';

const A = { mac: '02:00:00:00:00:0a', ip: '198.18.0.10' };
const B = { mac: '02:00:00:00:00:0b', ip: '198.18.0.11' };

describe('vSwitch fast path', () => {
  it("forwards a hit from one guest into the other guest's RX buffer, byte for byte", () => {
    const rig = new NetRig();
    const a = rig.addNic(0, { mac: A.mac });
    const b = rig.addNic(1, { mac: B.mac });
    b.postRx(8);
    const f = udpFrame({
      srcMac: A.mac,
      dstMac: B.mac,
      srcIp: A.ip,
      dstIp: B.ip,
      sport: 1000,
      dport: 2000,
      frameBytes: 64,
    });
    rig.install(f, 0, [{ op: 'output', port: 1 }]);
    a.send(f);
    rig.run();
    const got = b.recv();
    expect(got).toHaveLength(1);
    expect(got[0]!.frame).toEqual(f);
    expect(got[0]!.numBuffers).toBe(1);
    expect(l4ChecksumOk(got[0]!.frame, 14)).toBe(true);
    expect(a.txDone()).toHaveLength(1);
    const s = rig.sw.stats();
    expect(s).toMatchObject({ installs: 1, hits: 1, misses: 0, outputs: 1 });
    expect(rig.sw.portStats(0)).toMatchObject({ inPackets: 1, inBytes: 64 });
    expect(rig.sw.portStats(1)).toMatchObject({ outPackets: 1, outBytes: 64 });
    expect(rig.sw.flows()).toHaveLength(1);
    expect(rig.sw.flows()[0]).toMatchObject({ inPort: 0, packets: 1, bytes: 64 });
  });
});
