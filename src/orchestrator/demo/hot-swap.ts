import { readFileSync } from 'node:fs';
import { kernelFile, releaseFile } from '../../common/package-paths.js';
import { inspectKernel } from '../../common/kernel-image.js';
import { AuditedTraffic } from '../../ops/hot-swap/audited-traffic.js';
import { generateSigningKey, signModule } from '../../ops/hot-swap/signature.js';
import { sleep, type DemoChapter } from './demo-context.js';

const SWAPS = 10;

/**
 * Chapter "hot swap": a guest keeps its virtio loopback ring full while the virtio module on
 * the DPU core is swapped 1.0.0 → 1.1.0 → 1.0.0 … (both signed with a key made for the demo
 * and trusted by this host); every request is audited: exactly once, stamped with the version
 * that served it.
 */
export const hotSwap: DemoChapter = {
  title: 'hot swap: the virtio kernel replaced on a live DPU core, mid-traffic, nothing lost',
  async run({ host, say, record }) {
    const key = generateSigningKey();
    host.swaps.trust(key.publicKeyPem);
    const mods = [releaseFile('virtio', '1.1.0'), kernelFile('virtio')].map((path) => {
      const bytes = readFileSync(path);
      return { bytes, signature: signModule(bytes, key.privateKeyPem, inspectKernel(bytes, 16384, path).info) };
    });
    await host.loadKernel('virtio');
    const traffic = await AuditedTraffic.create({
      memory: host.memory,
      runtime: host.runtime,
      core: host.dpu.core(0),
      name: 'vm3',
      maxRequests: 1 << 27,
    });
    try {
      say(
        `an Ed25519 key ${key.keyId} made and trusted by this host; virtio 1.0.0 and 1.1.0 signed with it; guest vm3 keeps a loopback ring full on DPU core 0 (its vCPU sleeping on its interrupt when it has nothing to reap), each response stamped with the version that served it`,
      );
      traffic.start(600_000, { guestSleeps: true });
      await sleep(200);
      const pauses: number[] = [];
      const wholes: number[] = [];
      for (let i = 0; i < SWAPS; i++) {
        const m = mods[i % 2]!;
        const r = await host.hotSwap('virtio', m.bytes, { signature: m.signature, graceMs: 0 });
        await r.settled;
        pauses.push(r.cores[0]!.pauseNs / 1000);
        wholes.push(r.swapMs);
        if (i === 0) {
          say(
            `swap 1: ${r.from} → ${r.to}: signature and checks ${r.verifyMs.toFixed(2)} ms, staged on the core ${r.stageMs.toFixed(2)} ms, ` +
              `self-test on shadow data ${r.selfTestMs.toFixed(2)} ms, committed at the core's burst boundary: pause ${pauses[0]!.toFixed(1)} µs`,
          );
        }
        await sleep(40);
      }
      const rep = await traffic.stop();
      pauses.sort((a, b) => a - b);
      wholes.sort((a, b) => a - b);
      const p50 = (xs: number[]): number => xs[xs.length >> 1]!;
      const served = Object.entries(rep.byVersion)
        .map(([v, n]) => `${v}: ${n}`)
        .join(', ');
      say(
        `${SWAPS} swaps, 1.0.0 ↔ 1.1.0: per-core pause p50 ${p50(pauses).toFixed(1)} µs, max ${pauses.at(-1)!.toFixed(1)} µs; whole swap (stage + self-test + commit) p50 ${p50(wholes).toFixed(2)} ms`,
      );
      say(
        `traffic: ${rep.added} requests (${(rep.rate / 1e6).toFixed(2)} M/s), served by ${served}; ${rep.transitions.length - 1} changes of version seen by the guest; lost ${rep.lost}, duplicated ${rep.duplicates}, wrong ${rep.wrong}`,
      );
      record(
        'hot swap of the virtio kernel mid-traffic',
        `${SWAPS} swaps: pause p50 ${p50(pauses).toFixed(1)} µs (max ${pauses.at(-1)!.toFixed(0)} µs), whole swap p50 ${p50(wholes).toFixed(1)} ms; ${rep.lost} lost / ${rep.duplicates} duplicated of ${rep.added}`,
      );
    } finally {
      await traffic.close();
    }
  },
};
