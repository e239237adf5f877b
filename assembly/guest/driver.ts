// Format dispatch for the guest driver.

import {
  DF_INDIRECT,
  DF_PACKED,
  GD_DESC,
  GD_DEVICE,
  GD_DOORBELL,
  GD_DRIVER,
  GD_FIFO_HEAD,
  GD_FIFO_TAIL,
  GD_FLAGS,
  GD_IRQ,
  GD_MAGIC,
  GD_NUM_FREE,
  GD_RAM,
  GD_SIZE,
  GD_SLEEP,
  GD_AVAIL_IDX,
  GD_LAST_USED,
  GD_PENDING,
  GD_TABLES_GPA,
  GD_TABLES_HOST,
  TABLE_BYTES,
  gdBytes,
} from './driver-state';
import {
  packedAdd,
  packedDisableIrq,
  packedEnableIrq,
  packedInit,
  packedKick,
  packedNextToken,
  packedReap,
} from './packed-driver';
import {
  splitAdd,
  splitDisableIrq,
  splitEnableIrq,
  splitInit,
  splitKick,
  splitNextToken,
  splitReap,
} from './split-driver';

/** Sets a driver up over rings the guest laid out at the given GPAs (all inside [0, ramBytes)). */
export function driverInit(
  drv: usize,
  flags: u32,
  n: u32,
  ramBase: usize,
  ramBytes: u32,
  descGpa: u64,
  driverGpa: u64,
  deviceGpa: u64,
  doorbell: usize,
  sleepWord: usize,
  irq: usize,
  tablesGpa: u64,
): i32 {
  if (n == 0 || n > 32768) return -1;
  if ((flags & DF_INDIRECT) != 0 && (tablesGpa == 0 || tablesGpa + <u64>n * TABLE_BYTES > <u64>ramBytes)) return -1;
  if (descGpa + 16 * <u64>n > <u64>ramBytes || driverGpa + 4 > <u64>ramBytes || deviceGpa + 4 > <u64>ramBytes)
    return -1;
  memory.fill(drv, 0, gdBytes(n));
  store<u32>(drv, GD_MAGIC);
  store<u32>(drv, flags, GD_FLAGS);
  store<u32>(drv, n, GD_SIZE);
  store<u32>(drv, <u32>ramBase, GD_RAM);
  store<u32>(drv, <u32>(ramBase + <usize>descGpa), GD_DESC);
  store<u32>(drv, <u32>(ramBase + <usize>driverGpa), GD_DRIVER);
  store<u32>(drv, <u32>(ramBase + <usize>deviceGpa), GD_DEVICE);
  store<u32>(drv, <u32>doorbell, GD_DOORBELL);
  store<u32>(drv, <u32>sleepWord, GD_SLEEP);
  store<u32>(drv, <u32>irq, GD_IRQ);
  store<u32>(drv, <u32>(ramBase + <usize>tablesGpa), GD_TABLES_HOST);
  store<u32>(drv, <u32>tablesGpa, GD_TABLES_GPA);
  store<u16>(drv, 0, GD_FIFO_HEAD);
  store<u16>(drv, 0, GD_FIFO_TAIL);
  store<u16>(drv, 0, GD_AVAIL_IDX);
  store<u16>(drv, 0, GD_LAST_USED);
  store<u16>(drv, 0, GD_PENDING);
  if ((flags & DF_PACKED) != 0) packedInit(drv);
  else splitInit(drv);
  return 0;
}

@inline export function isPacked(drv: usize): bool {
  return (load<u32>(drv, GD_FLAGS) & DF_PACKED) != 0;
}

export function drvAdd(drv: usize, outGpa: u64, outLen: u32, inGpa: u64, inLen: u32): i32 {
  return isPacked(drv) ? packedAdd(drv, outGpa, outLen, inGpa, inLen) : splitAdd(drv, outGpa, outLen, inGpa, inLen);
}

export function drvKick(drv: usize): i32 {
  return isPacked(drv) ? packedKick(drv) : splitKick(drv);
}

export function drvReap(drv: usize, out: usize, max: u32): u32 {
  return isPacked(drv) ? packedReap(drv, out, max) : splitReap(drv, out, max);
}

export function drvEnableIrq(drv: usize): i32 {
  return isPacked(drv) ? packedEnableIrq(drv) : splitEnableIrq(drv);
}

export function drvDisableIrq(drv: usize): void {
  if (isPacked(drv)) packedDisableIrq(drv);
  else splitDisableIrq(drv);
}

export function drvNextToken(drv: usize): u32 {
  return isPacked(drv) ? packedNextToken(drv) : splitNextToken(drv);
}

export function drvFree(drv: usize): u32 {
  return <u32>load<u16>(drv, GD_NUM_FREE);
}
