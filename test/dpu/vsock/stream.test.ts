import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VsockSocket } from '../../../src/common/vsock/vsock-socket.js';
import { readBytes, startVsockRig, vsockPair, type VsockRig } from './helpers.js';

describe('vsock stream: control plane (host side) <-> device on a DPU core <-> guest driver', () => {
  let rig: VsockRig;
  beforeAll(async () => {
    rig = await startVsockRig();
  });
  afterAll(async () => {
    await rig.close();
  });

  it('connects host -> guest, echoes bytes both ways, closes cleanly', async () => {
    const p = await vsockPair(rig, 'g-echo');
    const accepted: VsockSocket[] = [];
    p.driver.endpoint.listen(1234, (s) => {
      accepted.push(s);
      s.on('data', (b: Buffer) => s.write(b));
    });
    const sock = await p.dev.host.connect(1234);
    sock.write(Buffer.from('hello vsock'));
    const back = await readBytes(sock, 11);
    expect(back.toString()).toBe('hello vsock');
    expect(accepted).toHaveLength(1);
    const st = p.dev.stats();
    expect(st.endpoint.connsOpened).toBe(1);
    expect(st.needsReset).toBe(false);
    await p.stop();
  });
});
