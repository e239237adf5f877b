import { basename } from 'node:path';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import { inspectKernel } from '../../common/kernel-image.js';
import { Host } from '../../orchestrator/host.js';
import { AuditedTraffic, type TrafficReport } from '../../ops/hot-swap/audited-traffic.js';
import type { CommittedEvent, StagedEvent, SwapOutcome } from '../../ops/hot-swap/events.js';
import { readFileOrFail } from './keys.js';

export interface HotswapCliOptions {
  sig: string;
  trust: string[];
  seconds: number;
  graceMs: number;
  cores: number;
  guest: string;
  json?: boolean;
}

const MIB = 1 << 20;

/**
 * `qingtian hotswap <module.wasm> --sig <file> --trust <pub>`: there is no long-running qingtian
 * daemon yet, so the command boots a host of its own, runs audited virtio loopback traffic on
 * every DPU core (a guest per core), swaps the running virtio module for the signed one in the
 * middle of it, watches the grace window, and reports the pause, the timings, which version
 * served how many requests, and whether any request was lost or duplicated.
 * Exit status: 0 swapped and nothing lost; 1 a request was lost, duplicated or wrong; 3 the new
 * version was rolled back; 2 refused (the error's code on stderr).
 */
export async function hotswapCommand(modulePath: string, o: HotswapCliOptions): Promise<void> {
  if (o.guest !== 'irq' && o.guest !== 'spin')
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `hotswap --guest: expected 'irq' or 'spin', got ${JSON.stringify(o.guest)}`,
    );
  const bytes = readFileOrFail(modulePath, 'module');
  const signature = readFileOrFail(o.sig, 'signature').toString('utf8');
  const trustedKeys = o.trust.map((p) => readFileOrFail(p, 'trusted key').toString('utf8'));
  let name: string;
  try {
    name = inspectKernel(bytes, 16384, basename(modulePath)).info.name;
  } catch {
    name = 'virtio'; // the host's own checks refuse it below, with the reason
  }
  if (name !== 'virtio') {
    throw new QingtianError(
      ErrorCode.SwapRefused,
      `hotswap: ${basename(modulePath)} is a version of '${name}'; this command's host runs virtio loopback traffic, so it swaps 'virtio' modules (swap any module with host.hotSwap from the SDK)`,
    );
  }
  const say = (line: string): void => {
    if (!o.json) process.stdout.write(`${line}\n`);
  };
  const host = await Host.boot({ memory: { sizeBytes: 1024 * MIB }, dpu: { cores: o.cores }, trustedKeys });
  // One audit bit per request: room for ~20 M requests/s per guest, at most 2^28 (32 MiB of guest RAM).
  const maxRequests = Math.min(2 ** 28, Math.max(2 ** 24, Math.ceil(o.seconds * 20e6)));
  const traffic: AuditedTraffic[] = [];
  try {
    await host.loadKernel('virtio');
    for (const core of host.dpu.cores)
      traffic.push(
        await AuditedTraffic.create({
          memory: host.memory,
          runtime: host.runtime,
          core,
          name: `vm${core.id}`,
          maxRequests,
        }),
      );
    say(
      `host: ${host.dpu.cores.length} DPU core(s), virtio ${host.swaps.liveVersion('virtio')!.info.version} live; a guest per core keeps its loopback ring full ` +
        `(${o.guest === 'irq' ? 'sleeping on its interrupt when it has nothing to reap' : 'spinning on its ring'}), every request audited`,
    );
    const staged: StagedEvent[] = [];
    const commits: CommittedEvent[] = [];
    host.swaps.on('staged', (e) => staged.push(e));
    host.swaps.on('committed', (e) => commits.push(e));
    for (const t of traffic) t.start(600_000, { guestSleeps: o.guest === 'irq' });
    await sleep((o.seconds * 1000) / 2);
    const r = await host.hotSwap('virtio', bytes, { signature, graceMs: o.graceMs });
    say(
      `verified: signed by key ${r.signer}, ${r.name} ${r.from} → ${r.to} (sha256 ${r.sha256.slice(0, 16)}…) in ${r.verifyMs.toFixed(2)} ms`,
    );
    say(
      `staged on every core in ${r.stageMs.toFixed(2)} ms (per core: ${r.coreLoadNs.map((n) => `${(n / 1000).toFixed(0)} µs`).join(', ')} to compile), self-test on shadow data passed in ${r.selfTestMs.toFixed(2)} ms`,
    );
    for (const c of commits)
      say(
        `committed on core ${c.coreId} at its burst boundary: pause ${(c.pauseNs / 1000).toFixed(1)} µs, ${c.jobs} job(s) moved`,
      );
    say(`whole swap (stage + self-test + commit): ${r.swapMs.toFixed(2)} ms; grace window ${o.graceMs} ms…`);
    const outcome: SwapOutcome = await r.settled;
    say(
      outcome.outcome === 'kept'
        ? `kept: ${r.to} serves; ${r.from} unloaded, its image slot freed`
        : `${outcome.outcome}: ${outcome.reason}`,
    );
    await sleep((o.seconds * 1000) / 2);
    const reports: TrafficReport[] = [];
    for (const t of traffic) reports.push(await t.stop());
    const total = sum(reports, (x) => x.added);
    const lost = sum(reports, (x) => x.lost);
    const dup = sum(reports, (x) => x.duplicates);
    const wrong = sum(reports, (x) => x.wrong);
    const byVersion: Record<string, number> = {};
    for (const x of reports) for (const [v, n] of Object.entries(x.byVersion)) byVersion[v] = (byVersion[v] ?? 0) + n;
    const rate = sum(reports, (x) => x.rate);
    const unaudited = sum(reports, (x) => x.unaudited);
    say(
      `traffic: ${total} requests at ${(rate / 1e6).toFixed(2)} M/s; served by ${Object.entries(byVersion)
        .map(([v, n]) => `${v}: ${n}`)
        .join(', ')}; lost ${lost}, duplicated ${dup}, wrong ${wrong}` +
        (unaudited ? ` (${unaudited} requests past the audit's capacity were not checked for duplicates)` : ''),
    );
    if (o.json) {
      const { settled: _settled, ...report } = r;
      process.stdout.write(
        JSON.stringify({
          swap: report,
          outcome,
          staged: staged[0] ?? null,
          traffic: { requests: total, rate, byVersion, lost, duplicated: dup, wrong, unaudited },
        }) + '\n',
      );
    }
    process.exitCode = lost + dup + wrong > 0 ? 1 : outcome.outcome === 'kept' ? 0 : 3;
  } finally {
    for (const t of traffic) await t.close().catch(() => undefined);
    await host.shutdown();
  }
}

function sum<T>(xs: T[], f: (x: T) => number): number {
  return xs.reduce((a, x) => a + f(x), 0);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
