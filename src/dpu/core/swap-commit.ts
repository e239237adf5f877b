import type { CoreJob, CoreKernels, CoreKernel, JobFn } from './core-kernels.js';
import { Status } from './core-protocol.js';

/** How to bring a job's state to another kernel's layout: `name(state, from, to)` of `kernel`. */
export interface Transform {
  kernel: CoreKernel;
  name: string;
  from: number;
  to: number;
}

/** What a commit answers: its status, why it failed, when the jobs were re-pointed and how many moved. */
export interface SwapOutcome {
  status: number;
  message: string;
  /** The clock's reading as the last job was re-pointed (0 when refused). */
  doneNs: number;
  moved: number;
}

/**
 * The commit of a hot swap on one core. It runs between passes, so no burst of any job is in
 * flight: each job of `fromKey` is re-pointed at the same-named entries of `toKey` (the new
 * version's function table), after the state transform, if any, converted its state in place.
 * All or nothing: an entry missing in `to` or a transform refusing one job's state leaves
 * every job as it was (the states already converted are converted back first). The arguments
 * after `coreId` are the SwapKernel command's (core-protocol.ts); `now` is read as soon as the
 * jobs are re-pointed. Without a transform nothing is allocated before that reading, so a GC
 * cannot land inside the pause.
 */
export function commitSwap(
  kernels: CoreKernels,
  jobs: readonly CoreJob[],
  coreId: number,
  fromKey: number,
  toKey: number,
  transform: number,
  layouts: number,
  now: () => number,
): SwapOutcome {
  const from = kernels.get(fromKey);
  const to = kernels.get(toKey);
  if (!from || !to)
    return refused(Status.NoSuchKernel, `kernel #${from ? toKey : fromKey} is not loaded on core ${coreId}`);
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    if (job.kernel !== from) continue;
    const fn = to.fns.get(job.entry);
    const armFn = job.arm === null ? null : to.fns.get(job.arm);
    if (typeof fn !== 'function' || (job.arm !== null && typeof armFn !== 'function')) {
      return refused(
        Status.NoSuchEntry,
        `kernel #${toKey} lacks ${typeof fn !== 'function' ? job.entry : job.arm}, used by job #${job.id}`,
      );
    }
  }
  let back: Transform | null = null;
  if (transform >= 0) {
    const holder = (transform & 1) === 1 ? from : to;
    const name = holder.exportNames[transform >> 1];
    if (name === undefined || !holder.fns.has(name))
      return refused(Status.NoSuchEntry, `kernel #${holder.key} has no function export #${transform >> 1}`);
    const fwd: Transform = { kernel: holder, name, from: layouts & 0xffff, to: layouts >>> 16 };
    back = { kernel: holder, name, from: fwd.to, to: fwd.from };
    const moving = jobs.filter((j) => j.kernel === from);
    for (let i = 0; i < moving.length; i++) {
      const err = transformState(kernels, jobs, fwd, moving[i]!.state);
      if (err === '') continue;
      for (let k = i - 1; k >= 0; k--) transformState(kernels, jobs, back, moving[k]!.state);
      return refused(
        Status.TransformFailed,
        `state transform ${name}(${fwd.from} → ${fwd.to}) of job #${moving[i]!.id}: ${err}`,
      );
    }
  }
  let moved = 0;
  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    if (job.kernel !== from) continue;
    job.prev = from;
    job.back = back;
    job.kernel = to;
    job.fn = to.fns.get(job.entry)!;
    job.armFn = job.arm === null ? null : to.fns.get(job.arm)!;
    moved++;
  }
  const doneNs = now();
  return { status: Status.Ok, message: '', doneNs, moved };
}

function refused(status: number, message: string): SwapOutcome {
  return { status, message, doneNs: 0, moved: 0 };
}

/**
 * Puts a swapped job back on its previous kernel (state transformed back first): the hot-swap
 * rollback of a job that failed on its new kernel. '' or why not.
 */
export function fallBack(kernels: CoreKernels, jobs: readonly CoreJob[], job: CoreJob): string {
  const prev = job.prev!;
  const fn = prev.fns.get(job.entry);
  const armFn = job.arm === null ? null : prev.fns.get(job.arm);
  if (typeof fn !== 'function' || (job.arm !== null && typeof armFn !== 'function'))
    return `kernel #${prev.key} lacks the job's entries`;
  if (job.back) {
    const err = transformState(kernels, jobs, job.back, job.state);
    if (err) return `state transform back: ${err}`;
  }
  job.kernel = prev;
  job.fn = fn;
  job.armFn = armFn as JobFn | null;
  job.prev = null;
  job.back = null;
  return '';
}

/** Runs a transform export on one state region; '' or why it failed (a trap renews the holder's instance). */
function transformState(kernels: CoreKernels, jobs: readonly CoreJob[], t: Transform, state: number): string {
  try {
    const status = (t.kernel.fns.get(t.name) as unknown as (s: number, from: number, to: number) => number)(
      state,
      t.from,
      t.to,
    );
    return status === 0 ? '' : `returned ${status}`;
  } catch (e) {
    const err = kernels.instantiate(t.kernel, jobs);
    return `trapped: ${e instanceof Error ? e.message : String(e)}${err ? `; re-instantiation failed: ${err}` : ''}`;
  }
}
