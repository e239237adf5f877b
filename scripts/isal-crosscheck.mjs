#!/usr/bin/env node
// Optional cross-check against Intel ISA-L itself (not part of `npm test`: it needs libisal-dev
// and a C compiler). Compiles scripts/isal-crosscheck.c, then compares, on seeded random data:
// ReedSolomon 'isal-cauchy' and 'isal-rs' parity with ec_encode_data over a grid of sizes, and
// crc16t10dif with crc16_t10dif over many lengths and seeds. Run after `npm run build`:
//   node --experimental-wasm-relaxed-simd scripts/isal-crosscheck.mjs
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = fileURLToPath(new URL('..', import.meta.url));
const { ReedSolomon, crc16t10dif, isalRsMaxDataShards, relaxedSimdSupported } = await import(
  join(root, 'dist', 'src', 'index.js')
);
const bin = join(mkdtempSync(join(tmpdir(), 'isal-')), 'isal-crosscheck');
execFileSync('cc', ['-O2', '-o', bin, join(root, 'scripts', 'isal-crosscheck.c'), '-lisal'], { stdio: 'inherit' });

const child = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
async function ask(cmd) {
  child.stdin.write(cmd + '\n');
  return (await lines.next()).value;
}
function fill(n, x) {
  const p = new Uint8Array(n);
  x = x >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    p[i] = x & 0xff;
  }
  return p;
}

let seed = 1;
const rnd = (n) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
let cases = 0,
  bad = 0;
const flavours = relaxedSimdSupported() ? ['portable', 'relaxed'] : ['portable'];
for (const matrix of ['isal-cauchy', 'isal-rs']) {
  const sizes = [];
  for (let k = 1; k <= 24; k++) for (let m = 1; m <= 8; m++) sizes.push([k, m]);
  sizes.push([100, 50], [200, 55], [128, 127], [32, 4], [21, 4], [5, 5], [4, 21]);
  for (const [k, m] of sizes) {
    if (matrix === 'isal-rs' && k > isalRsMaxDataShards(m)) continue;
    const len = [1, 15, 16, 31, 33, 64, 100, 1000, 4096, 65537][rnd(10)];
    const s = rnd(1 << 30);
    const want = await ask(`rs ${matrix === 'isal-cauchy' ? 'cauchy' : 'rs'} ${k} ${m} ${len} ${s}`);
    for (const simd of flavours) {
      const rs = new ReedSolomon({ dataShards: k, parityShards: m, matrix, simd });
      const data = Array.from({ length: k }, (_, i) => fill(len, (Math.imul(s, 7919) + i + 1) >>> 0));
      const got = rs
        .encode(data)
        .map((p) => Buffer.from(p).toString('hex'))
        .join('');
      rs.dispose();
      cases++;
      if (got !== want) {
        bad++;
        console.log(`MISMATCH ${matrix} ${k}+${m} len ${len} (${simd})`);
      }
    }
  }
}
for (let i = 0; i < 2000; i++) {
  const len = i < 300 ? i : rnd(70000);
  const s = rnd(1 << 30),
    init = rnd(65536);
  const want = parseInt(await ask(`crc ${len} ${s} ${init}`), 16);
  for (const simd of flavours) {
    cases++;
    if (crc16t10dif(fill(len, s), init, { simd }) !== want) {
      bad++;
      console.log(`MISMATCH crc len ${len} init ${init} (${simd})`);
    }
  }
}
child.stdin.end();
console.log(`isal-crosscheck: ${cases} cases, ${bad} mismatches`);
process.exit(bad ? 1 : 0);
