import { Host } from '../host.js';
import { bootFromHostFile } from '../daemon/host-file-boot.js';
import type { DemoChapter, DemoContext } from './demo-context.js';
import { congestionControl } from './congestion-control.js';
import { dpuRuntime } from './dpu-runtime.js';
import { erasureDif } from './erasure-dif.js';
import { flowLookups } from './flow-lookups.js';
import { hotSwap } from './hot-swap.js';
import { network } from './network.js';
import { hostAgent } from './host-agent.js';
import { virtioLoopback } from './virtio-loopback.js';
import { vmDevices } from './vm-devices.js';
import { vmGuestDrivers } from './vm-guest-drivers.js';
import { volumes } from './volumes.js';

/** The chapters of `qingtian demo`, in order. Each capability adds its chapter here when it lands. */
export const CHAPTERS: readonly DemoChapter[] = [
  dpuRuntime,
  virtioLoopback,
  network,
  vmDevices,
  vmGuestDrivers,
  hostAgent,
  hotSwap,
  flowLookups,
  erasureDif,
  volumes,
  congestionControl,
];

export interface DemoOptions {
  seconds: number;
  out?: NodeJS.WritableStream;
  /** Bring the host to this host file first (a daemon of its own applies it, as `qingtian up` would). */
  hostFile?: string | undefined;
}

/** Boots a host on embedded defaults, runs every chapter, prints the report, shuts down. */
export async function runDemo(o: DemoOptions): Promise<void> {
  const out = o.out ?? process.stdout;
  const started = performance.now();
  const rows: [string, string][] = [];
  const fromFile = o.hostFile ? await bootFromHostFile(o.hostFile) : null;
  const host = fromFile?.host ?? (await Host.boot());
  if (fromFile) {
    out.write(`host file ${o.hostFile}: ${fromFile.changes.length} change(s) applied\n`);
    for (const c of fromFile.changes) out.write(`  ${c.op} ${c.what}: ${c.detail}\n`);
    // The chapters build their own guests, networks and jobs: they get the file's host to themselves.
    out.write(`taken down again for the chapters: ${(await fromFile.down()).length} change(s)\n`);
  }
  const cores = host.dpu.cores.length;
  const snap = host.snapshot();
  out.write(
    `qingtian demo — a DPU-offloaded host\n` +
      `booted: ${snap.memory.totalBytes >> 20} MiB host memory (one shared WebAssembly.Memory), ` +
      `${host.dpu.cores.length} DPU core(s) as long-lived reactors on Piscina workers, mode ${host.dpu.cores[0]!.mode()}\n`,
  );
  try {
    for (const [i, chapter] of CHAPTERS.entries()) {
      out.write(`\n[${i + 1}/${CHAPTERS.length}] ${chapter.title}\n`);
      const ctx: DemoContext = {
        host,
        seconds: o.seconds,
        say: (line) => out.write(`  ${line}\n`),
        record: (what, figure) => rows.push([what, figure]),
      };
      await chapter.run(ctx);
    }
  } finally {
    await (fromFile ? fromFile.close() : host.shutdown());
  }
  const w = Math.max(...rows.map(([a]) => a.length));
  out.write(`\nreport (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  for (const [what, figure] of rows) out.write(`  ${what.padEnd(w)}  ${figure}\n`);
  // What shutdown() is checked to have done: it resolved (every core acknowledged its stop and
  // the worker pool was destroyed), and no core's control region is left in host memory.
  const left = host.memory.stats().byKind['core-control']?.count ?? 0;
  out.write(
    left === 0
      ? `host shut down: ${cores} DPU core(s) stopped, their worker pool destroyed, no core control region left\n`
      : `host shut down, but ${left} core control region(s) are still allocated\n`,
  );
}
