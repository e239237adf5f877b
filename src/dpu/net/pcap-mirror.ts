import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { StateRegion } from '../../common/host-memory-api.js';
import { distFile } from '../../common/package-paths.js';
import type { KernelRuntime } from '../kernels/kernel-runtime.js';
import type { MirrorLayout, MirrorWorkerData } from './pcap-mirror-worker.js';

export interface PcapMirrorOptions {
  runtime: KernelRuntime;
  /** The pcap file to write (created or truncated). */
  path: string;
  /** Bytes kept of each frame. Default 65535. */
  snaplen?: number | undefined;
  /** Wall-clock nanoseconds since the Unix epoch at switch tick 0 (ticks are milliseconds). */
  epochNs: bigint;
  /** Records the ring holds (a power of two). Default 1024. */
  ringCapacity?: number | undefined;
  /** Names the regions ('mirror:<name>'). */
  name: string;
}

/**
 * A pcap mirror of one port: the mirror ring the fast path copies the port's frames into, and the
 * I/O worker that writes them to a classic libpcap file. Copies that do not fit the ring are
 * dropped and counted there; the port's traffic never waits for the file.
 */
export class PcapMirror {
  private written = 0;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  private closed = false;

  private constructor(
    private readonly runtime: KernelRuntime,
    readonly ring: StateRegion,
    readonly path: string,
    private readonly worker: Worker,
    private readonly owner: string,
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

  static async open(o: PcapMirrorOptions): Promise<PcapMirror> {
    const k = o.runtime.kernel('net');
    const mem = o.runtime.memory;
    const owner = `mirror:${o.name}`;
    const cap = o.ringCapacity ?? 1024;
    const recordBytes = k.constant('NET_MIR_RECORD_BYTES');
    const ring = mem.allocState({
      name: `${owner}:ring`,
      owner,
      kind: 'device-state',
      magic: k.constant('NET_RING_MAGIC'),
      layoutVersion: k.constant('NET_RING_LAYOUT'),
      payloadBytes: k.fn<(c: number, b: number) => number>('net_ring_bytes')(cap, recordBytes),
    });
    mem.view.setUint32(ring.base + k.constant('NET_RING_CAPACITY'), cap, true);
    mem.view.setUint32(ring.base + k.constant('NET_RING_RECORD_BYTES'), recordBytes, true);
    const c = (n: string): number => k.constant(n);
    const layout: MirrorLayout = {
      ringCapacity: c('NET_RING_CAPACITY'),
      ringRecordBytes: c('NET_RING_RECORD_BYTES'),
      ringBell: c('NET_RING_BELL'),
      ringHead: c('NET_RING_HEAD'),
      ringTail: c('NET_RING_TAIL'),
      ringRecords: c('NET_RING_RECORDS'),
      tick: c('NET_MIR_TICK'),
      origLen: c('NET_MIR_ORIG_LEN'),
      capLen: c('NET_MIR_CAP_LEN'),
      frame: c('NET_MIR_FRAME'),
      frameCap: c('NET_MIR_FRAME_CAP'),
    };
    const data: MirrorWorkerData = {
      memory: mem.memory,
      ring: ring.base,
      path: o.path,
      snaplen: o.snaplen ?? 65535,
      epochNs: o.epochNs.toString(),
      c: layout,
    };
    const worker = new Worker(distFile('src/dpu/net/pcap-mirror-worker.js'), { workerData: data });
    const [m] = (await once(worker, 'message')) as [{ kind: string; message?: string }];
    if (m.kind !== 'ready') {
      await worker.terminate();
      mem.free(ring, owner);
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `mirror.path: cannot write ${JSON.stringify(o.path)}: ${m.message ?? m.kind}`,
        {
          field: 'mirror.path',
        },
      );
    }
    worker.unref();
    return new PcapMirror(o.runtime, ring, o.path, worker, owner);
  }

  /** Frames written to the file so far, and copies dropped because the ring was full. */
  stats(): { written: number; dropped: number } {
    const k = this.runtime.kernel('net');
    return {
      written: this.written,
      dropped: Number(this.runtime.memory.view.getBigUint64(this.ring.base + k.constant('NET_RING_FULL'), true)),
    };
  }

  /** Resolves once at least `n` frames are in the file. */
  whenWritten(n: number): Promise<void> {
    if (this.written >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** Writes what is left in the ring, closes the file, frees the ring. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = once(this.worker, 'exit');
    this.worker.postMessage({ kind: 'stop' });
    await exited;
    this.runtime.memory.free(this.ring, this.owner);
  }
}
