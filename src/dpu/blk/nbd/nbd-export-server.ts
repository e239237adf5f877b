import { z } from 'zod';
import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { intIn, nameString } from '../../../common/validate.js';
import type { NbdListening } from '../engine/storage-rpc.js';
import type { StorageWorkerClient } from '../engine/worker-client.js';
import type { NbdServerStats } from './nbd-server.js';

/** Where an NBD server listens and what it exports. */
export interface NbdServeOptions {
  /** Volume names (or ids) to export; every open volume when omitted. */
  volumes?: (string | number)[] | undefined;
  /** TCP on a loopback address. Port 0: any free port (see `tcp.port` on the result). */
  tcp?: { host?: string | undefined; port: number } | undefined;
  /** A Unix socket path. */
  unix?: string | undefined;
}

export const nbdServeSchema = z
  .strictObject({
    volumes: z.array(z.union([nameString(64), intIn(1, 2 ** 31)])).optional(),
    tcp: z.strictObject({ host: nameString(255).optional(), port: intIn(0, 65535) }).optional(),
    unix: nameString(107).optional(),
  })
  .refine((o) => o.tcp !== undefined || o.unix !== undefined, { error: 'tcp or unix (where to listen)' });

/**
 * An NBD server running in the storage worker (so its requests reach the volumes with no thread
 * hop): `qemu-img`, `qemu-io`, `nbdinfo` or fio's nbd engine connect to `tcp` (nbd://host:port/name)
 * or `unix` (nbd+unix:///name?socket=path).
 */
export class NbdExportServer {
  /** The worker's id of this server. */
  readonly id: number;
  /** Names of the exports served. */
  readonly exports: readonly string[];
  /** The TCP address listened on, or null. */
  readonly tcp: { host: string; port: number } | null;
  /** The Unix socket path listened on, or null. */
  readonly unix: string | null;
  private closed = false;

  constructor(
    private readonly rpc: StorageWorkerClient,
    l: NbdListening,
  ) {
    this.id = l.id;
    this.exports = l.exports;
    this.tcp = l.tcp;
    this.unix = l.unix;
  }

  /** The URI of an export over TCP (or over the Unix socket when there is no TCP listener). */
  uri(exportName = this.exports[0] ?? ''): string {
    if (this.tcp) {
      const h = this.tcp.host.includes(':') ? `[${this.tcp.host}]` : this.tcp.host;
      return `nbd://${h}:${this.tcp.port}/${exportName}`;
    }
    return `nbd+unix:///${exportName}?socket=${this.unix ?? ''}`;
  }

  /** Connection and request counters, summed over every connection. */
  async stats(): Promise<NbdServerStats> {
    if (this.closed) throw new QingtianError(ErrorCode.Disposed, 'nbd server: closed');
    return this.rpc.call('nbdStats', { id: this.id });
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.rpc.call('stopNbd', { id: this.id });
  }
}
