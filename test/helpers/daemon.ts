import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon, type DaemonOptions } from '../../src/orchestrator/daemon/daemon.js';
import { DaemonClient } from '../../src/orchestrator/daemon/daemon-client.js';

/** A daemon on a socket in a fresh temp dir, a client for it, and one call that ends both. */
export async function startDaemon(
  options: Partial<DaemonOptions> = {},
): Promise<{ daemon: Daemon; client: DaemonClient; dir: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'qt-daemon-'));
  const daemon = await Daemon.start({
    socketPath: join(dir, 'api.sock'),
    host: { memory: { sizeBytes: 64 << 20 }, dpu: { cores: 1, mode: 'adaptive' } },
    sampleMs: 100,
    ...options,
  });
  const client = new DaemonClient(daemon.address.socketPath);
  return {
    daemon,
    client,
    dir,
    stop: async () => {
      client.close();
      await daemon.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
