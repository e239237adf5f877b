// The virtio module's self-test (qt_self_test): before a hot swap commits, the hot-swap manager
// runs it on the new version over shadow data — a scratch region nobody else uses — so the
// version's real pop / echo / push path is exercised without touching any live ring.
//
// Scratch layout (SELF_TEST_BYTES, host addresses relative to the scratch base s):
//   s+0      GMAP (one slot: GPA [0, 16 KiB) → s+16384)
//   s+1024   VQST, split ring of 8
//   s+2048   VQBR burst buffer, 8 chains
//   s+8192   VLBK loopback state, LBF_STAMP set
//   s+16384  "guest RAM": GPA 0 desc[8], GPA 256 avail, GPA 512 used, GPA 4096 requests, GPA 8192 responses
//
// Three chains cover the echo's fast path (1 readable + 1 writable), its scatter-gather path
// (2 readable + 1 writable) and truncation (100 readable bytes into 32 writable ones).

import {
  GMAP_COUNT,
  GMAP_LAYOUT,
  GMAP_MAGIC,
  GMAP_SLOTS,
  GMAP_SLOT_GPA,
  GMAP_SLOT_HOST,
  GMAP_SLOT_SIZE,
} from '../common/gpa';
import { HDR_LAYOUT_VERSION, HDR_MAGIC, HDR_SIZE_BYTES } from '../common/header';
import { BR_LAYOUT, BR_MAGIC } from './burst';
import { DEV_QUEUES, DEV_QUEUE_COUNT } from './device-state';
import {
  AVAIL_IDX,
  AVAIL_RING,
  DESC_ADDR,
  DESC_FLAGS,
  DESC_LEN,
  DESC_NEXT,
  F_NEXT,
  F_WRITE,
  USED_IDX,
  USED_RING,
} from './layout';
import {
  LBF_STAMP,
  LB_BURST,
  LB_FLAGS,
  LB_LAYOUT,
  LB_MAGIC,
  LB_MAX_BURST,
  LB_REQUESTS,
  LB_STATE_BYTES,
  loopbackRun,
  loopbackServedBy,
} from './loopback';
import { queueSetup } from './queue';
import { VQ_LAYOUT, VQ_MAGIC, VQ_MAX_SEGS, vqStateBytes } from './queue-state';
import { burstBytes, burstInit } from './vq';

export const SELF_TEST_BYTES: u32 = 32768;
const RAM: usize = 16384;
const RAM_BYTES: u64 = 16384;
const N: u32 = 8;
const REQ_GPA: u64 = 4096;
const RESP_GPA: u64 = 8192;

@inline function header(at: usize, magic: u32, layout: u32, size: u32): void {
  store<u32>(at, magic, HDR_MAGIC);
  store<u32>(at, layout, HDR_LAYOUT_VERSION);
  store<u32>(at, size, HDR_SIZE_BYTES);
}

@inline function desc(ram: usize, i: u32, gpa: u64, len: u32, flags: u16, next: u16): void {
  const d = ram + ((<usize>i) << 4);
  store<u64>(d, gpa, DESC_ADDR);
  store<u32>(d, len, DESC_LEN);
  store<u16>(d, flags, DESC_FLAGS);
  store<u16>(d, next, DESC_NEXT);
}

/** True when response bytes [0, len) equal the request's, except bytes 8..11 = version. */
function echoed(ram: usize, reqOff: u32, respOff: u32, len: u32, version: u32): bool {
  for (let i: u32 = 0; i < len; i++) {
    if (i >= 8 && i < 12) continue;
    if (load<u8>(ram + <usize>(RESP_GPA + respOff + i)) != load<u8>(ram + <usize>(REQ_GPA + reqOff + i))) return false;
  }
  return load<u32>(ram + <usize>(RESP_GPA + respOff + 8)) == version;
}

/**
 * 0 when this module echoes three chains correctly on shadow data, stamped with its own version;
 * a negative step number otherwise.
 */
