import { chmodSync, existsSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, isIP } from 'node:net';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { packageRoot } from '../../common/package-paths.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { Host, type HostOptions } from '../host.js';
import { Api, installErrorHandlers } from './api.js';
import { CoreSampler } from './core-sampler.js';
import { registerDashboard } from './dashboard.js';
import { MetricsPages, renderDaemonMetrics } from './daemon-metrics.js';
import { LiveEvents } from './live-events.js';
import type { DaemonContext, DaemonResource } from './resource.js';
import { CoresResource } from './resources/cores.js';
import { HostResource } from './resources/host.js';
import { JobsResource } from './resources/jobs.js';
import { KernelsResource } from './resources/kernels.js';
import { NetworkResource } from './resources/network.js';
import { SwapsResource } from './resources/swaps.js';
import { VmsResource } from './resources/vms.js';
import { VolumesResource } from './resources/volumes.js';

/** Options of {@link Daemon.start}. Unknown keys are refused. */
export interface DaemonOptions {
  /** The Unix socket the API listens on (created mode 600; a stale one is replaced, a live one refused). */
  socketPath: string;
  /** Also listen on TCP, loopback only (127.0.0.0/8 or ::1); port 0 picks a free one. */
  tcp?: { host?: string | undefined; port: number } | undefined;
  /** The host to boot (memory, DPU cores, trusted keys). */
  host?: HostOptions | undefined;
  /** How often per-core rates are sampled and pushed to `/events`, 50–60000 ms. Default 1000. */
  sampleMs?: number | undefined;
  /** Where the daemon keeps volumes (`<dataDir>/volumes/<name>`). Without it, PUT /volumes is refused. */
  dataDir?: string | undefined;
}

const LOOPBACK = 'a loopback address (127.0.0.0/8 or ::1)';
const optionsSchema = z.strictObject({
  socketPath: z
    .string({ error: 'a socket path' })
    .min(1, { error: 'a socket path' })
    .max(100, { error: 'a socket path of at most 100 bytes' }),
  tcp: z
    .strictObject({
      host: z
        .string({ error: LOOPBACK })
        .refine((h) => (isIP(h) === 4 && h.startsWith('127.')) || h === '::1', { error: LOOPBACK })
        .optional(),
      port: intIn(0, 65535),
    })
    .optional(),
  host: z.unknown().optional(),
  sampleMs: intIn(50, 60_000).optional(),
  dataDir: z.string({ error: 'a directory path' }).min(1, { error: 'a directory path' }).optional(),
});

/**
 * `qingtian serve`: a long-running process that owns one {@link Host} and serves it as JSON
 * resources over a Unix socket (and optionally loopback TCP), with its OpenAPI document at
 * `/openapi.json`, Prometheus text at `/metrics` and a live event stream at `/events`.
 * Changes run one at a time; a refused request changes nothing. {@link Daemon.close} stops
 * listening, lets requests in flight finish, frees what resources hold and shuts the host down.
 */
export class Daemon {
  private closing: Promise<void> | null = null;

  private constructor(
    /** The host it serves. */
    readonly host: Host,
    private readonly app: FastifyInstance,
    private readonly api: Api,
    private readonly sampler: CoreSampler,
    private readonly live: LiveEvents,
    private readonly resources: readonly DaemonResource[],
    /** Where it listens: the socket, and `host:port` if TCP is on. */
    readonly address: { socketPath: string; tcp: { host: string; port: number } | null },
    private readonly tcpServer: Server | null,
  ) {}

