// virtio-vsock driver (§5.10), guest side: three virtqueues (rx, tx, event) driven through the
// guest virtqueue driver (driver.ts), and a vsock endpoint in guest RAM whose engine is the
// same code the device runs (assembly/vsock/): receive a packet, apply app requests, emit the
// next packet. Used by the guest agent (Wasm on a vCPU) and by the host agent (its worker calls
// the gvsock_* exports).
//
// Everything lives in one area of guest RAM, laid out by gvsockInit from its parameters alone,
// so the party that configures the device side (a VMM, the control plane booting a host agent)
// reads the ring addresses from the state below:
//
//   state 'GVSK' (256 bytes), at the area's start
//     +0  u32 magic  +4 u32 flags (DF_* ring flags)  +8 u32 ramBase  +12 u32 ramBytes
//     +16 u32 queueSize N  +20 u32 eventQueueSize  +24 u32 bufBytes  +28 u32 areaBytes
//     +32 u32 rxDrv  +36 u32 txDrv  +40 u32 evDrv             GDRV states (host addresses)
//     +44 u32 endpoint (host address)  +48 u32 config (host address of the device's guest_cid)
//     +52 u32 reapScratch  +56 u32 segScratch
//     +64 u64 rxBufGpa  +72 u64 txBufGpa  +80 u64 evBufGpa
//     +96 u64 ring GPAs[3][3]: for rx, tx, event: desc, driver area, device area
//     +168 u64 transportResets  +176 u64 rxTruncated
//     +184 u32 started
//   GDRV rx, tx, event; rings (desc 16-aligned, avail/used or event areas 4-aligned);
//   reap scratch (N x 8); buffers (rx N, tx N, event 8 bytes each); the endpoint (64-aligned).

import { DF_EVENT_IDX, DF_PACKED, gdBytes } from './driver-state';
import { driverInit, drvAdd, drvEnableIrq, drvFree, drvKick, drvNextToken, drvReap } from './driver';
import {
  CR_TRANSPORT,
  EPC_TRANSPORT_RESETS,
  EP_LOCAL_CID,
  bumpCounter,
  closeAll,
  endpointBytes,
  endpointInit,
  endpointOk,
  signalApp,
} from '../vsock/endpoint';
import {
  VSOCK_CID_HOST,
  VSOCK_EVENT_TRANSPORT_RESET,
  VSOCK_HDR_BYTES,
  VSOCK_MAX_PAYLOAD,
  guestCidOk,
} from '../vsock/packet';
import { epReceive } from '../vsock/receive';
import { epScan } from '../vsock/requests';
import { epEmit } from '../vsock/transmit';

export const GV_MAGIC: u32 = 0x4b535647; // 'GVSK'
export const GV_FLAGS: u32 = 4;
export const GV_RAM_BASE: u32 = 8;
export const GV_RAM_BYTES: u32 = 12;
export const GV_QUEUE_SIZE: u32 = 16;
export const GV_EVENT_QUEUE_SIZE: u32 = 20;
export const GV_BUF_BYTES: u32 = 24;
export const GV_AREA_BYTES: u32 = 28;
export const GV_RX_DRV: u32 = 32;
export const GV_TX_DRV: u32 = 36;
export const GV_EV_DRV: u32 = 40;
export const GV_ENDPOINT: u32 = 44;
export const GV_CONFIG: u32 = 48;
export const GV_REAP: u32 = 52;
export const GV_SEG: u32 = 56;
export const GV_RX_BUF_GPA: u32 = 64;
export const GV_TX_BUF_GPA: u32 = 72;
export const GV_EV_BUF_GPA: u32 = 80;
/** u64 GPAs of each queue's areas: +96 + 24·queue + 8·part (part 0 desc, 1 driver, 2 device). */
export const GV_RINGS: u32 = 96;
export const GV_TRANSPORT_RESETS: u32 = 168;
export const GV_RX_TRUNCATED: u32 = 176;
export const GV_STARTED: u32 = 184;
export const GV_STATE_BYTES: u32 = 256;
export const GV_EVENT_BUF_BYTES: u32 = 8;

@inline function up(x: u32, a: u32): u32 {
  return (x + a - 1) & ~(a - 1);
}

/** Bytes of the three areas of one queue of size n, laid out back to back (each aligned). */
function ringBytes(n: u32, flags: u32): u32 {
  if ((flags & DF_PACKED) != 0) return up(16 * n, 16) + 4 + 4;
  const ev: u32 = (flags & DF_EVENT_IDX) != 0 ? 2 : 0;
  return up(16 * n, 16) + up(4 + 2 * n + ev, 4) + up(4 + 8 * n + ev, 16);
}

