// The virtio-vsock device (§5.10), device side: a job on a DPU core. Its host side is an
// endpoint (assembly/vsock/endpoint.ts) that the control plane's sockets share; its guest side
// is three virtqueues in the guest's RAM. One run:
//
//   1. tx queue: pop up to a burst of the guest's packets, hand each to the endpoint (always,
//      even when the rx queue is full: replies wait in bounded per-connection state, §5.10.6.1)
//   2. the endpoint's pass: application requests, credit owed, packets to send (a lower bound)
//   3. rx queue: pop exactly that many of the guest's receive buffers and fill them
//   4. event queue: a TRANSPORT_RESET owed to the driver (§5.10.6.7)
//   5. wake the application once if anything it can see changed
//
// State 'VSCK' (layout 1):
//   +64  u32 rxVq  +68 u32 txVq  +72 u32 eventVq          queue states (VQST)
//   +76  u32 rxBurst +80 u32 txBurst +84 u32 eventBurst   burst buffers (VQBR)
//   +88  u32 endpoint   host side (VSEP)
//   +92  u32 status     DEVICE_NEEDS_RESET once a queue broke
//   +96  u32 configIrq  config-change interrupt word (0: none)
//   +100 u32 events     device events owed to the driver (bit 0: TRANSPORT_RESET)
//   +104 u32 maxBurst   chains per queue per run, at most
//   +108 u32 brokenQueue  which queue broke (VSOCK_VQ_* + 1; 0 while healthy)
//   +112 le64 config    struct virtio_vsock_config { le64 guest_cid } (§5.10.4), read by the driver
//   +120 u64 txChains  +128 u64 rxChains  +136 u64 eventsSent  +144 u64 rxRejected  +152 u64 txRejected
//   +160 i32 appWake    the endpoint's app doorbell: the control plane's sockets wait on it

import { headerOk } from '../common/header';
import {
  CH_READ_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_USED_LEN,
  CH_WRITE_BYTES,
  CH_WRITE_SEGS,
  SEG_BYTES,
  chainAt,
  segsBase,
} from '../virtio/burst';
import { STATUS_DEVICE_NEEDS_RESET } from '../virtio/layout';
import { guestWrote } from '../common/guest-write';
import { VQ_GMAP } from '../virtio/queue-state';
import { vqArm, vqPop, vqPush } from '../virtio/vq';
import {
  CR_TRANSPORT,
  EPC_TRANSPORT_RESETS,
  EPC_MALFORMED,
  EPC_RX_BUF_REJECTED,
  EPC_RX_WASTED,
  EP_GUEST_MAP,
  EP_MAX_PAYLOAD,
  EP_PAYLOAD_HINT,
  EP_PEER_CID,
  bumpCounter,
  closeAll,
  endpointOk,
  signalApp,
} from './endpoint';
import {
  VSOCK_EVENT_BYTES,
  VSOCK_EVENT_TRANSPORT_RESET,
  VSOCK_HDR_BYTES,
  VSOCK_VQ_EVENT,
  VSOCK_VQ_RX,
  VSOCK_VQ_TX,
  guestCidOk,
} from './packet';
import { epReceive } from './receive';
import { epScan } from './requests';
import { epEmit } from './transmit';

export const VS_MAGIC: u32 = 0x4b435356; // 'VSCK'
export const VS_LAYOUT: u32 = 1;
export const VS_RX_VQ: u32 = 64;
export const VS_TX_VQ: u32 = 68;
export const VS_EVENT_VQ: u32 = 72;
export const VS_RX_BURST: u32 = 76;
export const VS_TX_BURST: u32 = 80;
export const VS_EVENT_BURST: u32 = 84;
export const VS_ENDPOINT: u32 = 88;
export const VS_STATUS: u32 = 92;
export const VS_CONFIG_IRQ: u32 = 96;
export const VS_EVENTS: u32 = 100;
export const VS_MAX_BURST: u32 = 104;
export const VS_BROKEN_QUEUE: u32 = 108;
export const VS_CONFIG: u32 = 112;
export const VS_TX_CHAINS: u32 = 120;
export const VS_RX_CHAINS: u32 = 128;
export const VS_EVENTS_SENT: u32 = 136;
export const VS_RX_REJECTED: u32 = 144;
export const VS_TX_REJECTED: u32 = 152;
export const VS_APP_WAKE: u32 = 160;
export const VS_STATE_BYTES: u32 = 192;

