#!/usr/bin/env node
// The qingtian CLI. The TypeScript is compiled to dist/ by `npm install` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';

// Relaxed SIMD (a bare PSHUFB for the erasure-coding and CRC kernels' table lookups, where the
// portable swizzle needs two more instructions) is standard from V8 11.4 (Node 21+). Node 20's V8
// has it behind a flag; turn it on here, before any WebAssembly is compiled, unless
// QINGTIAN_SIMD=portable asks for the portable kernels. Library users on Node 20 get the portable
// kernels unless they pass --experimental-wasm-relaxed-simd themselves.
const [v8Major, v8Minor] = process.versions.v8.split('.').map(Number);
if (process.env.QINGTIAN_SIMD !== 'portable' && (v8Major < 11 || (v8Major === 11 && v8Minor < 4))) {
  setFlagsFromString('--experimental-wasm-relaxed-simd');
}

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('qingtian: dist/ is missing; run `npm install` or `npm run build` first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