/** Bytes of the guest RAM area a driver with these parameters needs. */
export function gvsockAreaBytes(flags: u32, n: u32, nEv: u32, bufBytes: u32, maxConns: u32, connRingBytes: u32): u32 {
  let b = GV_STATE_BYTES + up(gdBytes(n), 64) * 2 + up(gdBytes(nEv), 64);
  b += ringBytes(n, flags) * 2 + ringBytes(nEv, flags) + 64;
  b += up(8 * n, 64) + 64;
  b += 2 * n * bufBytes + up(nEv * GV_EVENT_BUF_BYTES, 64) + 64;
  return b + endpointBytes(maxConns, connRingBytes) + 64;
}

/**
 * Lays out and initialises a vsock driver in guest RAM [areaGpa, areaGpa + areaBytes): its
 * queues (not yet given buffers: gvsockStart does that), buffers and endpoint. `config` is the
 * host address of the device's virtio_vsock_config; doorbell/sleepWord the device's kick words;
 * irq the interrupt word of all three queues; appDoorbell the word the engine bumps for the app.
 * Returns 0, or -1 when a parameter is refused.
 */
export function gvsockInit(
  ramBase: usize,
  ramBytes: u32,
  areaGpa: u64,
  areaBytes: u32,
  flags: u32,
  n: u32,
  nEv: u32,
  bufBytes: u32,
  maxConns: u32,
  connRingBytes: u32,
  config: usize,
  doorbell: usize,
  sleepWord: usize,
  irq: usize,
  appDoorbell: usize,
): i32 {
  if ((flags & ~(DF_PACKED | DF_EVENT_IDX)) != 0) return -1;
  if (n < 2 || n > 1024 || (n & (n - 1)) != 0 || nEv < 1 || nEv > 64 || (nEv & (nEv - 1)) != 0) return -1;
  if (bufBytes < VSOCK_HDR_BYTES + 64 || bufBytes > VSOCK_HDR_BYTES + VSOCK_MAX_PAYLOAD) return -1;
  if ((areaGpa & 63) != 0 || areaGpa + <u64>areaBytes > <u64>ramBytes) return -1;
  if (gvsockAreaBytes(flags, n, nEv, bufBytes, maxConns, connRingBytes) > areaBytes) return -1;
  const cid = load<u64>(config);
  if (!guestCidOk(cid)) return -1;
  const vs = ramBase + <usize>areaGpa;
  // SAFETY: [areaGpa, areaGpa + areaBytes) lies inside guest RAM (checked above). The whole area
  // starts zeroed, rings included: a rebooted guest must not read the last boot's used index.
  memory.fill(vs, 0, areaBytes);
  store<u32>(vs, GV_MAGIC);
  store<u32>(vs, flags, GV_FLAGS);
  store<u32>(vs, <u32>ramBase, GV_RAM_BASE);
  store<u32>(vs, ramBytes, GV_RAM_BYTES);
  store<u32>(vs, n, GV_QUEUE_SIZE);
  store<u32>(vs, nEv, GV_EVENT_QUEUE_SIZE);
  store<u32>(vs, bufBytes, GV_BUF_BYTES);
  store<u32>(vs, areaBytes, GV_AREA_BYTES);
  store<u32>(vs, <u32>config, GV_CONFIG);
  // The three driver states, then the three queues' rings (q: 0 rx, 1 tx, 2 event).
  const drvBase = <u32>areaGpa + GV_STATE_BYTES;
  const drvStride = up(gdBytes(n), 64);
  let at = drvBase + 2 * drvStride + up(gdBytes(nEv), 64);
  for (let q: u32 = 0; q < 3; q++) {
    const size = q == 2 ? nEv : n;
    const desc = up(at, 16);
    let driverArea: u32, deviceArea: u32;
    if ((flags & DF_PACKED) != 0) {
      driverArea = desc + up(16 * size, 16);
      deviceArea = driverArea + 4;
      at = deviceArea + 4;
    } else {
      const ev: u32 = (flags & DF_EVENT_IDX) != 0 ? 2 : 0;
      driverArea = desc + up(16 * size, 16);
      deviceArea = up(driverArea + 4 + 2 * size + ev, 4);
      at = up(deviceArea + 4 + 8 * size + ev, 16);
    }
    const r = vs + GV_RINGS + <usize>(24 * q);
    store<u64>(r, <u64>desc, 0);
    store<u64>(r, <u64>driverArea, 8);
    store<u64>(r, <u64>deviceArea, 16);
    const drv = ramBase + <usize>(drvBase + q * drvStride);
    if (driverInit(drv, flags, size, ramBase, ramBytes, desc, driverArea, deviceArea, doorbell, sleepWord, irq, 0) != 0)
      return -1;
  }
  store<u32>(vs, <u32>(ramBase + <usize>drvBase), GV_RX_DRV);
  store<u32>(vs, <u32>(ramBase + <usize>(drvBase + drvStride)), GV_TX_DRV);
  store<u32>(vs, <u32>(ramBase + <usize>(drvBase + 2 * drvStride)), GV_EV_DRV);
  at = up(at, 64);
  store<u32>(vs, <u32>(ramBase + <usize>at), GV_REAP);
  at = up(at + 8 * n, 64);
  store<u32>(vs, <u32>(ramBase + <usize>at), GV_SEG);
  at += 64;
  store<u64>(vs, <u64>at, GV_RX_BUF_GPA);
  at += n * bufBytes;
  store<u64>(vs, <u64>at, GV_TX_BUF_GPA);
  at += n * bufBytes;
  store<u64>(vs, <u64>at, GV_EV_BUF_GPA);
  at = up(at + nEv * GV_EVENT_BUF_BYTES, 64);
  const ep = ramBase + <usize>at;
  const epBytes = endpointBytes(maxConns, connRingBytes);
  if (
    endpointInit(
      ep,
      epBytes,
      0,
      <u32>cid,
      VSOCK_CID_HOST,
      maxConns,
      connRingBytes,
      appDoorbell,
      bufBytes - VSOCK_HDR_BYTES,
    ) != 0
  )
    return -1;
  store<u32>(vs, <u32>ep, GV_ENDPOINT);
  return 0;
}

