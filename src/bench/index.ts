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
  hv: {
    describe:
      'Zero hypervisor, vsock part: stream throughput and round trip to a guest thread vs a Unix socket, agent RPC round trip, host-agent CPU idle and with 100 VMs',
    load: () => import('./hv.js'),
  },
  dif: {
    describe: 'CRC-16/T10-DIF and T10 PI generate+verify, ours vs js-crc, plain JS',
    load: () => import('./dif.js'),
  },
};