export function loopbackSelfTest(s: usize, bytes: u32): i32 {
  if (bytes < SELF_TEST_BYTES) return -1;
  const version = loopbackServedBy();
  if (version == 0) return -13; // qt_init did not bind the version
  memory.fill(s, 0, SELF_TEST_BYTES);
  const gmap = s;
  header(gmap, GMAP_MAGIC, GMAP_LAYOUT, 512);
  store<u32>(gmap, 1, GMAP_COUNT);
  store<u64>(gmap + GMAP_SLOTS, 0, GMAP_SLOT_GPA);
  store<u64>(gmap + GMAP_SLOTS, RAM_BYTES, GMAP_SLOT_SIZE);
  store<u32>(gmap + GMAP_SLOTS, <u32>(s + RAM), GMAP_SLOT_HOST);
  const vq = s + 1024;
  header(vq, VQ_MAGIC, VQ_LAYOUT, 1024);
  if (vqStateBytes(N, false) > 1024) return -2;
  const burst = s + 2048;
  header(burst, BR_MAGIC, BR_LAYOUT, 6144);
  if (burstInit(burst, 6144, N, VQ_MAX_SEGS) != 0 || burstBytes(N, VQ_MAX_SEGS) > 6144) return -3;
  const state = s + 8192;
  header(state, LB_MAGIC, LB_LAYOUT, LB_STATE_BYTES);
  store<u32>(state, 1, DEV_QUEUE_COUNT);
  store<u32>(state, <u32>vq, DEV_QUEUES);
  store<u32>(state, <u32>burst, LB_BURST);
  store<u32>(state, N, LB_MAX_BURST);
  store<u32>(state, LBF_STAMP, LB_FLAGS);

  // The driver's side, written as a guest would: requests, descriptors, then avail.idx.
  const ram = s + RAM;
  for (let i: u32 = 0; i < 256; i++) store<u8>(ram + <usize>(REQ_GPA + i), <u8>(i * 7 + 1));
  desc(ram, 0, REQ_GPA, 64, F_NEXT, 1);
  desc(ram, 1, RESP_GPA, 64, F_WRITE, 0);
  desc(ram, 2, REQ_GPA + 64, 20, F_NEXT, 3);
  desc(ram, 3, REQ_GPA + 84, 44, F_NEXT, 4);
  desc(ram, 4, RESP_GPA + 64, 64, F_WRITE, 0);
  desc(ram, 5, REQ_GPA + 128, 100, F_NEXT, 6);
  desc(ram, 6, RESP_GPA + 128, 32, F_WRITE, 0);
  const avail = ram + 256;
  store<u16>(avail + AVAIL_RING, 0);
  store<u16>(avail + AVAIL_RING + 2, 2);
  store<u16>(avail + AVAIL_RING + 4, 5);
  store<u16>(avail, 3, AVAIL_IDX);
  if (queueSetup(vq, 1024, N, false, 0, 0, 256, 512, gmap, 0) != 0) return -4;

  if (loopbackRun(state, <i32>N) != 3) return -5;
  const used = ram + 512;
  if (load<u16>(used, USED_IDX) != 3 || load<u64>(state, LB_REQUESTS) != 3) return -6;
  if (load<u32>(used + USED_RING) != 0 || load<u32>(used + USED_RING, 4) != 64) return -7;
  if (load<u32>(used + USED_RING, 8) != 2 || load<u32>(used + USED_RING, 12) != 64) return -8;
  if (load<u32>(used + USED_RING, 16) != 5 || load<u32>(used + USED_RING, 20) != 32) return -9;
  if (!echoed(ram, 0, 0, 64, version) || !echoed(ram, 64, 64, 64, version) || !echoed(ram, 128, 128, 32, version))
    return -10;
  // Nothing written past the truncated response.
  if (load<u32>(ram + <usize>(RESP_GPA + 160)) != 0) return -11;
  // A second call finds no work and must not push anything.
  if (loopbackRun(state, <i32>N) != 0 || load<u16>(used, USED_IDX) != 3) return -12;
  return 0;
}