@inline function ok(vs: usize): bool {
  return load<u32>(vs) == GV_MAGIC && endpointOk(<usize>load<u32>(vs, GV_ENDPOINT));
}

/** §5.10.5 steps 2 and 3: give the event and rx queues their buffers, and kick. Returns 0 or -1. */
export function gvsockStart(vs: usize): i32 {
  if (!ok(vs) || load<u32>(vs, GV_STARTED) != 0) return -1;
  refill(vs, <usize>load<u32>(vs, GV_EV_DRV), load<u64>(vs, GV_EV_BUF_GPA), GV_EVENT_BUF_BYTES);
  refill(vs, <usize>load<u32>(vs, GV_RX_DRV), load<u64>(vs, GV_RX_BUF_GPA), load<u32>(vs, GV_BUF_BYTES));
  store<u32>(vs, 1, GV_STARTED);
  return 0;
}

/** Posts a device-writable buffer for every free slot (buffer = token's), then kicks. */
function refill(vs: usize, drv: usize, bufGpa: u64, bytes: u32): void {
  let added = false;
  while (drvFree(drv) != 0) {
    const t = drvNextToken(drv);
    if (drvAdd(drv, 0, 0, bufGpa + <u64>t * <u64>bytes, bytes) < 0) break;
    added = true;
  }
  if (added) drvKick(drv);
}

/**
 * One run of the driver: packets from the device into the endpoint, device events, then the
 * endpoint's owed packets onto the tx queue, at most `budget` of each. Returns items handled.
 */
