// Kernel family "core": the DPU runtime's own jobs, and the exports of the layouts in
// assembly/common (the build generates their TS constants from here).
//
//   core_echo  ping-pong responder: the probe for round-trip and wake-up latency
//   core_fill  pattern writer over a host region in bursts of 64-byte lines (memory scrub)
//   core_gpa_to_host  the shared GPA translation, for the test that holds the TS one to it
//   core_io_probe  keeps requests in flight on an I/O channel (io-probe.ts): bench io, tests

import { KERNEL_ABI } from '../common/abi';
import { ioProbeArm, ioProbeRun } from './io-probe';
import { headerOk } from '../common/header';
import { gpaToHost } from '../common/gpa';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x65726f63; // "core"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

// The layouts every family shares (assembly/common), exported from here so that the build
// generates their TS constants once, into src/generated/common.ts.
export { HDR_MAGIC, HDR_LAYOUT_VERSION, HDR_SIZE_BYTES, HDR_KIND, HDR_BYTES } from '../common/header';
export {
  GMAP_MAGIC,
  GMAP_LAYOUT,
  GMAP_COUNT,
  GMAP_DIRTY_LOG,
  GMAP_DIRTY_PAGES,
  GMAP_SLOTS,
  GMAP_SLOT_BYTES,
  GMAP_MAX_SLOTS,
  GMAP_SLOT_GPA,
  GMAP_SLOT_SIZE,
  GMAP_SLOT_HOST,
  GMAP_BYTES,
} from '../common/gpa';

// The SPSC ring and I/O channel layouts (assembly/common), for the TS side of the same rings.
export { RING_HEAD, RING_TAIL, RING_RECORDS } from '../common/spsc-ring';
export {
  IO_MAGIC,
  IO_LAYOUT,
  IO_CAPACITY,
  IO_RECORD,
  IO_CORE_CONTROL,
  IO_DOORBELL,
  IO_SLEEPING,
  IO_STOP,
  IO_SUBMITTED,
  IO_COMPLETED,
  IO_KICKS,
  IO_HANDLED,
  IO_FAILED,
  IO_WAKEUPS,
  IO_CORE_RINGS,
  IO_RINGS,
  IO_RECORD_BYTES,
  IO_MAX_CAPACITY,
  IOR_TAG,
  IOR_OP,
  IOR_ARG0,
  IOR_ADDR,
  IOR_LEN,
  IOR_ARG1,
  IOC_TAG,
  IOC_RESULT,
  IOC_VALUE,
} from '../common/io-channel';
export {
  IOP_MAGIC,
  IOP_CHANNEL,
  IOP_OP,
  IOP_DEPTH,
  IOP_TOTAL,
  IOP_BUFFERS,
  IOP_BUFFER_BYTES,
  IOP_ARG0_STEP,
  IOP_ISSUED,
  IOP_COMPLETED,
  IOP_FAILED,
  IOP_BUSY,
  IOP_RESULT_SUM,
  IOP_LAST_VALUE,
  IOP_BYTES,
} from './io-probe';

export function core_io_probe(state: usize, budget: i32): i32 {
  return ioProbeRun(state, budget);
}

export function core_io_probe_arm(state: usize, budget: i32): i32 {
  return ioProbeArm(state);
}

export function core_gpa_to_host(map: usize, gpa: u64, len: u64): usize {
  return gpaToHost(map, gpa, len);
}

// ---- echo -------------------------------------------------------------------------------
// State 'ECHO' (layout 1). Request and response sit on their own cache lines so the client's
// stores and the core's stores never share a line.
//   +64  u32 request   written by the client (atomic store), any value
//   +128 u32 response  written by the core: the last request it answered
//   +192 u64 served    requests answered
export const ECHO_MAGIC: u32 = 0x4f484345; // 'ECHO'
export const ECHO_LAYOUT: u32 = 1;
export const ECHO_REQUEST: i32 = 64;
export const ECHO_RESPONSE: i32 = 128;
export const ECHO_SERVED: i32 = 192;
export const ECHO_BYTES: i32 = 256;

export function core_echo(state: usize, budget: i32): i32 {
  const req = atomic.load<u32>(state, ECHO_REQUEST);
  if (req == atomic.load<u32>(state, ECHO_RESPONSE)) return 0;
  store<u64>(state, load<u64>(state, ECHO_SERVED) + 1, ECHO_SERVED);
  // Release: `served` is visible to whoever observes the response.
  atomic.store<u32>(state, req, ECHO_RESPONSE);
  return 1;
}

// ---- fill -------------------------------------------------------------------------------
// State 'FILL' (layout 1): writes word value (address ^ seed) over [target, target + length),
// `budget` 64-byte lines per call, wrapping around to count whole passes.
//   +64 u32 target   +68 u32 lengthBytes (multiple of 64)   +72 u32 seed   +76 u32 cursor
//   +80 u64 passes   +88 u64 linesWritten
export const FILL_MAGIC: u32 = 0x4c4c4946; // 'FILL'
export const FILL_LAYOUT: u32 = 1;
export const FILL_TARGET: i32 = 64;
export const FILL_LENGTH: i32 = 68;
export const FILL_SEED: i32 = 72;
export const FILL_CURSOR: i32 = 76;
export const FILL_PASSES: i32 = 80;
export const FILL_LINES: i32 = 88;
export const FILL_BYTES: i32 = 128;
export const E_BAD_STATE: i32 = -1;

export function core_fill(state: usize, budget: i32): i32 {
  if (!headerOk(state, FILL_MAGIC, FILL_LAYOUT, FILL_BYTES)) return E_BAD_STATE;
  const target = load<u32>(state, FILL_TARGET);
  const length = load<u32>(state, FILL_LENGTH);
  // Host-written, but checked anyway: a job must never write outside host memory.
  const memBytes = (<u64>memory.size()) << 16;
  if (length == 0 || (length & 63) != 0 || <u64>target + <u64>length > memBytes || budget <= 0) return E_BAD_STATE;
  let cursor = load<u32>(state, FILL_CURSOR);
  if (cursor >= length) cursor = 0;
  const seed = load<u32>(state, FILL_SEED);
  const lane = i32x4(0, 4, 8, 12);
  let lines: i32 = 0;
  while (lines < budget) {
    const a = target + cursor;
    // SAFETY: a + 64 <= target + length <= memory size (checked above; cursor is a multiple of 64 below length).
    const base = i32x4.add(i32x4.splat(<i32>a), lane);
    const s = i32x4.splat(<i32>seed);
    v128.store(a, v128.xor(base, s), 0);
    v128.store(a, v128.xor(i32x4.add(base, i32x4.splat(16)), s), 16);
    v128.store(a, v128.xor(i32x4.add(base, i32x4.splat(32)), s), 32);
    v128.store(a, v128.xor(i32x4.add(base, i32x4.splat(48)), s), 48);
    lines++;
    cursor += 64;
    if (cursor >= length) {
      cursor = 0;
      store<u64>(state, load<u64>(state, FILL_PASSES) + 1, FILL_PASSES);
    }
  }
  store<u32>(state, cursor, FILL_CURSOR);
  store<u64>(state, load<u64>(state, FILL_LINES) + <u64>lines, FILL_LINES);
  return lines;
}
