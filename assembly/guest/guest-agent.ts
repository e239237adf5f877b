// The guest agent: Wasm that a guest's vCPU runs, serving the control plane over the guest's
// vsock device (like qemu-guest-agent over virtio-vsock). It listens on QGA_PORT and answers
// frames (agent-frame.ts) with binary bodies:
//
//   QGA_PING      ()                      -> ()
//   QGA_INFO      ()                      -> { u32 version, u32 vcpu, u64 uptimeNs, u64 requests,
//                                              u64 rxBytes, u64 txBytes, u64 polls }   (QGA_INFO_BYTES)
//   QGA_SHUTDOWN  ()                      -> ()   then, once the answer is on the wire, the agent
//                                              halts: gagentPoll returns QGA_HALTED
//   4..7          the commands of the drivers the vCPU runs (guest-commands.ts), when it runs any
//
// A frame with bad magic or an oversized length closes its connection (the stream cannot be
// resynchronised); an unknown version or type gets an error status and the connection goes on.
//
// State 'GAGT' (in guest RAM, QGA_STATE_BYTES):
//   +0  u32 magic  +4 u32 vs (vsock driver state)  +8 u32 clock (host address of a u64 ns clock,
//   written by the vCPU before each poll: time is injected)  +12 u32 vcpu
//   +16 u64 bootNs (clock at the first poll)  +24 u64 requests  +32 u64 badFrames  +40 u64 polls
//   +48 u32 halting (a SHUTDOWN was answered)  +52 u32 prog (the drivers' program block, 0: none)
//   +64 u32 adopted[maxConns]  generation + 1 of each connection this agent has taken (0: none)
//   +128 scratch: one request header, then one response frame  +448 a command's body (16 B)

import {
  AFK_REQUEST,
  AFK_RESPONSE,
  AFS_BAD_FRAME,
  AFS_OK,
  AFS_UNKNOWN_TYPE,
  AFS_UNSUPPORTED_VERSION,
  AF_HEADER_BYTES,
  AF_MAGIC,
  AF_OFF_ID,
  AF_OFF_KIND,
  AF_OFF_LENGTH,
  AF_OFF_MAGIC,
  AF_OFF_TYPE,
  AF_OFF_VERSION,
  AF_VERSION,
  writeFrameHeader,
} from './agent-frame';
import { GV_ENDPOINT, GV_RX_DRV } from './vsock-driver';
import { gvsockArm, gvsockRun } from './vsock-driver';
import { GD_IRQ } from './driver-state';
import { QGA_COMMAND_BODY, isProgramCommand, programCommand } from './guest-commands';
import {
  AR_CLOSE,
  AR_RELEASE,
  CONN_APP_REQ,
  CONN_GENERATION,
  CONN_LOCAL_PORT,
  CONN_ORIGIN,
  CONN_RX_CNT,
  CONN_RX_TAIL,
  CONN_STATE,
  CONN_TX_CNT,
  CONN_TX_HEAD,
  CS_CLOSED,
  CS_ESTABLISHED,
  EPC_RX_BYTES,
  EPC_TX_BYTES,
  EP_COUNTERS,
  EP_HIGH_WATER,
  EP_LISTENERS,
  EP_MAX_CONNS,
  EP_RING_BYTES,
  ORIGIN_INCOMING,
  connAt,
  rxRing,
  txRing,
} from '../vsock/endpoint';

export const QGA_MAGIC: u32 = 0x54474147; // 'GAGT'
export const QGA_PORT: u32 = 1025;
export const QGA_PROTOCOL: u32 = 1;
export const QGA_PING: u16 = 1;
export const QGA_INFO: u16 = 2;
export const QGA_SHUTDOWN: u16 = 3;
export const QGA_INFO_BYTES: u32 = 48;
/** Largest request body the guest agent reads; a frame announcing more closes its connection. */
export const QGA_MAX_BODY: u32 = 1024;
export const QGA_STATE_BYTES: u32 = 512;
export const QGA_HALTED: i32 = 1;
/** gagentRound: the agent did work or has some pending (do not sleep). */
export const QGA_BUSY: i32 = 2;
/** Room kept in a connection's ring for the largest answer. */
const ANSWER_MAX: u32 = 128;

