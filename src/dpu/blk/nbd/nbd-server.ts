import { rmSync } from 'node:fs';
import { createServer, isIP, type AddressInfo, type Server } from 'node:net';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { EngineRequest } from '../engine/engine-request.js';
import { NbdConnection, type NbdBackend, type NbdConnectionCounters } from './nbd-connection.js';
import type { NbdExport } from './negotiation.js';

/** Totals of a server's connections, the closed ones included. */
export interface NbdServerStats {
  /** Connections accepted since the server started. */
  connections: number;
  /** Connections open now. */
  active: number;
  /** Transmission requests received (every kind). */
  requests: number;
  /** Requests answered with an error before reaching the volume (bad flags, range, length). */
  refused: number;
  /** Requests the volume completed with an error status. */
  failed: number;
  /** Bytes sent in READ replies. */
  bytesRead: number;
  /** Bytes received in WRITE payloads. */
  bytesWritten: number;
  /** Connections the server closed because their stream broke the protocol, with the last reason. */
  protocolCloses: number;
  /** Why the server last closed a connection (null: never). */
  lastCloseReason: string | null;
}

/** Loopback addresses only: the server is for clients on this host. */
export function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === 'localhost';
}

/**
 * An NBD server (fixed newstyle, simple replies) over the storage engine of the thread it runs
 * in: several exports, any number of connections to each (CAN_MULTI_CONN: a flush on one
 * connection covers writes completed on all), on TCP (loopback) and on Unix sockets. Requests go
 * into the engine like any other, so the volume's QoS applies to its NBD clients.
 */
export class NbdServer implements NbdBackend {
  private readonly listeners: Server[] = [];
  private readonly unixPaths: string[] = [];
  private readonly conns = new Set<NbdConnection>();
  private readonly totals: NbdConnectionCounters = {
    requests: 0,
    refused: 0,
    failed: 0,
    bytesRead: 0,
    bytesWritten: 0,
  };
  private connections = 0;
  private protocolCloses = 0;
  private lastCloseReason: string | null = null;
  private closed = false;

  constructor(
    private readonly engine: { submit(volumeId: number, req: EngineRequest): void },
    private readonly exportList: readonly NbdExport[],
  ) {
    const names = new Set<string>();
    for (const e of exportList) {
      if (names.has(e.name))
        throw new QingtianError(
          ErrorCode.InvalidArgument,
          `nbd exports: the name ${JSON.stringify(e.name)} is used twice`,
        );
      names.add(e.name);
    }
  }

  exports(): readonly NbdExport[] {
    return this.exportList;
  }

  submit(volumeId: number, req: EngineRequest): void {
    this.engine.submit(volumeId, req);
  }

  /** Listens on a loopback TCP address (port 0: any free port); resolves with the bound address. */
  async listenTcp(host: string, port: number): Promise<{ host: string; port: number }> {
    if (!isLoopback(host)) {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `nbd tcp host: expected a loopback address (127.0.0.0/8, ::1, localhost), got ${JSON.stringify(host)}`,
        { field: 'tcp.host' },
      );
    }
    const s = await this.listen((srv, done) => srv.listen(port, host, done));
    const a = s.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Listens on a Unix socket at `path` (an existing socket file there is replaced). */
  async listenUnix(path: string): Promise<string> {
    rmSync(path, { force: true });
    await this.listen((srv, done) => srv.listen(path, done));
    this.unixPaths.push(path);
    return path;
  }

  stats(): NbdServerStats {
    const t = { ...this.totals };
    for (const c of this.conns) {
      t.requests += c.counters.requests;
      t.refused += c.counters.refused;
      t.failed += c.counters.failed;
      t.bytesRead += c.counters.bytesRead;
      t.bytesWritten += c.counters.bytesWritten;
    }
    return {
      connections: this.connections,
      active: this.conns.size,
      ...t,
      protocolCloses: this.protocolCloses,
      lastCloseReason: this.lastCloseReason,
    };
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of [...this.conns]) c.destroy();
    await Promise.all(this.listeners.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const p of this.unixPaths) rmSync(p, { force: true });
  }

  private listen(start: (srv: Server, done: () => void) => void): Promise<Server> {
    if (this.closed) return Promise.reject(new QingtianError(ErrorCode.Disposed, 'nbd server: closed'));
    const srv = createServer((socket) => {
      this.connections++;
      const c = new NbdConnection(socket, this, (x) => this.forget(x));
      this.conns.add(c);
    });
    return new Promise((resolve, reject) => {
      srv.once('error', (e) =>
        reject(new QingtianError(ErrorCode.IoError, `nbd server: cannot listen (${e.message})`)),
      );
      start(srv, () => {
        this.listeners.push(srv);
        resolve(srv);
      });
    });
  }

  private forget(c: NbdConnection): void {
    if (!this.conns.delete(c)) return;
    for (const k of Object.keys(this.totals) as (keyof NbdConnectionCounters)[]) this.totals[k] += c.counters[k];
    if (c.closeReason) {
      this.protocolCloses++;
      this.lastCloseReason = c.closeReason;
    }
  }
}
