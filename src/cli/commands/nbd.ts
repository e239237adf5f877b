import { ErrorCode, QingtianError } from '../../common/errors.js';
import { Storage } from '../../dpu/blk/storage.js';
import { HostMemory } from '../../memory/host-memory.js';

export interface NbdServeCli {
  tcp?: string;
  unix?: string;
  memory: number;
  json?: boolean;
}

function parseTcp(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:]+)):(\d{1,5})$/.exec(text) ?? /^()()(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `nbd serve --tcp: expected [host:]port, got ${JSON.stringify(text)}`,
    );
  return { host: m[1] || m[2] || '127.0.0.1', port };
}

/**
 * `qingtian nbd serve <dir...>`: opens the volumes in a storage worker and exports them over NBD
 * until SIGINT or SIGTERM, then checkpoints and closes them.
 */
export async function nbdServeCommand(dirs: string[], o: NbdServeCli): Promise<void> {
  const storage = new Storage(new HostMemory({ sizeBytes: o.memory * 2 ** 20 }));
  try {
    for (const d of dirs) await storage.openVolume(d);
    const srv = await storage.serveNbd({
      tcp: o.tcp === undefined && o.unix === undefined ? { port: 10809 } : o.tcp ? parseTcp(o.tcp) : undefined,
      unix: o.unix,
    });
    for (const name of srv.exports) {
      const uris = [srv.tcp ? srv.uri(name) : null, srv.unix ? `nbd+unix:///${name}?socket=${srv.unix}` : null];
      const live = uris.filter((u) => u !== null);
      process.stdout.write(
        o.json
          ? JSON.stringify({ event: 'serving', export: name, uris: live }) + '\n'
          : `serving ${name}: ${live.join('  ')}\n`,
      );
    }
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const s = await srv.stats();
    if (o.json) process.stdout.write(JSON.stringify({ event: 'stopped', ...s }) + '\n');
    else
      process.stdout.write(
        `stopping: ${s.connections} connections, ${s.requests} requests, ${s.bytesRead} bytes read, ` +
          `${s.bytesWritten} written\n`,
      );
  } finally {
    await storage.close();
  }
}
