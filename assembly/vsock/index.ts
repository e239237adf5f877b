// Kernel family "vsock": the virtio-vsock device (virtio 1.2 §5.10) as a DPU-core job, and the
// vsock endpoint its host side shares with the control plane's sockets. Exports are flat and
// prefixed: vsock_* (device job), vsep_* (endpoint), and the layout constants TS reads.

import { KERNEL_ABI } from '../common/abi';
import { endpointBytes, endpointInit } from './endpoint';
import { vsockArm, vsockRun, vsockTransportReset } from './device';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x6b636f7376; // "vsock"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0; // 1.0.0
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export function vsock_run(state: usize, budget: i32): i32 {
  return vsockRun(state, budget);
}

export function vsock_arm(state: usize, budget: i32): i32 {
  return vsockArm(state);
}

export function vsock_transport_reset(state: usize, guestCid: u64): i32 {
  return vsockTransportReset(state, guestCid);
}

export function vsep_bytes(maxConns: u32, ringBytes: u32): u32 {
  return endpointBytes(maxConns, ringBytes);
}

export function vsep_init(
  ep: usize,
  regionBytes: u32,
  flags: u32,
  localCid: u32,
  peerCid: u32,
  maxConns: u32,
  ringBytes: u32,
  appDoorbell: usize,
  maxPayload: u32,
): i32 {
  return endpointInit(ep, regionBytes, flags, localCid, peerCid, maxConns, ringBytes, appDoorbell, maxPayload);
}

export * from './layout-exports';
