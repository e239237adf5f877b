import { ErrorCode, QingtianError } from '../common/errors.js';
import type { LoadedKernel } from '../dpu/kernels/kernel-loader.js';

/**
 * The layout constants a kernel exports (offsets, sizes, flags), by name. The AssemblyScript
 * layout files are the one source of truth; TS never keeps its own copy of an offset.
 */
export class KernelLayout {
  private readonly values = new Map<string, number>();

  constructor(kernel: LoadedKernel) {
    for (const name of kernel.info.exports) {
      const g = kernel.instance.exports[name];
      if (g instanceof WebAssembly.Global) this.values.set(name, Number(g.value));
    }
  }

  /** The constant `name`; a name the kernel does not export is a programming error. */
  get(name: string): number {
    const v = this.values.get(name);
    if (v === undefined)
      throw new QingtianError(ErrorCode.NotFound, `kernel layout has no constant '${name}'`, { name });
    return v;
  }
}
