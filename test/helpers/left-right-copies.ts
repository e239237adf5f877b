import { instantiate, testKernel } from './kernels.js';

interface CopyExports {
  steps_copy_at(st: number, copy: number): number;
  steps_copy_bytes(st: number): number;
}

const byMemory = new WeakMap<WebAssembly.Memory, CopyExports>();

/**
 * The two Left-Right copies of a state region (a classifier's or a route table's: both keep the
 * control block of assembly/flow/left-right.ts; test/kernels/cls-steps.ts finds them).
 */
export function lrCopies(memory: WebAssembly.Memory, state: number): [Uint8Array, Uint8Array] {
  let k = byMemory.get(memory);
  if (!k) {
    k = instantiate(testKernel('cls-steps'), memory).exports as unknown as CopyExports;
    byMemory.set(memory, k);
  }
  const bytes = k.steps_copy_bytes(state);
  return [
    new Uint8Array(memory.buffer, k.steps_copy_at(state, 0), bytes),
    new Uint8Array(memory.buffer, k.steps_copy_at(state, 1), bytes),
  ];
}

/** True when the two copies hold the same bytes (as they must between updates). */
export function lrCopiesEqual(memory: WebAssembly.Memory, state: number): boolean {
  const [a, b] = lrCopies(memory, state);
  return Buffer.compare(a, b) === 0;
}
