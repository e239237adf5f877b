import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { distFile } from '../../common/package-paths.js';
import type { TunnelIo } from './tunnel-io.js';
import {
  STAT_RX_FULL,
  STAT_RX_RECEIVED,
  STAT_RX_TOO_BIG,
  STAT_TX_ERRORS,
  STAT_TX_SENT,
  STAT_WORDS,
  type TunnelWorkerData,
} from './tunnel-socket-worker.js';

/** A tunnel socket's counters: {@link NetworkStats}.tunnels. */
export interface TunnelSocketStats {
  /** Datagrams sent. */
  txSent: number;
  /** Datagrams the socket refused or that named no port. */
  txErrors: number;
  /** Datagrams received and handed to the switch. */
  rxReceived: number;
  /** Datagrams larger than a ring record holds. */
  rxTooBig: number;
  /** Datagrams dropped because the core had not drained the RX ring. */
  rxFull: number;
}

/**
 * A VXLAN tunnel port's UDP socket, owned by an I/O worker thread that serves the tunnel I/O
 * region (TunnelIo: the TX and RX rings a DPU core sends and receives datagrams through). The
 * main thread only starts it, reads its counters and stops it; no datagram passes through it.
 */
export class TunnelSocket {
  private closed = false;
  /** The last socket error the worker reported (send failures are also counted in txErrors). */
  lastError: string | undefined;

  private constructor(
    readonly tio: TunnelIo,
    /** The bound UDP port (the one asked for, or the one the system picked for 0). */
    readonly port: number,
    private readonly worker: Worker,
    private readonly stats64: BigUint64Array,
  ) {
    worker.on('message', (e: { kind: string; message?: string }) => {
      if (e.kind === 'error') this.lastError = e.message ?? 'unknown';
    });
  }

  /** Starts the worker on `tio` and binds `address:port` (0: any free port); resolves once bound. */
  static async open(memory: HostMemoryApi, tio: TunnelIo, address: string, port: number): Promise<TunnelSocket> {
    const stats = new SharedArrayBuffer(8 * STAT_WORDS);
    const data: TunnelWorkerData = { memory: memory.memory, tio: tio.base, stats, address, port };
    const w = new Worker(distFile('src/dpu/net/tunnel-socket-worker.js'), { workerData: data });
    const exit = once(w, 'exit').then(() => [{ kind: 'error', message: 'the socket worker exited' }]);
    const [m] = (await Promise.race([once(w, 'message'), exit])) as [{ kind: string; port?: number; message?: string }];
    if (m.kind !== 'ready') {
      await w.terminate();
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `tunnel: cannot bind UDP ${address}:${port}: ${m.message ?? m.kind}`,
        {
          address,
          port,
        },
      );
    }
    w.unref();
    return new TunnelSocket(tio, m.port!, w, new BigUint64Array(stats));
  }

  stats(): TunnelSocketStats {
    const n = (i: number): number => Number(Atomics.load(this.stats64, i));
    return {
      txSent: n(STAT_TX_SENT),
      txErrors: n(STAT_TX_ERRORS),
      rxReceived: n(STAT_RX_RECEIVED),
      rxTooBig: n(STAT_RX_TOO_BIG),
      rxFull: n(STAT_RX_FULL),
    };
  }

  /** Stops the worker and closes the socket (the TunnelIo stays its owner's to free). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = once(this.worker, 'exit');
    this.worker.postMessage({ kind: 'stop' });
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