const GA_VS: u32 = 4;
const GA_CLOCK: u32 = 8;
const GA_VCPU: u32 = 12;
const GA_BOOT: u32 = 16;
const GA_REQUESTS: u32 = 24;
const GA_BAD: u32 = 32;
const GA_POLLS: u32 = 40;
const GA_HALTING: u32 = 48;
const GA_PROG: u32 = 52;
const GA_BODY: u32 = 448;
const GA_ADOPTED: u32 = 64;
const GA_SCRATCH: u32 = 128;
const GA_MAX_CONNS: u32 = 16;

/** Sets up the agent at `ga` (guest RAM) over an initialised, started vsock driver; listens on QGA_PORT. */
export function gagentInit(ga: usize, vs: usize, clock: usize, vcpu: u32): i32 {
  const ep = <usize>load<u32>(vs, GV_ENDPOINT);
  if (load<u32>(ep, EP_MAX_CONNS) > GA_MAX_CONNS) return -1;
  memory.fill(ga, 0, QGA_STATE_BYTES);
  store<u32>(ga, QGA_MAGIC);
  store<u32>(ga, <u32>vs, GA_VS);
  store<u32>(ga, <u32>clock, GA_CLOCK);
  store<u32>(ga, vcpu, GA_VCPU);
  store<u64>(ga, 0, GA_BOOT); // taken from the clock at the first poll (the vCPU writes it before each)
  // Listener slot 0: the port, then (release) the active word.
  store<u32>(ep + EP_LISTENERS, QGA_PORT);
  atomic.store<u32>(ep + EP_LISTENERS, 1, 4);
  return 0;
}

/**
 * One round: run the driver, answer whole requests, run the driver again to send the answers;
 * with nothing to do, wait on the interrupt word up to `waitNs`. Returns 0, or QGA_HALTED once
 * a SHUTDOWN was answered and the answer has left.
 */
export function gagentPoll(ga: usize, waitNs: i64): i32 {
  const rc = gagentRound(ga, waitNs);
  return rc == QGA_BUSY ? 0 : rc;
}

/** Gives the agent the drivers' program block (guest-program.ts): it answers their commands. */
export function gagentSetProgram(ga: usize, prog: usize): void {
  store<u32>(ga, <u32>prog, GA_PROG);
}

/**
 * gagentPoll that says whether it did work: QGA_BUSY when it did or found work pending after
 * arming the driver (the caller must not sleep), 0 when idle and armed (after a wait of up to
 * `waitNs`), QGA_HALTED, or -1.
 */
export function gagentRound(ga: usize, waitNs: i64): i32 {
  if (load<u32>(ga) != QGA_MAGIC) return -1;
  const vs = <usize>load<u32>(ga, GA_VS);
  const ep = <usize>load<u32>(vs, GV_ENDPOINT);
  const irq = <usize>load<u32>(<usize>load<u32>(vs, GV_RX_DRV), GD_IRQ);
  store<u64>(ga, load<u64>(ga, GA_POLLS) + 1, GA_POLLS);
  if (load<u64>(ga, GA_BOOT) == 0) store<u64>(ga, atomic.load<u64>(<usize>load<u32>(ga, GA_CLOCK)), GA_BOOT);
  const seen = atomic.load<i32>(irq);
  let work = gvsockRun(vs, 64);
  if (work < 0) return -1;
  const answered = serve(ga, ep);
  if (answered != 0) work += gvsockRun(vs, 64);
  if (load<u32>(ga, GA_HALTING) != 0 && unsent(ep) == 0) return QGA_HALTED;
  if (work != 0 || answered != 0 || gvsockArm(vs) != 0) return QGA_BUSY;
  if (waitNs > 0) atomic.wait<i32>(irq, seen, waitNs);
  return 0;
}

