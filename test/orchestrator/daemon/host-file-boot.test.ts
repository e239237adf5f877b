import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../../src/common/package-paths.js';
import { bootFromHostFile } from '../../../src/orchestrator/daemon/host-file-boot.js';

describe('the demo host from examples/host.yaml', () => {
  it('boots the host the file asks for, applies it as up does, takes it down and closes', async () => {
    const h = await bootFromHostFile(join(packageRoot(), 'examples', 'host.yaml'));
    try {
      expect(h.host.dpu.cores.length).toBe(2);
      expect(h.host.memory.stats().totalBytes).toBe(1024 << 20);
      expect(h.changes.map((c) => `${c.op} ${c.what}`)).toEqual(
        expect.arrayContaining(['+ vpc blue', '+ port web-1', '+ volume data0', '+ vm web-1', '+ vm web-2']),
      );
      expect(h.host.vms.list().map((v) => [v.name, v.state])).toEqual([
        ['web-1', 'running'],
        ['web-2', 'paused'],
      ]);
      // web-1's disk is the volume data0, attached while the VM lives.
      const web1 = h.host.vms.get('web-1')!;
      expect(web1.devices.map((d) => d.kind)).toEqual(['vsock', 'net', 'blk']);
      expect(h.host.storage.volume('data0')!.attachedTo).toBe('vm:web-1:blk0');
      // Its own vCPU drives the disk: a checked write, flush and read-back, asked over vsock.
      await web1.guestBlkCheck({ count: 64 });
      let s = await web1.guestBlkStatus();
      for (let i = 0; i < 500 && s.phase !== 'done' && s.phase !== 'failed'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        s = await web1.guestBlkStatus();
      }
      expect(s).toMatchObject({ phase: 'done', writes: 64, reads: 64, flushes: 1, errors: 0 });
      const down = await h.down();
      expect(down.length).toBe(
        h.changes.filter((c) => !c.what.startsWith('kernel') && !c.what.startsWith('core')).length,
      );
      expect(h.host.vms.list()).toEqual([]);
      expect(h.host.storage.volumes()).toEqual([]);
    } finally {
      await h.close();
    }
  });
});