/** VS_EVENTS bit: a TRANSPORT_RESET event is owed to the driver. */
export const VSE_TRANSPORT_RESET: u32 = 1;

@inline function bump(state: usize, off: u32, by: u64 = 1): void {
  store<u64>(state + off, load<u64>(state + off) + by);
}

/** Job entry: one run. Returns chains handled (0 while broken or idle); -1 on a bad state region. */
export function vsockRun(state: usize, budget: i32): i32 {
  if (!headerOk(state, VS_MAGIC, VS_LAYOUT, VS_STATE_BYTES)) return -1;
  if ((load<u32>(state, VS_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0) return 0;
  const ep = <usize>load<u32>(state, VS_ENDPOINT);
  if (!endpointOk(ep)) return -1;
  let max = <u32>budget;
  const cap = load<u32>(state, VS_MAX_BURST);
  if (max > cap) max = cap;
  const tx = transmitQueue(state, ep, max);
  if (tx < 0) return needsReset(state, ep, VSOCK_VQ_TX);
  const rx = receiveQueue(state, ep, max);
  if (rx < 0) return needsReset(state, ep, VSOCK_VQ_RX);
  const ev = eventQueue(state);
  if (ev < 0) return needsReset(state, ep, VSOCK_VQ_EVENT);
  signalApp(ep);
  return tx + rx + ev;
}

/** The guest's packets (its tx queue) into the endpoint. Chains handled, or -1 (queue broken). */
function transmitQueue(state: usize, ep: usize, max: u32): i32 {
  const vq = <usize>load<u32>(state, VS_TX_VQ);
  const burst = <usize>load<u32>(state, VS_TX_BURST);
  const n = vqPop(vq, burst, max);
  if (n <= 0) return n;
  const segs = segsBase(burst);
  let rejected: u32 = 0;
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = chainAt(burst, i);
    store<u32>(rec, 0, CH_USED_LEN); // the device writes nothing into a tx buffer
    if (load<u16>(rec, CH_STATUS) != 0) {
      rejected++;
      continue;
    }
    // V4: tx buffers are device-readable only (§5.10.6.4); a writable part makes the packet malformed.
    if (load<u16>(rec, CH_WRITE_SEGS) != 0) {
      bumpCounter(ep, EPC_MALFORMED);
      rejected++;
      continue;
    }
    const first = segs + <usize>load<u32>(rec, CH_SEG_START) * SEG_BYTES;
    epReceive(ep, first, <u32>load<u16>(rec, CH_READ_SEGS), load<u32>(rec, CH_READ_BYTES));
  }
  if (vqPush(vq, burst, <u32>n) < 0) return -1;
  bump(state, VS_TX_CHAINS, <u64>n);
  if (rejected) bump(state, VS_TX_REJECTED, rejected);
  return n;
}

/** Packets owed to the guest into its receive buffers. Chains used, or -1 (queue broken). */
function receiveQueue(state: usize, ep: usize, max: u32): i32 {
  const maxPayload = load<u32>(ep, EP_MAX_PAYLOAD);
  let room = load<u32>(ep, EP_PAYLOAD_HINT);
  if (room == 0 || room > maxPayload) room = maxPayload;
  const want = epScan(ep, room);
  if (want == 0) return 0;
  const vq = <usize>load<u32>(state, VS_RX_VQ);
  const burst = <usize>load<u32>(state, VS_RX_BURST);
  const n = vqPop(vq, burst, want < max ? want : max);
  if (n <= 0) return n;
  // The engine's writes into these buffers are DMA into guest RAM: through the queue's map.
  store<u32>(ep, load<u32>(vq, VQ_GMAP), EP_GUEST_MAP);
  const segs = segsBase(burst);
  let seen: u32 = 0;
  let rejected: u32 = 0;
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = chainAt(burst, i);
    store<u32>(rec, 0, CH_USED_LEN);
    if (load<u16>(rec, CH_STATUS) != 0) {
      rejected++;
      continue;
    }
    const capBytes = load<u32>(rec, CH_WRITE_BYTES);
    // V17: rx buffers are device-writable only (§5.10.6.4); V18: each must hold a header.
    if (load<u16>(rec, CH_READ_SEGS) != 0 || capBytes < VSOCK_HDR_BYTES) {
      bumpCounter(ep, EPC_RX_BUF_REJECTED);
      rejected++;
      continue;
    }
    if (capBytes - VSOCK_HDR_BYTES > seen) seen = capBytes - VSOCK_HDR_BYTES;
    const first = segs + <usize>(load<u32>(rec, CH_SEG_START) + <u32>load<u16>(rec, CH_READ_SEGS)) * SEG_BYTES;
    const written = epEmit(ep, first, <u32>load<u16>(rec, CH_WRITE_SEGS), capBytes, room);
    if (written == 0) bumpCounter(ep, EPC_RX_WASTED);
    store<u32>(rec, written, CH_USED_LEN);
  }
  if (vqPush(vq, burst, <u32>n) < 0) return -1;
  // The next round counts data packets at what one buffer held in this one.
  if (seen != 0) store<u32>(ep, seen < maxPayload ? seen : maxPayload, EP_PAYLOAD_HINT);
  bump(state, VS_RX_CHAINS, <u64>n);
  if (rejected) bump(state, VS_RX_REJECTED, rejected);
  return n;
}