/** Bytes written by the agent and not yet sent by the engine, over every connection. */
function unsent(ep: usize): u32 {
  const hw = atomic.load<u32>(ep, EP_HIGH_WATER);
  let n: u32 = 0;
  for (let i: u32 = 0; i < hw; i++) {
    const c = connAt(ep, i);
    if (atomic.load<u32>(c, CONN_STATE) == CS_ESTABLISHED)
      n += atomic.load<u32>(c, CONN_TX_HEAD) - atomic.load<u32>(c, CONN_TX_CNT);
  }
  return n;
}

/** Adopts new connections, releases dead ones, answers every complete request. Returns answers written. */
function serve(ga: usize, ep: usize): u32 {
  const hw = atomic.load<u32>(ep, EP_HIGH_WATER);
  let answers: u32 = 0;
  for (let i: u32 = 0; i < hw && i < GA_MAX_CONNS; i++) {
    const c = connAt(ep, i);
    const s = atomic.load<u32>(c, CONN_STATE);
    const slot = ga + GA_ADOPTED + <usize>(i * 4);
    const gen = load<u32>(c, CONN_GENERATION) + 1;
    if (s == CS_CLOSED) {
      // The agent opens no connection of its own: every closed one is an accepted one to release.
      atomic.or<u32>(c + CONN_APP_REQ, AR_RELEASE);
      store<u32>(slot, 0);
      continue;
    }
    if (s != CS_ESTABLISHED || load<u32>(c, CONN_ORIGIN) != ORIGIN_INCOMING) continue;
    if (load<u32>(c, CONN_LOCAL_PORT) != QGA_PORT) continue;
    if (load<u32>(slot) != gen) store<u32>(slot, gen);
    while (answerOne(ga, ep, c, i)) answers++;
  }
  return answers;
}

