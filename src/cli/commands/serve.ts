import { homedir, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { CoreMode } from '../../dpu/core/core-layout.js';
import { Daemon } from '../../orchestrator/daemon/daemon.js';
import { readFileOrFail } from './keys.js';

/** Options of `qingtian serve`, as commander parses them. */
export interface ServeCliOptions {
  socket?: string;
  tcp?: number;
  tcpHost: string;
  cores?: number;
  memoryMib: number;
  mode: string;
  trust?: string[];
  sampleMs: number;
  dataDir?: string;
  vmPoolMib: number;
  json?: boolean;
}

/** Where `serve` keeps volumes without `--data-dir`: $XDG_STATE_HOME/qingtian, else ~/.local/state/qingtian. */
export function defaultDataDir(): string {
  return join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'qingtian');
}

/** Where `serve` listens and `ps` connects when `--socket` is not given. */
export function defaultSocketPath(): string {
  return (
    process.env.QINGTIAN_SOCKET ?? join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), `qingtian-${userInfo().uid}.sock`)
  );
}

/**
 * `qingtian serve`: runs the host daemon until SIGTERM or SIGINT, then shuts down cleanly (no
 * request cut short, every core stopped, the socket removed) and exits 0.
 */
export async function serveCommand(o: ServeCliOptions): Promise<void> {
  if (!['poll', 'interrupt', 'adaptive'].includes(o.mode))
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `serve --mode: expected poll, interrupt or adaptive, got ${o.mode}`,
    );
  const socketPath = o.socket ?? defaultSocketPath();
  const daemon = await Daemon.start({
    socketPath,
    ...(o.tcp !== undefined ? { tcp: { host: o.tcpHost, port: o.tcp } } : {}),
    host: {
      memory: { sizeBytes: o.memoryMib << 20 },
      dpu: { ...(o.cores !== undefined ? { cores: o.cores } : {}), mode: o.mode as CoreMode },
      trustedKeys: (o.trust ?? []).map((f) => readFileOrFail(f, 'public key').toString('utf8')),
      vms: { poolMiB: o.vmPoolMib },
    },
    sampleMs: o.sampleMs,
    dataDir: o.dataDir ?? defaultDataDir(),
  });
  const tcp = daemon.address.tcp ? ` and http://${daemon.address.tcp.host}:${daemon.address.tcp.port}` : '';
  // --json: one object per line (event listening, stopping, stopped), for scripts that start it.
  const say = (event: string, text: string, extra: object = {}): boolean =>
    process.stdout.write(o.json ? JSON.stringify({ event, pid: process.pid, ...extra }) + '\n' : text);
  say(
    'listening',
    `qingtian daemon ${process.pid}: ${daemon.host.dpu.cores.length} DPU core(s), listening on ${socketPath}${tcp}\n`,
    { cores: daemon.host.dpu.cores.length, socket: socketPath, tcp: daemon.address.tcp },
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      say('stopping', `qingtian daemon ${process.pid}: ${signal}, shutting down\n`, { signal });
      resolve();
    };
    const onTerm = (): void => stop('SIGTERM');
    const onInt = (): void => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await daemon.close();
  say('stopped', `qingtian daemon ${process.pid}: stopped\n`);
}
