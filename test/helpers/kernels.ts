import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, kernelFile } from '../../src/common/package-paths.js';

/** Bytes of a test-only kernel built from test/kernels/<name>.ts. */
export function testKernel(name: string): Uint8Array {
  return readFileSync(join(packageRoot(), 'build', 'test-kernels', `${name}.wasm`));
}

/** Bytes of a production kernel family. */
export function familyKernel(name: string): Uint8Array {
  return readFileSync(kernelFile(name));
}

/** A plain instance of a kernel over `memory`, for calling exports directly from a test. */
export function instantiate(bytes: Uint8Array, memory: WebAssembly.Memory): WebAssembly.Instance {
  return new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(bytes)), { env: { memory } });
}

/** Polls `cond` until it holds (a test never sleeps on a fixed delay to "let things happen"). */
export async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
