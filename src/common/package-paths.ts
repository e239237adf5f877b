import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The package root (the folder of qingtian's package.json), found from this file whether it
 * runs compiled (dist/src/common) or as source under a test runner (src/common).
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pj = join(dir, 'package.json');
    if (existsSync(pj) && (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'qingtian')
      return (root = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error('qingtian: package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** Compiled JS of a source file, e.g. distFile('src/dpu/core/reactor-worker.js'). Workers always run compiled code. */
export function distFile(rel: string): string {
  return join(packageRoot(), 'dist', rel);
}

/** A built kernel family: build/kernels/<name>.wasm. */
export function kernelFile(name: string): string {
  return join(packageRoot(), 'build', 'kernels', `${name}.wasm`);
}

/**
 * A release of a kernel family (another version of its module, to hot-swap in):
 * build/releases/<name>-<version>.wasm.
 */
export function releaseFile(name: string, version: string): string {
  return join(packageRoot(), 'build', 'releases', `${name}-${version}.wasm`);
}
