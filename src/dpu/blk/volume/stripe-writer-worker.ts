import { workerData } from 'node:worker_threads';
import type { HostMemoryApi } from '../../../common/host-memory-api.js';
import { SubMemory } from '../../../memory/sub-memory.js';
import { ReedSolomon } from '../../ec/reed-solomon.js';
import { LoaderRuntime } from '../../kernels/kernel-runtime.js';
import { DiskSet } from './disk-set.js';
import { Geometry } from './geometry.js';
import {
  claimJob,
  DISK_STATE_CODES,
  F_STATE,
  JobState,
  RowWriter,
  runJob,
  slotWord,
  W_ALIVE,
  W_CLAIMED,
  W_DONE,
  W_GEN,
  W_POSTED,
  W_STATES,
  W_STOP,
} from './stripe-jobs.js';
import type { StripeWriterInit } from './stripe-writer.js';
import type { DiskState } from './volume-config.js';

/**
 * A volume's stripe writer thread (stripe-writer.ts): claims stripe jobs from the shared ring
 * and runs them with disk files and an erasure coder of its own, until told to stop.
 */
const init = workerData as StripeWriterInit;
const w = new Int32Array(init.ring);
const sub = new SubMemory(init.memory, init.arenaBase, init.arenaBytes);
// The volume's stripe buffers are lent to this thread: its coder may read and write them.
const lent = init.buffers;
const memory: HostMemoryApi = {
  memory: sub.memory,
  sizeBytes: sub.sizeBytes,
  u8: sub.u8,
  i32: sub.i32,
  view: sub.view,
  alloc: (r) => sub.alloc(r),
  allocState: (r) => sub.allocState(r),
  regionAt: (a) => (a >= lent.base && a < lent.base + lent.sizeBytes ? lent : sub.regionAt(a)),
  free: (r, owner) => sub.free(r, owner),
};
const runtime = new LoaderRuntime(memory);
const geo = new Geometry(init.geometry);
const rs = new ReedSolomon({ dataShards: geo.dataDisks, parityShards: geo.parityDisks, runtime });

function openDisks(): DiskSet {
  const states = init.files.map((_, d) => DISK_STATE_CODES[Atomics.load(w, W_STATES + d)] ?? 'lost') as DiskState[];
  return new DiskSet(init.dir, init.files, states, false, init.maxFileBytes, init.diskIo);
}

let gen = Atomics.load(w, W_GEN);
const writer = new RowWriter(geo, memory.u8, openDisks(), rs);
Atomics.store(w, W_ALIVE, 1);
while (Atomics.load(w, W_STOP) === 0) {
  const seq = claimJob(w);
  if (seq >= 0) {
    // The owner changes disk files only with no job queued: a job claimed after a change sees it.
    const g = Atomics.load(w, W_GEN);
    if (g !== gen) {
      writer.disks.closeAll();
      writer.disks = openDisks();
      gen = g;
    }
    try {
      runJob(w, seq, writer);
    } catch {
      // Nothing here may strand a job: the owner runs this one, and every later one, itself.
      Atomics.store(w, slotWord(seq, F_STATE), JobState.Orphaned);
      Atomics.store(w, W_ALIVE, 2);
      Atomics.notify(w, W_DONE);
      break;
    }
    continue;
  }
  const posted = Atomics.load(w, W_POSTED);
  if (Atomics.load(w, W_CLAIMED) === posted) Atomics.wait(w, W_POSTED, posted, 1000);
}
writer.disks.closeAll();