/** A TRANSPORT_RESET owed to the driver into one event buffer. Chains used (0/1), or -1. */
function eventQueue(state: usize): i32 {
  if ((load<u32>(state, VS_EVENTS) & VSE_TRANSPORT_RESET) == 0) return 0;
  const vq = <usize>load<u32>(state, VS_EVENT_VQ);
  const burst = <usize>load<u32>(state, VS_EVENT_BURST);
  const n = vqPop(vq, burst, 1);
  if (n <= 0) return n;
  const rec = chainAt(burst, 0);
  store<u32>(rec, 0, CH_USED_LEN);
  if (
    load<u16>(rec, CH_STATUS) == 0 &&
    load<u16>(rec, CH_READ_SEGS) == 0 &&
    load<u32>(rec, CH_WRITE_BYTES) >= VSOCK_EVENT_BYTES
  ) {
    const s = segsBase(burst) + <usize>load<u32>(rec, CH_SEG_START) * SEG_BYTES;
    // SAFETY: the first writable segment was translated by the pop; four bytes fit (checked
    // above), though maybe across segments: write them one by one through the segment list.
    writeEventId(<usize>load<u32>(vq, VQ_GMAP), s, <u32>load<u16>(rec, CH_WRITE_SEGS), VSOCK_EVENT_TRANSPORT_RESET);
    store<u32>(rec, VSOCK_EVENT_BYTES, CH_USED_LEN);
    store<u32>(state, load<u32>(state, VS_EVENTS) & ~VSE_TRANSPORT_RESET, VS_EVENTS);
    bump(state, VS_EVENTS_SENT);
  } else {
    bump(state, VS_RX_REJECTED);
  }
  if (vqPush(vq, burst, 1) < 0) return -1;
  return 1;
}

