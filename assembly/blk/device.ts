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
  BJ_BYTES,
  BJ_DEVICE,
  BJ_LAYOUT,
  BJ_MAGIC,
  BJ_MAX_BURST,
  BJ_QUEUE,
  BJ_REJECTED,
  BJ_REQUESTS,
  BLK_LAYOUT,
  BLK_MAGIC,
  BLK_STATE_BYTES,
  bump,
} from './layout';
import { serve } from './request';

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
  return n;
}

/** Arm entry: before the core sleeps. Returns chains pending (> 0: do not sleep). */
export function blkArm(job: usize): i32 {
  const dev = deviceOf(job);
  if (dev == 0 || devBroken(dev)) return 0;
  const vq = devQueue(dev, load<u32>(job, BJ_QUEUE));
  if (vq == 0) return 0;
  return <i32>vqArm(vq);
}
