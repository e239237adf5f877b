import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from '../host.js';
import { Daemon } from './daemon.js';
import { DaemonClient } from './daemon-client.js';
import { readHostFile } from './host-file.js';
import { apply, plan, planDown, type Change } from './reconcile.js';

/** A host brought to a host file's state by a daemon of its own (see {@link bootFromHostFile}). */
export interface HostFromFile {
  /** The daemon's host. */
  host: Host;
  /** The changes that brought it there. */
  changes: Change[];
  /** Takes down what the file made, as `qingtian down` does (VMs, network, volumes, jobs); the changes made. */
  down(): Promise<Change[]>;
  /** Stops the daemon (and the host), removes its socket and data directory. */
  close(): Promise<void>;
}

/**
 * Boots a daemon on a private socket with the host the file's `host:` section asks for, and
 * applies the file exactly as `qingtian up` does (same plan, same requests). The demo runs its
 * chapters on the host this gives.
 */
export async function bootFromHostFile(path: string): Promise<HostFromFile> {
  const file = readHostFile(path);
  const dir = mkdtempSync(join(tmpdir(), 'qt-host-file-'));
  let daemon: Daemon | null = null;
  const client = (socket: string): DaemonClient => new DaemonClient(socket);
  try {
    daemon = await Daemon.start({
      socketPath: join(dir, 'api.sock'),
      dataDir: join(dir, 'data'),
      host: {
        ...(file.host?.memoryMib !== undefined ? { memory: { sizeBytes: file.host.memoryMib << 20 } } : {}),
        ...(file.host?.cores !== undefined ? { dpu: { cores: file.host.cores } } : {}),
      },
    });
    const c = client(daemon.address.socketPath);
    let changes: Change[];
    try {
      changes = await plan(c, file);
      await apply(c, changes);
    } finally {
      c.close();
    }
    const d = daemon;
    return {
      host: d.host,
      changes,
      down: async () => {
        const dc = client(d.address.socketPath);
        try {
          const down = await planDown(dc);
          await apply(dc, down);
          return down;
        } finally {
          dc.close();
        }
      },
      close: async () => {
        await d.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await daemon?.close();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