function writeEventId(map: usize, segs: usize, nsegs: u32, id: u32): void {
  let k: u32 = 0;
  for (let i: u32 = 0; i < nsegs && k < VSOCK_EVENT_BYTES; i++) {
    const s = segs + <usize>i * SEG_BYTES;
    const addr = <usize>load<u32>(s);
    const len = load<u32>(s, 4);
    let j: u32 = 0;
    for (; j < len && k < VSOCK_EVENT_BYTES; j++) {
      // SAFETY: j < len: inside a segment the pop translated and bounds-checked.
      store<u8>(addr + j, <u8>(id >> (8 * k)));
      k++;
    }
    if (j != 0) guestWrote(map, addr, j);
  }
}

/**
 * Arm entry, before the core sleeps: enable the guest's kicks and re-check (E6). Returns work
 * pending (> 0: do not sleep): tx packets waiting, or packets owed while rx buffers wait.
 */
export function vsockArm(state: usize): i32 {
  if (!headerOk(state, VS_MAGIC, VS_LAYOUT, VS_STATE_BYTES)) return 0;
  if ((load<u32>(state, VS_STATUS) & STATUS_DEVICE_NEEDS_RESET) != 0) return 0;
  const ep = <usize>load<u32>(state, VS_ENDPOINT);
  if (!endpointOk(ep)) return 0;
  let pending = vqArm(<usize>load<u32>(state, VS_TX_VQ));
  const maxPayload = load<u32>(ep, EP_MAX_PAYLOAD);
  let room = load<u32>(ep, EP_PAYLOAD_HINT);
  if (room == 0 || room > maxPayload) room = maxPayload;
  const rxBuffers = vqArm(<usize>load<u32>(state, VS_RX_VQ));
  if (epScan(ep, room) != 0) pending += rxBuffers;
  const evBuffers = vqArm(<usize>load<u32>(state, VS_EVENT_VQ));
  if ((load<u32>(state, VS_EVENTS) & VSE_TRANSPORT_RESET) != 0) pending += evBuffers;
  signalApp(ep);
  return <i32>pending;
}

/**
 * A transport reset (the device was reset, restored or given a new CID): every connection of
 * the host side ends, and the driver is told through the event queue to drop its own and read
 * the CID again (§5.10.6.7). Returns 0, or -1 when the state or the new CID is refused.
 */
export function vsockTransportReset(state: usize, guestCid: u64): i32 {
  if (!headerOk(state, VS_MAGIC, VS_LAYOUT, VS_STATE_BYTES) || !guestCidOk(guestCid)) return -1;
  const ep = <usize>load<u32>(state, VS_ENDPOINT);
  if (!endpointOk(ep)) return -1;
  closeAll(ep, CR_TRANSPORT);
  store<u64>(state, guestCid, VS_CONFIG);
  store<u32>(ep, <u32>guestCid, EP_PEER_CID);
  store<u32>(state, load<u32>(state, VS_EVENTS) | VSE_TRANSPORT_RESET, VS_EVENTS);
  bumpCounter(ep, EPC_TRANSPORT_RESETS);
  signalApp(ep);
  return 0;
}

/**
 * §2.1.2: a queue broke (a ring-structure violation, bad-input B/C ids): set DEVICE_NEEDS_RESET,
 * end the host side's connections (nothing more can reach the guest) and send a configuration
 * change notification. Only this device stops; the core and its other jobs go on.
 */
function needsReset(state: usize, ep: usize, queue: u32): i32 {
  store<u32>(state, load<u32>(state, VS_STATUS) | STATUS_DEVICE_NEEDS_RESET, VS_STATUS);
  store<u32>(state, queue + 1, VS_BROKEN_QUEUE);
  closeAll(ep, CR_TRANSPORT);
  signalApp(ep);
  const irq = <usize>load<u32>(state, VS_CONFIG_IRQ);
  if (irq != 0) {
    atomic.add<i32>(irq, 1);
    atomic.notify(irq, -1);
  }
  return 0;
}
