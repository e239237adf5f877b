#!/usr/bin/env node
// Builds qingtian's optional native helper (native/huge-pages: madvise of host memory onto
// 2 MiB pages) with node-gyp, at `npm install`. Optional: on another OS, or without a C++
// toolchain, it prints why and exits 0; qingtian then keeps host memory on 4 KiB pages and says
// so (HostMemory.hugePages, the bench's machine line).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../native/huge-pages', import.meta.url));

function skip(reason) {
  process.stderr.write(`qingtian: huge-page helper not built (${reason}); host memory stays on 4 KiB pages\n`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`${process.platform} has no transparent huge pages`);
if (process.env.QT_NO_NATIVE) skip('QT_NO_NATIVE is set');
// npm hands its own node-gyp to install scripts; outside npm, look for one on PATH.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
const r = spawnSync(cmd, [...args, 'rebuild', '--release'], {
  cwd: dir,
  stdio: ['ignore', 'ignore', 'pipe'],
  encoding: 'utf8',
});
if (r.error) skip(`${cmd}: ${r.error.message}`);
if (r.status !== 0)
  skip(`node-gyp exited with ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
process.stderr.write('qingtian: huge-page helper built (native/huge-pages)\n');
