// Guest-side virtqueue driver state ('GDRV'), kept in guest RAM like a guest kernel's own
// structures. The driver's bookkeeping (free lists, chain lengths, in-order FIFO) lives here,
// never in the rings the device can see (a device must not be trusted to keep it).
//
//   +0  u32 magic   +4 u32 flags (DF_*)   +8 u32 size N   +12 u32 ramBase (host address of GPA 0)
//   +16 u32 descHost  +20 u32 driverHost  +24 u32 deviceHost
//   +28 u32 doorbell  +32 u32 sleepWord   +36 u32 irq      (host addresses of the transport words)
//   +40 u16 freeHead  +42 u16 numFree      (split: descriptors; packed: slots)
//   +44 u16 availIdx  +46 u16 lastUsed     (split)
//   +48 u16 kickOld   +50 u16 pending      (split: idx at last kick, chains added since)
//   +52 u16 nextAvail +54 u16 availWrap +56 u16 nextUsed +58 u16 usedWrap   (packed)
//   +60 u32 kickedPos                      (packed: linear position at last kick)
//   +64 u64 kicks  +72 u64 kicksSuppressed  +80 u64 added  +88 u64 completed  +96 u64 irqWaits  +104 u64 errors
//   +112 u16 fifoHead  +114 u16 fifoTail  +116 u16 freeIds (packed: ids on the stack)
//   +120 u32 tablesHost  +124 u32 tablesGpa   indirect tables, 32 bytes (2 entries) per token (DF_INDIRECT)
//   +128 u16 next[N] (split free list) / u16 idSlots[N] (packed)
//   +128+2N u16 chainLen[N] (split) / u16 idStack[N] (packed)
//   +128+4N u16 fifo[N]  (in-order completion order)

export const GD_MAGIC: u32 = 0x56524447; // 'GDRV'
export const DF_PACKED: u32 = 1;
export const DF_EVENT_IDX: u32 = 2;
export const DF_INDIRECT: u32 = 4;
export const DF_IN_ORDER: u32 = 8;

export const GD_FLAGS: u32 = 4;
export const GD_SIZE: u32 = 8;
export const GD_RAM: u32 = 12;
export const GD_DESC: u32 = 16;
export const GD_DRIVER: u32 = 20;
export const GD_DEVICE: u32 = 24;
export const GD_DOORBELL: u32 = 28;
export const GD_SLEEP: u32 = 32;
export const GD_IRQ: u32 = 36;
export const GD_FREE_HEAD: u32 = 40;
export const GD_NUM_FREE: u32 = 42;
export const GD_AVAIL_IDX: u32 = 44;
export const GD_LAST_USED: u32 = 46;
export const GD_KICK_OLD: u32 = 48;
export const GD_PENDING: u32 = 50;
export const GD_NEXT_AVAIL: u32 = 52;
export const GD_AVAIL_WRAP: u32 = 54;
export const GD_NEXT_USED: u32 = 56;
export const GD_USED_WRAP: u32 = 58;
export const GD_KICKED_POS: u32 = 60;
export const GD_KICKS: u32 = 64;
export const GD_KICKS_SUPPRESSED: u32 = 72;
export const GD_ADDED: u32 = 80;
export const GD_COMPLETED: u32 = 88;
export const GD_IRQ_WAITS: u32 = 96;
export const GD_ERRORS: u32 = 104;
export const GD_FIFO_HEAD: u32 = 112;
export const GD_FIFO_TAIL: u32 = 114;
export const GD_FREE_IDS: u32 = 116;
export const GD_TABLES_HOST: u32 = 120;
export const GD_TABLES_GPA: u32 = 124;
export const TABLE_BYTES: u32 = 32;
// gdrv_reap's output: one record per completion, { u32 token; u32 len }.
export const GD_REAP_BYTES: u32 = 8;
export const GD_ARRAYS: u32 = 128;

export function gdBytes(n: u32): u32 {
  return GD_ARRAYS + 6 * n;
}

@inline export function arr(drv: usize, which: u32, i: u32): usize {
  return drv + GD_ARRAYS + <usize>which * <usize>load<u32>(drv, GD_SIZE) * 2 + ((<usize>i) << 1);
}

@inline export function bump(drv: usize, off: u32, by: u64 = 1): void {
  store<u64>(drv + off, load<u64>(drv + off) + by);
}

@inline export function fifoPush(drv: usize, v: u16): void {
  const n = load<u32>(drv, GD_SIZE);
  const t = <u32>load<u16>(drv, GD_FIFO_TAIL);
  store<u16>(arr(drv, 2, t), v);
  store<u16>(drv, <u16>((t + 1) % n), GD_FIFO_TAIL);
}

@inline export function fifoPop(drv: usize): u16 {
  const n = load<u32>(drv, GD_SIZE);
  const h = <u32>load<u16>(drv, GD_FIFO_HEAD);
  const v = load<u16>(arr(drv, 2, h));
  store<u16>(drv, <u16>((h + 1) % n), GD_FIFO_HEAD);
  return v;
}

/**
 * Kick: ring the DPU core's doorbell, waking it if it sleeps (the producer protocol of
 * src/dpu/core/core-layout.ts).
 */
@inline export function ringDoorbell(drv: usize): void {
  const db = <usize>load<u32>(drv, GD_DOORBELL);
  atomic.add<i32>(db, 1);
  if (atomic.load<i32>(<usize>load<u32>(drv, GD_SLEEP)) != 0) atomic.notify(db, 1);
}
