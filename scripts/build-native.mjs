#!/usr/bin/env node
// Builds qingtian's optional native helpers at `npm install`:
//  - native/huge-pages (madvise of host memory onto 2 MiB pages), with node-gyp;
//  - native/disk-io (the storage I/O worker's mapped-file copies and io_uring), with plain gcc
//    against the N-API headers of the Node that runs this script (no download).
// Both are optional: on another OS, or without a toolchain, this prints why and exits 0; qingtian
// then keeps host memory on 4 KiB pages (HostMemory.hugePages) and reads and writes disk files
// with synchronous preads and pwrites (the volume's `diskIo`, the bench's I/O choice).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

function say(line) {
  process.stderr.write(`qingtian: ${line}\n`);
}

function hugePages() {
  const skip = (reason) => say(`huge-page helper not built (${reason}); host memory stays on 4 KiB pages`);
  if (process.platform !== 'linux') return skip(`${process.platform} has no transparent huge pages`);
  if (process.env.QT_NO_NATIVE) return skip('QT_NO_NATIVE is set');
  // npm hands its own node-gyp to install scripts; outside npm, look for one on PATH.
  const gyp = process.env.npm_config_node_gyp;
  const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
  const r = spawnSync(cmd, [...args, 'rebuild', '--release'], {
    cwd: join(root, 'native', 'huge-pages'),
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  });
  if (r.error) return skip(`${cmd}: ${r.error.message}`);
  if (r.status !== 0)
    return skip(`node-gyp exited with ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  say('huge-page helper built (native/huge-pages)');
}

/** The directory holding node_api.h for this Node: beside its binary, or the distribution's. */
function napiHeaders() {
  const candidates = [
    process.env.QT_NODE_INCLUDE,
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/include/node',
    '/usr/local/include/node',
  ];
  return candidates.find((d) => d && existsSync(join(d, 'node_api.h')));
}

function diskIo() {
  const skip = (reason) => say(`disk I/O helper not built (${reason}); volumes use synchronous preads and pwrites`);
  if (process.platform !== 'linux') return skip(`${process.platform}: the helper is Linux only`);
  if (process.env.QT_NO_NATIVE) return skip('QT_NO_NATIVE is set');
  const include = napiHeaders();
  if (!include) return skip('no node_api.h found (set QT_NODE_INCLUDE to the directory holding it)');
  const dir = join(root, 'native', 'disk-io');
  mkdirSync(join(dir, 'build'), { recursive: true });
  const cc = process.env.CC || 'gcc';
  const r = spawnSync(
    cc,
    ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-I', include, '-o', 'build/qt_disk_io.node', 'disk-io.c'],
    { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' },
  );
  if (r.error) return skip(`${cc}: ${r.error.message}`);
  if (r.status !== 0)
    return skip(`${cc} exited with ${r.status}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
  say('disk I/O helper built (native/disk-io)');
}

hugePages();
diskIo();
