import type { BenchContext } from './lib/report.js';

/** Benchmark suites by name. Each module exports `run(ctx)`. */
export const SUITES: Record<
  string,
  { describe: string; load: () => Promise<{ run(ctx: BenchContext): Promise<void> }> }
> = {
  core: {
    describe: 'DPU core runtime: poll round trip, interrupt wake-up, control command, idle CPU',
    load: () => import('./core.js'),
  },
  vq: {
    describe: 'virtqueues: kernel pop/push, guest vCPU ↔ DPU core loopback (poll, interrupt), packed vs split',
    load: () => import('./vq.js'),
  },
  io: {
    describe: 'I/O channels: kernel on a DPU core ↔ I/O worker thread round trip and throughput, vs MessagePort',
    load: () => import('./io.js'),
  },
  blk: {
    describe:
      'virtio-blk: guest vCPU ↔ blk kernel on one DPU core, 4 KiB random read QD128 (null) and QD1 latency (RAM)',
    load: () => import('./blk.js'),
  },
  hotswap: {
    describe:
      'hot swap: per-core pause, whole swap, lost requests over 100+ swaps of the virtio module under loopback traffic',
    load: () => import('./hotswap.js'),
  },
  cc: {
    describe: 'congestion control: cc kernel updates/s over 10k flows, event core, simulator events/s and packets/s',
    load: () => import('./cc.js'),
  },
  flow: {
    describe: 'flow lookups: exact-match flow cache, ClassBench classifier, IPv4 LPM (single thread, bursts of 32)',
    load: () => import('./flow.js'),
  },
  ec: {
    describe:
      'Reed-Solomon encode / reconstruct / update, ours vs @ronomon/reed-solomon, reed-solomon-erasure.wasm, plain JS',
    load: () => import('./ec.js'),
  },
  volume: {
    describe:
      'volume engine: 4 KiB random I/O through log + RS(4,2) + DIF (in-thread, through a volume queue, degraded), I/O choice, cleaner WA',
    load: () => import('./volume.js'),
  },
  nbd: {
    describe:
      'NBD export: fio nbd engine, 4 KiB random read/write QD32, qingtian vs nbdkit memory vs qemu-nbd (same tmpfs)',
    load: () => import('./nbd.js'),
  },
  net: {
    describe:
      'vSwitch on one DPU core between two guests: 64 B and 1500 B frames with flow-cache hits, first-packet latency, new flows/s with 1M installed; peer: the same pipeline in plain TS',
    load: () => import('./net.js'),
  },
  hv: {
    describe:
      'Zero hypervisor: vsock stream and round trip vs a Unix socket, agent RPC round trip, host-agent CPU idle and with 100 VMs, VM create+start, 100 VMs and 1,000 containers up and down, timer-probe lateness alone / with a noisy neighbour / backends relocated',
    load: () => import('./hv.js'),
  },
  daemon: {
    describe: 'host daemon API over its Unix socket: GET /host and GET /metrics round trips, vs bare node:http',
    load: () => import('./daemon.js'),
  },
  dif: {
    describe: 'CRC-16/T10-DIF and T10 PI generate+verify, ours vs js-crc, plain JS',
    load: () => import('./dif.js'),
  },
};
