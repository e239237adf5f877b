import { createRequire } from 'node:module';
import { crc16t10dif, crc16t10difAt } from '../dpu/dif/crc16.js';
import { T10Dif } from '../dpu/dif/t10-dif.js';
import { relaxedSimdSupported } from '../dpu/kernels/kernel-flavour.js';
import { LoaderRuntime } from '../dpu/kernels/kernel-runtime.js';
import { DIF_PI_BYTES } from '../generated/dif.js';
import { HostMemory } from '../memory/host-memory.js';
import type { BenchContext } from './lib/report.js';
import { median } from './lib/stats.js';
import { rateSync, sampleAll } from './lib/throughput.js';
import { jsCrc16, jsDifGenerate, jsDifVerify } from './peers/js-t10-pi.js';

/**
 * Suite "dif": CRC-16/T10-DIF and T10 PI generate + verify, single thread, GB/s of data,
 * medians over ctx.runs interleaved runs. Peers, measured in the same run:
 *   js-crc (npm)       CRC-16/T10-DIF model of the js-crc package (byte-wise table)
 *   plain-js table     byte-wise table CRC and DataView PI (src/bench/peers/js-t10-pi.ts)
 *   slice-by-16 Wasm   our kernel's own scalar path (dif_crc16_scalar): what the SIMD lanes replace
 */
const require = createRequire(import.meta.url);

function fill(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

export async function run(ctx: BenchContext): Promise<void> {
  const ms = ctx.quick ? 60 : 250;
  const mem = new HostMemory({ sizeBytes: 64 << 20 });
  const runtime = new LoaderRuntime(mem);
  const flavours = relaxedSimdSupported() ? (['relaxed', 'portable'] as const) : (['portable'] as const);
  let jsCrc: ((d: Uint8Array) => string) | null = null;
  try {
    jsCrc = (require('js-crc/models') as { crc_16_t10_dif: (d: Uint8Array) => string }).crc_16_t10_dif;
  } catch (e) {
    ctx.progress(`peer js-crc unavailable: ${(e as Error).message}`);
  }
  const region = mem.alloc({ name: 'bench:dif', owner: 'bench', kind: 'guest-ram', sizeBytes: 4 << 20 });

  for (const [name, len, target] of [
    ['crc16-64KiB', 64 << 10, 2],
    ['crc16-4KiB', 4 << 10, undefined],
  ] as const) {
    const data = fill(len, 7);
    mem.u8.set(data, region.base);
    const want = jsCrc16(data);
    const samplers: Record<string, () => number> = {};
    for (const simd of flavours) {
      const opt = { runtime, simd };
      if (crc16t10dif(data, 0, opt) !== want || crc16t10difAt(region.base, len, 0, opt) !== want)
        throw new Error('crc check failed');
      samplers[`zc-${simd}`] = () => rateSync(() => crc16t10difAt(region.base, len, 0, opt), len, ms);
      samplers[`copy-${simd}`] = () => rateSync(() => crc16t10dif(data, 0, opt), len, ms);
    }
    const scalar = runtime.kernel('dif').fn<(s: number, p: number, n: number) => number>('dif_crc16_scalar');
    samplers['slice16'] = () => rateSync(() => scalar(0, region.base, len), len, ms);
    samplers['plain-js'] = () => rateSync(() => jsCrc16(data), len, ms);
    if (jsCrc) {
      const f = jsCrc;
      if (parseInt(f(data), 16) !== want) throw new Error('js-crc disagrees');
      samplers['js-crc'] = () => rateSync(() => f(data), len, ms);
    }
    ctx.progress(`${name}: warming up`);
    await sampleAll(1, samplers);
    const s = await sampleAll(ctx.runs, samplers);
    const med = (k: string): number => median(s[k]!);
    const best = flavours[0];
    for (const f of flavours) {
      const t = f === best && target !== undefined ? { target } : {};
      ctx.report({
        case: name,
        metric: `zero-copy (${f} kernels)`,
        value: med(`zc-${f}`),
        unit: 'GB/s',
        better: 'higher',
        peer: { name: 'plain-js table', value: med('plain-js') },
        ...t,
      });
      ctx.report({
        case: name,
        metric: `Uint8Array API, copies (${f} kernels)`,
        value: med(`copy-${f}`),
        unit: 'GB/s',
        better: 'higher',
        peer: { name: 'plain-js table', value: med('plain-js') },
        ...t,
      });
    }
    if (s['js-crc'])
      ctx.report({
        case: name,
        metric: `zero-copy (${best})`,
        value: med(`zc-${best}`),
        unit: 'GB/s',
        better: 'higher',
        peer: { name: 'js-crc (npm)', value: med('js-crc') },
      });
    ctx.report({
      case: name,
      metric: `zero-copy (${best})`,
      value: med(`zc-${best}`),
      unit: 'GB/s',
      better: 'higher',
      peer: { name: 'slice-by-16 Wasm (ours, scalar)', value: med('slice16') },
    });
  }

  for (const [bs, blocks, target] of [
    [4096, 64, 1.5],
    [512, 256, undefined],
  ] as const) {
    const name = `generate+verify-${bs}B-blocks`;
    const unit = bs + DIF_PI_BYTES;
    const bytes = bs * blocks;
    const buf = new Uint8Array(unit * blocks);
    for (let i = 0; i < blocks; i++) buf.set(fill(bs, i + 1), i * unit);
    mem.u8.set(buf, region.base);
    const jsBuf = buf.slice();
    const samplers: Record<string, () => number> = {};
    for (const simd of flavours) {
      const dif = new T10Dif({
        blockSize: bs,
        type: 1,
        refTag: 1000,
        appTag: 0x42,
        checks: { appTag: true },
        runtime,
        simd,
      });
      dif.generate(buf);
      if (!dif.verify(buf).ok) throw new Error('dif check failed');
      samplers[`zc-${simd}`] = () =>
        rateSync(
          () => {
            dif.generateAt(region.base, blocks);
            if (!dif.verifyAt(region.base, blocks).ok) throw new Error('verify failed');
          },
          bytes,
          ms,
        );
      samplers[`copy-${simd}`] = () =>
        rateSync(
          () => {
            dif.generate(buf);
            if (!dif.verify(buf).ok) throw new Error('verify failed');
          },
          bytes,
          ms,
        );
    }
    samplers['plain-js'] = () =>
      rateSync(
        () => {
          jsDifGenerate(jsBuf, bs, 0x42, 1000);
          if (jsDifVerify(jsBuf, bs, 1000) >= 0) throw new Error('plain-js verify failed');
        },
        bytes,
        ms,
      );
    ctx.progress(`${name}: warming up`);
    await sampleAll(1, samplers);
    const s = await sampleAll(ctx.runs, samplers);
    if (!Buffer.from(jsBuf).equals(buf)) throw new Error('plain-js PI differs from ours');
    for (const f of flavours) {
      const t = f === flavours[0] && target !== undefined ? { target } : {};
      ctx.report({
        case: name,
        metric: `zero-copy (${f} kernels)`,
        value: median(s[`zc-${f}`]!),
        unit: 'GB/s',
        better: 'higher',
        peer: { name: 'plain-js table', value: median(s['plain-js']!) },
        ...t,
      });
      ctx.report({
        case: name,
        metric: `Uint8Array API, copies (${f} kernels)`,
        value: median(s[`copy-${f}`]!),
        unit: 'GB/s',
        better: 'higher',
        peer: { name: 'plain-js table', value: median(s['plain-js']!) },
        ...t,
      });
    }
  }
  mem.free(region, 'bench');
}
