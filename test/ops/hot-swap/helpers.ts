import { Host } from '../../../src/orchestrator/host.js';
import { generateSigningKey, signModule, type ModuleSignature } from '../../../src/ops/hot-swap/signature.js';
import { inspectKernel } from '../../../src/common/kernel-image.js';
import { familyKernel, testKernel } from '../../helpers/kernels.js';

export const MIB = 1 << 20;

/** A signed module: its bytes and a signature by `key`. */
export interface Signed {
  bytes: Uint8Array;
  signature: ModuleSignature;
}

export const signer = generateSigningKey();
export const stranger = generateSigningKey();

export function signed(bytes: Uint8Array, key = signer.privateKeyPem): Signed {
  let what = { name: '?', version: '?' }; // a module the loader refuses can still be signed
  try {
    what = inspectKernel(bytes, 16384, 'test').info;
  } catch {
    // keep the placeholder
  }
  return { bytes, signature: signModule(bytes, key, what) };
}

export const family = (name: string): Signed => signed(familyKernel(name));
export const test = (name: string): Signed => signed(testKernel(name));

export function bootHost(cores: number): Promise<Host> {
  return Host.boot({
    memory: { sizeBytes: 256 * MIB },
    dpu: { cores, mode: 'adaptive', idleSpinPolls: 256 },
    trustedKeys: [signer.publicKeyPem],
  });
}

/** Polls until `cond` holds (never a fixed sleep). */
export async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** The names of host memory regions of a kind, sorted (to compare before/after). */
export function regionNames(host: Host, kind?: string): string[] {
  return host.memory
    .regions()
    .filter((r) => kind === undefined || r.kind === kind)
    .map((r) => r.name)
    .sort();
}
