import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { distFile } from '../../common/package-paths.js';
import { NET_MIR_RECORD_BYTES } from './net-layout.js';
import { NetRing } from './net-ring.js';
import type { MirrorWorkerData } from './pcap-mirror-worker.js';

export interface PcapMirrorOptions {
  /** The pcap file to write (created or truncated). */
  path: string;
  /** Bytes kept of each frame. Default 65535. */
  snaplen?: number | undefined;
  /** Wall-clock nanoseconds since the Unix epoch at switch tick 0 (ticks are milliseconds). */
  epochNs: bigint;
  /** Records the ring holds (a power of two). Default 1024. */
  ringCapacity?: number | undefined;
  /** Names the ring region ('mirror:<name>'). */
  name: string;
}

/**
 * A pcap mirror of one port: the mirror ring the fast path copies the port's frames into (hand
 * `ring` to the port table), and the I/O worker that writes them to a classic libpcap file.
 * Copies that do not fit the ring are dropped and counted there; the port's traffic never waits
 * for the file.
 */
export class PcapMirror {
  private written = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  private closed = false;

  private constructor(
    readonly ring: NetRing,
    readonly path: string,
    private readonly worker: Worker,
  ) {
    worker.on('message', (m: { kind: string; packets?: number }) => {
      if (m.kind !== 'written' && m.kind !== 'closed') return;
      this.written = m.packets ?? this.written;
      for (const w of this.waiters.splice(0)) {
        if (this.written >= w.n) w.resolve();
        else this.waiters.push(w);
      }
    });
  }

  static async open(memory: HostMemoryApi, o: PcapMirrorOptions): Promise<PcapMirror> {
    const ring = new NetRing(
      memory,
      `mirror:${o.name}`,
      `mirror:${o.name}`,
      o.ringCapacity ?? 1024,
      NET_MIR_RECORD_BYTES,
    );
    const data: MirrorWorkerData = {
      memory: memory.memory,
      ring: ring.base,
      path: o.path,
      snaplen: o.snaplen ?? 65535,
      epochNs: o.epochNs.toString(),
    };
    const worker = new Worker(distFile('src/dpu/net/pcap-mirror-worker.js'), { workerData: data });
    const [m] = (await once(worker, 'message')) as [{ kind: string; message?: string }];
    if (m.kind !== 'ready') {
      await worker.terminate();
      ring.free();
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `mirror.path: cannot write ${JSON.stringify(o.path)}: ${m.message ?? m.kind}`,
        {
          field: 'mirror.path',
        },
      );
    }
    worker.unref();
    return new PcapMirror(ring, o.path, worker);
  }

  /** Frames written to the file so far, and copies dropped because the ring was full. */
  stats(): { written: number; dropped: number } {
    return { written: this.written, dropped: this.ring.full };
  }

  /** Resolves once at least `n` frames are in the file. */
  whenWritten(n: number): Promise<void> {
    if (this.written >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Writes what is left in the ring, closes the file, frees the ring (detach it from its port first). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = once(this.worker, 'exit');
    this.worker.postMessage({ kind: 'stop' });
    await exited;
    this.ring.free();
  }
}
