// The common prefix of every virtio device's state region. Each device (loopback, net, blk,
// vsock) has its own magic and layout version, but the words the control plane's VirtioBackend
// (src/dpu/virtio/virtio-backend.ts) reads and writes for every device sit at the same offsets:
//
//   +0    header (magic 'VLBK' / 'VNET' / 'VBLK' / 'VSCK', layout version, size, kind)
//   +64   u32 status        device status (§2.1): the driver's bits, written by the control plane
//                           (atomic and/or), and DEVICE_NEEDS_RESET, set by the kernel (atomic or)
//   +68   u32 configIrq     config-change interrupt word, host address (0: none)
//   +72   u32 queueCount    queues the device has (at most DEV_MAX_QUEUES)
//   +76   u32 configOffset  device config space (§4.1.4.3 device-specific configuration):
//   +80   u32 configBytes     offset from the region base and size; little-endian, spec layout
//   +84   u32 configGen     config generation, bumped by every device-side config change
//   +88   u32 weight        the device's scheduling weight on its core (fair-cores work reads it)
//   +96   u64 resets        times the kernel set DEVICE_NEEDS_RESET (out-of-band counter)
//   +128  u32 queue[32]     host address of each queue's state region (VQST), 0 when absent
//   +256  device payload    the device's own words (burst buffers, options, counters ...)
//
// A kernel breaks its device with devNeedsReset() and never touches the device again until the
// control plane resets it; the guest hears of it through the config interrupt (§2.1.2).

import { STATUS_DEVICE_NEEDS_RESET } from './layout';

export const DEV_STATUS: u32 = 64;
export const DEV_CONFIG_IRQ: u32 = 68;
export const DEV_QUEUE_COUNT: u32 = 72;
export const DEV_CONFIG_OFFSET: u32 = 76;
export const DEV_CONFIG_BYTES: u32 = 80;
export const DEV_CONFIG_GEN: u32 = 84;
export const DEV_WEIGHT: u32 = 88;
export const DEV_RESETS: u32 = 96;
export const DEV_QUEUES: u32 = 128;
export const DEV_MAX_QUEUES: u32 = 32;
/** Where a device's own words start. */
export const DEV_PAYLOAD: u32 = 256;

/** Host address of queue i's state region (0 when absent or i out of range). */
@inline export function devQueue(state: usize, i: u32): usize {
  if (i >= DEV_MAX_QUEUES) return 0;
  return <usize>load<u32>(state + DEV_QUEUES + ((<usize>i) << 2));
}

/** True once the device has been marked DEVICE_NEEDS_RESET: it does no more work until reset. */
@inline export function devBroken(state: usize): bool {
  return (atomic.load<u32>(state, DEV_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0;
}

/**
 * §2.1.2: sets DEVICE_NEEDS_RESET and sends a configuration change notification. Atomic, because
 * the control plane may write the driver's status bits at the same time. Returns 0 (the job
 * goes on: a broken device is this guest's problem, not the core's).
 */
export function devNeedsReset(state: usize): i32 {
  const before = atomic.or<u32>(state, STATUS_DEVICE_NEEDS_RESET, DEV_STATUS);
  if ((before & STATUS_DEVICE_NEEDS_RESET) != 0) return 0;
  store<u64>(state, load<u64>(state, DEV_RESETS) + 1, DEV_RESETS);
  const irq = <usize>load<u32>(state, DEV_CONFIG_IRQ);
  if (irq != 0) {
    atomic.add<i32>(irq, 1);
    atomic.notify(irq, -1);
  }
  return 0;
}
