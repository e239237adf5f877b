import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region, StateRegion } from '../../common/host-memory-api.js';
import { distFile } from '../../common/package-paths.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import type { LoadedKernel } from '../kernels/kernel-loader.js';
import {
  STAT_RX_FULL,
  STAT_RX_RECEIVED,
  STAT_RX_TOO_BIG,
  STAT_TX_ERRORS,
  STAT_TX_SENT,
  STAT_WORDS,
  type TunnelLayout,
  type TunnelWorkerData,
} from './tunnel-socket-worker.js';

export interface TunnelSocketOptions {
  runtime: KernelRuntime;
  /** Local IPv4 address to bind. */
  address: string;
  /** Local UDP port; 0 picks a free one. */
  port: number;
  /** Records per ring (a power of two). Default 1024. */
  ringCapacity?: number | undefined;
  /** Region names and owner ('tunnel:<name>'). */
  name: string;
}

export interface TunnelSocketStats {
  txSent: number;
  txErrors: number;
  rxReceived: number;
  /** Datagrams larger than a ring record holds. */
  rxTooBig: number;
  /** Datagrams dropped because the core had not drained the RX ring. */
  rxFull: number;
}

/** The layout offsets, from the `net` kernel's exports (the one source of truth for them). */
export function tunnelLayout(k: LoadedKernel): TunnelLayout {
  const c = (n: string): number => k.constant(n);
  return {
    txRing: c('NET_TIO_TX_RING'),
    rxRing: c('NET_TIO_RX_RING'),
    coreDoorbell: c('NET_TIO_CORE_DOORBELL'),
    coreSleeping: c('NET_TIO_CORE_SLEEPING'),
    recAddr: c('NET_TIO_ADDR'),
    recPort: c('NET_TIO_PORT'),
    recLen: c('NET_TIO_LEN'),
    recPayload: c('NET_TIO_PAYLOAD'),
    payloadCap: c('NET_TIO_PAYLOAD_CAP'),
    ringCapacity: c('NET_RING_CAPACITY'),
    ringRecordBytes: c('NET_RING_RECORD_BYTES'),
    ringBell: c('NET_RING_BELL'),
    ringFull: c('NET_RING_FULL'),
    ringHead: c('NET_RING_HEAD'),
    ringTail: c('NET_RING_TAIL'),
    ringRecords: c('NET_RING_RECORDS'),
  };
}

/**
 * A VXLAN tunnel port's UDP socket, owned by an I/O worker thread, and the tunnel I/O region
 * ('NTIO') with its TX and RX rings through which a DPU core sends and receives datagrams. The
 * main thread only sets it up, reads counters and closes it; no datagram passes through it.
 */
export class TunnelSocket {
  /** The bound UDP port (the one asked for, or the one the system picked for 0). */
  port = 0;
  readonly layout: TunnelLayout;
  private readonly regions: Region[] = [];
  private readonly stats64: BigUint64Array;
  private worker: Worker | undefined;
  private closed = false;

  private constructor(
    private readonly runtime: KernelRuntime,
    readonly tio: StateRegion,
    readonly txRing: StateRegion,
    readonly rxRing: StateRegion,
    private readonly owner: string,
    private readonly statsBuf: SharedArrayBuffer,
  ) {
    this.layout = tunnelLayout(runtime.kernel('net'));
    this.regions.push(rxRing, txRing, tio);
    this.stats64 = new BigUint64Array(statsBuf);
  }

  /** Allocates the region and rings, starts the worker and binds; resolves once bound. */
  static async open(o: TunnelSocketOptions): Promise<TunnelSocket> {
    const k = o.runtime.kernel('net');
    const mem = o.runtime.memory;
    const owner = `tunnel:${o.name}`;
    const cap = o.ringCapacity ?? 1024;
    const recordBytes = k.constant('NET_TIO_RECORD_BYTES');
    const ring = (dir: string): StateRegion => {
      const r = mem.allocState({
        name: `${owner}:${dir}`,
        owner,
        kind: 'device-state',
        magic: k.constant('NET_RING_MAGIC'),
        layoutVersion: k.constant('NET_RING_LAYOUT'),
        payloadBytes: k.fn<(c: number, b: number) => number>('net_ring_bytes')(cap, recordBytes),
      });
      mem.view.setUint32(r.base + k.constant('NET_RING_CAPACITY'), cap, true);
      mem.view.setUint32(r.base + k.constant('NET_RING_RECORD_BYTES'), recordBytes, true);
      return r;
    };
    const tio = mem.allocState({
      name: `${owner}:io`,
      owner,
      kind: 'device-state',
      magic: k.constant('NET_TIO_MAGIC'),
      layoutVersion: k.constant('NET_TIO_LAYOUT'),
      payloadBytes: k.constant('NET_TIO_STATE_BYTES') - 64,
    });
    const tx = ring('tx');
    const rx = ring('rx');
    mem.view.setUint32(tio.base + k.constant('NET_TIO_TX_RING'), tx.base, true);
    mem.view.setUint32(tio.base + k.constant('NET_TIO_RX_RING'), rx.base, true);
    const s = new TunnelSocket(o.runtime, tio, tx, rx, owner, new SharedArrayBuffer(8 * STAT_WORDS));
    try {
      await s.start(o.address, o.port);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** Where the worker rings the core that drains the RX ring (its doorbell and sleeping words). */
  setCore(doorbellAddr: number, sleepingAddr: number): void {
    const v = this.runtime.memory.view;
    v.setUint32(this.tio.base + this.layout.coreSleeping, sleepingAddr, true);
    v.setUint32(this.tio.base + this.layout.coreDoorbell, doorbellAddr, true);
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

  /** Stops the worker (closing the socket) and frees the regions. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    if (w) {
      const exited = once(w, 'exit');
      w.postMessage({ kind: 'stop' });
      const timer = setTimeout(() => void w.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    }
    for (const r of this.regions) this.runtime.memory.free(r, this.owner);
  }

  private async start(address: string, port: number): Promise<void> {
    const data: TunnelWorkerData = {
      memory: this.runtime.memory.memory,
      tio: this.tio.base,
      stats: this.statsBuf,
      address,
      port,
      c: this.layout,
    };
    const w = new Worker(distFile('src/dpu/net/tunnel-socket-worker.js'), { workerData: data });
    this.worker = w;
    const [m] = (await Promise.race([
      once(w, 'message'),
      once(w, 'exit').then(() => [{ kind: 'error', message: 'worker exited' }]),
    ])) as [{ kind: string; port?: number; message?: string }];
    if (m.kind !== 'ready') {
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `tunnel: cannot bind UDP ${address}:${port}: ${m.message ?? m.kind}`,
        {
          address,
          port,
        },
      );
    }
    this.port = m.port!;
    w.unref();
    w.on('message', (e: { kind: string; message?: string }) => {
      if (e.kind === 'error') this.lastError = e.message ?? 'unknown';
    });
  }

  /** The last socket error the worker reported (send failures are also counted in txErrors). */
  lastError: string | undefined;
}