  /** Boots the host, adds every resource's routes and starts listening. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const o = parseArgs(optionsSchema, options, 'Daemon options');
    await claimSocket(o.socketPath);
    const host = await Host.boot(o.host as HostOptions | undefined);
    let app: FastifyInstance | null = null;
    let tcpServer: Server | null = null;
    const sampler = new CoreSampler(host, o.sampleMs ?? 1000);
    try {
      let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
      app = Fastify({
        bodyLimit: 32 << 20,
        forceCloseConnections: true,
        serverFactory: (h) => {
          handler = h;
          return createServer(h);
        },
      });
      installErrorHandlers(app);
      const api = new Api(app);
      const resources: DaemonResource[] = [];
      resources.push(
        new HostResource(packageVersion(), () => resources.map((r) => r.name)),
        new CoresResource(),
        new KernelsResource(),
        new JobsResource(),
        new SwapsResource(),
        new NetworkResource(),
        new VolumesResource(),
        new VmsResource(),
      );
      const ctx: DaemonContext = { host, api, sampler, dataDir: o.dataDir ?? null };
      for (const r of resources) r.register(ctx);
      const live = new LiveEvents(sampler, resources);
      live.register(api);
      registerDashboard(api);
      const pages = new MetricsPages();
      api.raw({
        path: '/metrics',
        tag: 'meta',
        summary: 'Prometheus text exposition (0.0.4) of the out-of-band counters',
        contentType: 'text/plain; version=0.0.4',
        handler: async (_req, reply) => {
          const page = pages.acquire();
          try {
            await renderDaemonMetrics(host, sampler, resources, page);
          } catch (e) {
            pages.release(page);
            throw e;
          }
          // The socket may still read the buffer after send() returns: reuse it once it is done.
          reply.raw.once('close', () => pages.release(page));
          return reply.type('text/plain; version=0.0.4; charset=utf-8').send(page.view());
        },
      });
      const info = {
        title: 'qingtian host daemon',
        version: packageVersion(),
        description:
          'One DPU-offloaded host: its cores, kernels, jobs, hot swaps, VMs, network and volumes, as JSON resources.',
      };
      let doc: string | null = null;
      api.raw({
        path: '/openapi.json',
        tag: 'meta',
        summary: 'This document',
        contentType: 'application/json',
        handler: (_req, reply) => reply.type('application/json').send((doc ??= JSON.stringify(api.document(info)))),
      });
      await app.listen({ path: o.socketPath }).catch((e: unknown) => {
        throw listenError('socketPath', o.socketPath, e);
      });
      chmodSync(o.socketPath, 0o600);
      let tcp: { host: string; port: number } | null = null;
      if (o.tcp) {
        const server = createServer(handler!);
        tcpServer = server;
        const { port, host: addr = '127.0.0.1' } = o.tcp;
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e) => reject(listenError('tcp', `${addr}:${port}`, e)));
          server.listen(port, addr, () => resolve());
        });
        const a = server.address();
        if (a && typeof a === 'object') tcp = { host: a.address, port: a.port };
      }
      sampler.start();
      return new Daemon(host, app, api, sampler, live, resources, { socketPath: o.socketPath, tcp }, tcpServer);
    } catch (e) {
      sampler.stop();
      tcpServer?.close();
      await app?.close().catch(() => undefined);
      await host.shutdown();
      throw e;
    }
  }

  /** The OpenAPI document the daemon serves. */
  openapi(): unknown {
    return this.api.document({ title: 'qingtian host daemon', version: packageVersion(), description: '' });
  }

  /**
   * Stops listening, ends the event streams, waits for requests in flight and accepted changes,
   * frees what each resource holds, stops every core. Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= this.doClose());
  }

  private async doClose(): Promise<void> {
    this.sampler.stop();
    this.live.close();
    const tcpClosed = this.tcpServer
      ? new Promise<void>((resolve) => this.tcpServer!.close(() => resolve()))
      : Promise.resolve();
    this.tcpServer?.closeIdleConnections();
    await this.app.close();
    await tcpClosed;
    await this.api.drain();
    for (const r of [...this.resources].reverse()) await r.close?.();
    await this.host.shutdown();
    if (existsSync(this.address.socketPath)) unlinkSync(this.address.socketPath);
  }
}

function listenError(field: string, where: string, e: unknown): QingtianError {
  return new QingtianError(
    ErrorCode.InvalidArgument,
    `Daemon options.${field}: cannot listen on ${where}: ${e instanceof Error ? e.message : String(e)}`,
    { field: `Daemon options.${field}` },
  );
}

/** A socket path nobody answers on is a leftover of a daemon that died: remove it. One that answers is refused. */
async function claimSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket())
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `Daemon options.socketPath: ${path} exists and is not a socket`,
      {
        field: 'Daemon options.socketPath',
      },
    );
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `Daemon options.socketPath: a daemon already listens on ${path}`,
      {
        field: 'Daemon options.socketPath',
      },
    );
  unlinkSync(path);
}

let version: string | null = null;
function packageVersion(): string {
  return (version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string })
    .version);
}
