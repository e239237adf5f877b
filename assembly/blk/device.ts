// The virtio-blk job entries: one job per virtqueue (its 'VBJB' state names the device and the
// queue), so that queues can be served by different cores. A burst pops up to `budget` chains,
// serves each (request.ts) and pushes them back in one publication. Null and RAM backends
// complete every request within the burst; a malformed ring breaks only this device.

import { headerOk } from '../common/header';
import { CH_STATUS, CH_USED_LEN, chainAt, segsBase } from '../virtio/burst';
import { devBroken, devNeedsReset, devQueue } from '../virtio/device-state';
import { VQ_GMAP } from '../virtio/queue-state';
import { vqArm, vqPop, vqPush } from '../virtio/vq';
import {
  BJ_BURST,
  BJ_DONE,
  BJ_BYTES,
  BJ_DEVICE,
  BJ_LAYOUT,
  BJ_MAGIC,
  BJ_MAX_BURST,
  BJ_QUEUE,
  BJ_REJECTED,
  BJ_REQUESTS,
  BJ_SLOT_COUNT,
  BJ_VOLQ,
  BLK_BACKEND,
  BLK_BACKEND_VOLUME,
  BLK_LAYOUT,
  BLK_MAGIC,
  BLK_STATE_BYTES,
  bump,
  observeRequests,
} from './layout';
import { serve } from './request';
import { PENDING, volBegin, volDone, volFreeSlots, volPending, volReap } from './volume-path';
import { volqCompleted, volqOk, volqSubmit } from './volume-queue';

/** The device state of a well-formed job state, or 0. */
@inline function deviceOf(job: usize): usize {
  if (!headerOk(job, BJ_MAGIC, BJ_LAYOUT, BJ_BYTES)) return 0;
  const dev = <usize>load<u32>(job, BJ_DEVICE);
  if (dev == 0 || !headerOk(dev, BLK_MAGIC, BLK_LAYOUT, BLK_STATE_BYTES)) return 0;
  return dev;
}

/** Job entry: one burst of one queue. Returns chains completed; -1 for a state that is not a blk job. */
export function blkRun(job: usize, budget: i32): i32 {
  const dev = deviceOf(job);
  if (dev == 0) return -1;
  if (budget <= 0 || devBroken(dev)) return 0;
  const vq = devQueue(dev, load<u32>(job, BJ_QUEUE));
  if (vq == 0) return 0;
  const burst = <usize>load<u32>(job, BJ_BURST);
  let max = <u32>budget;
  const cap = load<u32>(job, BJ_MAX_BURST);
  if (max > cap) max = cap;
  if (load<u32>(dev, BLK_BACKEND) == BLK_BACKEND_VOLUME) return volumeRun(job, dev, vq, burst, max);
  const n = vqPop(vq, burst, max);
  if (n < 0) return devNeedsReset(dev);
  if (n == 0) return 0;
  const segs = segsBase(burst);
  const map = <usize>load<u32>(vq, VQ_GMAP);
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = chainAt(burst, i);
    if (load<u16>(rec, CH_STATUS) != 0) {
      // Rejected by the queue (bad addresses, order, length): returned with nothing written.
      store<u32>(rec, 0, CH_USED_LEN);
      bump(job, BJ_REJECTED);
      continue;
    }
    store<u32>(rec, serve(job, dev, map, rec, segs), CH_USED_LEN);
  }
  if (vqPush(vq, burst, <u32>n) < 0) return devNeedsReset(dev);
  bump(job, BJ_REQUESTS, <u64>n);
  observeRequests(job, 0, <u32>n); // popped and pushed in this burst
  return n;
}

/**
 * A burst of a volume-backed queue: the volume's completions first (chains finished, range
 * requests continued), then as many new chains as free slots allow, their requests published
 * with one store and one doorbell ring, then every finished chain pushed in one publication.
 */
function volumeRun(job: usize, dev: usize, vq: usize, burst: usize, max: u32): i32 {
  const q = <usize>load<u32>(job, BJ_VOLQ);
  // Detached or not (yet) attached: nothing can be served.
  if (!volqOk(q, load<u32>(job, BJ_SLOT_COUNT))) return 0;
  const map = <usize>load<u32>(vq, VQ_GMAP);
  volBegin(job);
  let nd = volReap(job, map, 0);
  const free = volFreeSlots(job);
  if (max > free) max = free;
  let n: i32 = 0;
  if (max != 0) {
    n = vqPop(vq, burst, max);
    if (n < 0) {
      volqSubmit(q, volPending(job));
      return devNeedsReset(dev);
    }
    const segs = segsBase(burst);
    for (let i: u32 = 0; i < <u32>n; i++) {
      const rec = chainAt(burst, i);
      if (load<u16>(rec, CH_STATUS) != 0) {
        bump(job, BJ_REJECTED);
        nd = volDone(job, rec, nd, 0);
        continue;
      }
      const used = serve(job, dev, map, rec, segs);
      if (used != PENDING) nd = volDone(job, rec, nd, used);
    }
  }
  volqSubmit(q, volPending(job));
  if (nd != 0) {
    if (vqPush(vq, <usize>load<u32>(job, BJ_DONE), nd) < 0) return devNeedsReset(dev);
    bump(job, BJ_REQUESTS, <u64>nd);
  }
  return n + <i32>nd;
}

/**
 * Control-plane entry, while no core runs the job (after its detach): takes the volume's
 * completions and pushes the finished chains, popping nothing. Returns chains pushed.
 */
export function blkComplete(job: usize): i32 {
  const dev = deviceOf(job);
  if (dev == 0) return -1;
  if (devBroken(dev) || load<u32>(dev, BLK_BACKEND) != BLK_BACKEND_VOLUME) return 0;
  const vq = devQueue(dev, load<u32>(job, BJ_QUEUE));
  if (vq == 0) return 0;
  return volumeRun(job, dev, vq, <usize>load<u32>(job, BJ_BURST), 0);
}

/** Arm entry: before the core sleeps. Returns chains pending (> 0: do not sleep). */
export function blkArm(job: usize): i32 {
  const dev = deviceOf(job);
  if (dev == 0 || devBroken(dev)) return 0;
  const vq = devQueue(dev, load<u32>(job, BJ_QUEUE));
  if (vq == 0) return 0;
  if (load<u32>(dev, BLK_BACKEND) == BLK_BACKEND_VOLUME) {
    const q = <usize>load<u32>(job, BJ_VOLQ);
    if (!volqOk(q, load<u32>(job, BJ_SLOT_COUNT))) return 0;
    const c = volqCompleted(q);
    if (c != 0) return <i32>c;
    // Every slot busy: the volume's completion doorbell wakes the core, not the guest's kicks.
    if (volFreeSlots(job) == 0) return 0;
  }
  return <i32>vqArm(vq);
}