/** Reads one whole request from connection i and writes its answer. False when there is none (or no room). */
function answerOne(ga: usize, ep: usize, c: usize, i: u32): bool {
  const ringBytes = load<u32>(ep, EP_RING_BYTES);
  const tail = atomic.load<u32>(c, CONN_RX_TAIL);
  const avail = atomic.load<u32>(c, CONN_RX_CNT) - tail;
  if (avail < AF_HEADER_BYTES) return false;
  const h = ga + GA_SCRATCH;
  copyFromRing(h, rxRing(ep, i), ringBytes, tail, AF_HEADER_BYTES);
  const length = load<u32>(h, AF_OFF_LENGTH);
  if (load<u32>(h, AF_OFF_MAGIC) != AF_MAGIC || length > QGA_MAX_BODY) {
    // The stream cannot be resynchronised: say why, then close the connection (the answer first).
    store<u64>(ga, load<u64>(ga, GA_BAD) + 1, GA_BAD);
    respond(ep, c, i, h, AFS_BAD_FRAME, 0, 0);
    atomic.or<u32>(c + CONN_APP_REQ, AR_CLOSE);
    atomic.store<u32>(c, atomic.load<u32>(c, CONN_RX_CNT), CONN_RX_TAIL);
    return false;
  }
  if (avail < AF_HEADER_BYTES + length) return false;
  // Room for the largest answer first, so that a request is consumed only when it can be answered.
  const txRoom = ringBytes - (atomic.load<u32>(c, CONN_TX_HEAD) - atomic.load<u32>(c, CONN_TX_CNT));
  if (txRoom < AF_HEADER_BYTES + ANSWER_MAX) return false;
  const body = ga + GA_BODY;
  const blen = length < QGA_COMMAND_BODY ? length : QGA_COMMAND_BODY;
  if (blen != 0) copyFromRing(body, rxRing(ep, i), ringBytes, tail + AF_HEADER_BYTES, blen);
  atomic.store<u32>(c, tail + AF_HEADER_BYTES + length, CONN_RX_TAIL);
  store<u64>(ga, load<u64>(ga, GA_REQUESTS) + 1, GA_REQUESTS);
  if (load<u8>(h, AF_OFF_VERSION) != AF_VERSION) {
    respond(ep, c, i, h, AFS_UNSUPPORTED_VERSION, 0, 0);
    return true;
  }
  const type = load<u16>(h, AF_OFF_TYPE);
  const known = type == QGA_PING || type == QGA_INFO || type == QGA_SHUTDOWN || isProgramCommand(type);
  if (load<u8>(h, AF_OFF_KIND) != AFK_REQUEST || !known) {
    respond(ep, c, i, h, AFS_UNKNOWN_TYPE, 0, 0);
    return true;
  }
  if (isProgramCommand(type)) {
    const out = h + AF_HEADER_BYTES + 64;
    const now = atomic.load<u64>(<usize>load<u32>(ga, GA_CLOCK));
    const n = programCommand(<usize>load<u32>(ga, GA_PROG), type, body, blen, out, now);
    if (n < 0) respond(ep, c, i, h, <u16>-n, 0, 0);
    else respond(ep, c, i, h, AFS_OK, out, <u32>n);
    return true;
  }
  if (type == QGA_INFO) {
    const b = h + AF_HEADER_BYTES + 64;
    const now = atomic.load<u64>(<usize>load<u32>(ga, GA_CLOCK));
    store<u32>(b, QGA_PROTOCOL, 0);
    store<u32>(b, load<u32>(ga, GA_VCPU), 4);
    store<u64>(b, now - load<u64>(ga, GA_BOOT), 8);
    store<u64>(b, load<u64>(ga, GA_REQUESTS), 16);
    store<u64>(b, load<u64>(ep + EP_COUNTERS + 8 * EPC_RX_BYTES), 24);
    store<u64>(b, load<u64>(ep + EP_COUNTERS + 8 * EPC_TX_BYTES), 32);
    store<u64>(b, load<u64>(ga, GA_POLLS), 40);
    respond(ep, c, i, h, AFS_OK, b, QGA_INFO_BYTES);
    return true;
  }
  respond(ep, c, i, h, AFS_OK, 0, 0);
  if (type == QGA_SHUTDOWN) store<u32>(ga, 1, GA_HALTING);
  return true;
}

/** Writes a response frame (header after the request's, then the body) into connection i's tx ring. */
function respond(ep: usize, c: usize, i: u32, req: usize, status: u16, body: usize, len: u32): void {
  const f = req + 32;
  writeFrameHeader(f, AFK_RESPONSE, load<u16>(req, AF_OFF_TYPE), load<u32>(req, AF_OFF_ID), status, len);
  const ringBytes = load<u32>(ep, EP_RING_BYTES);
  const head = atomic.load<u32>(c, CONN_TX_HEAD);
  if (ringBytes - (head - atomic.load<u32>(c, CONN_TX_CNT)) < AF_HEADER_BYTES + len) return;
  copyToRing(txRing(ep, i), ringBytes, head, f, AF_HEADER_BYTES);
  if (len != 0) copyToRing(txRing(ep, i), ringBytes, head + AF_HEADER_BYTES, body, len);
  // Release: the frame is in the ring before the engine sees the new producer index.
  atomic.store<u32>(c, head + AF_HEADER_BYTES + len, CONN_TX_HEAD);
}

function copyFromRing(dst: usize, ring: usize, ringBytes: u32, pos: u32, len: u32): void {
  const at = pos & (ringBytes - 1);
  const first = ringBytes - at < len ? ringBytes - at : len;
  memory.copy(dst, ring + at, first);
  if (first < len) memory.copy(dst + first, ring, len - first);
}

function copyToRing(ring: usize, ringBytes: u32, pos: u32, src: usize, len: u32): void {
  const at = pos & (ringBytes - 1);
  const first = ringBytes - at < len ? ringBytes - at : len;
  memory.copy(ring + at, src, first);
  if (first < len) memory.copy(ring, src + first, len - first);
}