export function gvsockRun(vs: usize, budget: u32): i32 {
  if (!ok(vs) || load<u32>(vs, GV_STARTED) == 0) return -1;
  const ep = <usize>load<u32>(vs, GV_ENDPOINT);
  const ram = <usize>load<u32>(vs, GV_RAM_BASE);
  const bufBytes = load<u32>(vs, GV_BUF_BYTES);
  const reap = <usize>load<u32>(vs, GV_REAP);
  const seg = <usize>load<u32>(vs, GV_SEG);
  const n = load<u32>(vs, GV_QUEUE_SIZE);
  let items: u32 = 0;
  // Events first: a transport reset ends every connection before new packets are read.
  const evDrv = <usize>load<u32>(vs, GV_EV_DRV);
  const evBuf = load<u64>(vs, GV_EV_BUF_GPA);
  const ne = drvReap(evDrv, reap, load<u32>(vs, GV_EVENT_QUEUE_SIZE));
  for (let i: u32 = 0; i < ne; i++) {
    const t = load<u32>(reap + ((<usize>i) << 3));
    const len = load<u32>(reap + ((<usize>i) << 3), 4);
    // SAFETY: the token is a slot of the event queue; its buffer was laid out inside the area.
    if (len >= 4 && load<u32>(ram + <usize>(evBuf + <u64>t * GV_EVENT_BUF_BYTES)) == VSOCK_EVENT_TRANSPORT_RESET)
      transportReset(vs, ep);
  }
  if (ne != 0) refill(vs, evDrv, evBuf, GV_EVENT_BUF_BYTES);
  items += ne;
  const rxDrv = <usize>load<u32>(vs, GV_RX_DRV);
  const rxBuf = load<u64>(vs, GV_RX_BUF_GPA);
  const nr = drvReap(rxDrv, reap, budget < n ? budget : n);
  for (let i: u32 = 0; i < nr; i++) {
    const t = load<u32>(reap + ((<usize>i) << 3));
    let len = load<u32>(reap + ((<usize>i) << 3), 4);
    // A device that claims more than the buffer holds is not believed (E4 from the driver's side).
    if (len > bufBytes) {
      len = bufBytes;
      store<u64>(vs + GV_RX_TRUNCATED, load<u64>(vs + GV_RX_TRUNCATED) + 1);
    }
    // SAFETY: the reap returns only tokens < N that were in flight, and len <= bufBytes (above):
    // the segment is one of the rx buffers laid out inside the driver's area.
    store<u32>(seg, <u32>(ram + <usize>(rxBuf + <u64>t * <u64>bufBytes)));
    store<u32>(seg, len, 4);
    epReceive(ep, seg, 1, len);
  }
  if (nr != 0) refill(vs, rxDrv, rxBuf, bufBytes);
  items += nr;
  // Transmit: reclaim sent buffers, then fill free ones with owed packets.
  const txDrv = <usize>load<u32>(vs, GV_TX_DRV);
  const txBuf = load<u64>(vs, GV_TX_BUF_GPA);
  drvReap(txDrv, reap, n);
  epScan(ep, bufBytes - VSOCK_HDR_BYTES);
  let sent: u32 = 0;
  while (sent < budget && drvFree(txDrv) != 0) {
    const gpa = txBuf + <u64>drvNextToken(txDrv) * <u64>bufBytes;
    store<u32>(seg, <u32>(ram + <usize>gpa));
    store<u32>(seg, bufBytes, 4);
    const bytes = epEmit(ep, seg, 1, bufBytes, bufBytes - VSOCK_HDR_BYTES);
    if (bytes == 0) break;
    drvAdd(txDrv, gpa, bytes, 0, 0);
    sent++;
  }
  if (sent != 0) drvKick(txDrv);
  items += sent;
  signalApp(ep);
  return <i32>items;
}

/** §5.10.6.7: drop every connection, read the CID again; listeners stay. */
function transportReset(vs: usize, ep: usize): void {
  closeAll(ep, CR_TRANSPORT);
  bumpCounter(ep, EPC_TRANSPORT_RESETS);
  const cid = load<u64>(<usize>load<u32>(vs, GV_CONFIG));
  if (guestCidOk(cid)) store<u32>(ep, <u32>cid, EP_LOCAL_CID);
  store<u64>(vs + GV_TRANSPORT_RESETS, load<u64>(vs + GV_TRANSPORT_RESETS) + 1);
}

/**
 * Before the caller sleeps on the interrupt word: interrupts on for every queue, then re-check
 * (E6). Returns > 0 when there is work already (completions, or packets owed with a free tx buffer).
 */
export function gvsockArm(vs: usize): i32 {
  if (!ok(vs) || load<u32>(vs, GV_STARTED) == 0) return 0;
  let pending = drvEnableIrq(<usize>load<u32>(vs, GV_RX_DRV));
  pending += drvEnableIrq(<usize>load<u32>(vs, GV_EV_DRV));
  const txDrv = <usize>load<u32>(vs, GV_TX_DRV);
  const txDone = drvEnableIrq(txDrv);
  const ep = <usize>load<u32>(vs, GV_ENDPOINT);
  if (epScan(ep, load<u32>(vs, GV_BUF_BYTES) - VSOCK_HDR_BYTES) != 0 && (drvFree(txDrv) != 0 || txDone != 0)) pending++;
  signalApp(ep);
  return pending;
}
