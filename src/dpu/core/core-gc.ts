import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let collect: Collect | null | undefined;

/**
 * A full, synchronous GC of the calling thread's V8 heap (a core's, on its own thread), or
 * nothing where V8 does not allow it. A core runs one after it compiled a kernel: compiling
 * allocates, and the marking V8 starts then would otherwise be finished at some later
 * interrupt check of the reactor's loop, which may be inside a hot-swap commit. Done here it
 * lands in the staging stall the core already takes. Node has no GC call of its own: the
 * `gc` function V8 exposes to new contexts once `--expose-gc` is set is what tools use.
 */
export function collectGarbage(): void {
  if (collect === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const fn: unknown = runInNewContext('gc');
      collect = typeof fn === 'function' ? (fn as Collect) : null;
    } catch {
      collect = null;
    }
  }
  collect?.({ type: 'major', execution: 'sync' });
}
