import { LoaderRuntime, setDefaultRuntimeFactory } from '../dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../memory/host-memory.js';

/**
 * The standalone runtime for kernel library APIs used without a Host: a private 1 GiB host
 * memory (address space is reserved, pages are committed only when touched) and its own loader.
 */
export const STANDALONE_MEMORY_BYTES = 1 << 30;

setDefaultRuntimeFactory(() => new LoaderRuntime(new HostMemory({ sizeBytes: STANDALONE_MEMORY_BYTES })));
