import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import {
  NET_DOWN_DELETE,
  NET_DOWN_FLUSH_ALL,
  NET_DOWN_FLUSH_COOKIE,
  NET_DOWN_FLUSH_MASKED,
  NET_DOWN_INSTALL,
  NET_DOWN_INSTALL_REINJECT,
  NET_DOWN_REINJECT,
  NET_DOWN_RELEASE,
  NET_KEY_BYTES,
  NET_UPC_ACTIONS,
  NET_UPC_ACTION_BYTES,
  NET_UPC_CAP_LEN,
  NET_UPC_CODE,
  NET_UPC_COOKIE,
  NET_UPC_DEV_PORT,
  NET_UPC_FLAGS,
  NET_UPC_FRAME,
  NET_UPC_FRAME_CAP,
  NET_UPC_FRAME_LEN,
  NET_UPC_HASH,
  NET_UPC_KEY,
  NET_UPC_NET_HDR,
  NET_UPC_PARSE,
  NET_UPC_PORT,
  NET_UPC_RECORD_BYTES,
  NET_UPC_REMOTE_IP,
  NET_UPC_REMOTE_PORT,
  NET_UPC_SEQ,
  NET_UPC_TICK,
  NET_UPF_PENDING,
} from './net-layout.js';
import { NetRing } from './net-ring.js';
import type { SlowPathRing } from './slow-path-switch.js';

/** An upcall as the slow path reads it (a copy: the ring slot is released). */
export interface UpcallRecord {
  port: number;
  reason: number;
  seq: number;
  frameLen: number;
  flags: number;
  /** The UPCALL action's argument (0 for a miss). */
  arg: number;
  tick: number;
  devPort: number;
  remoteIp: Uint8Array;
  remotePort: number;
  /** With flag NET_UPF_PENDING: the key's pending slot hash, to copy into the answer (`release`). */
  hash: number;
  /** The parser's 64-byte record: the 48-byte key (ingress port at +42), then its meta. */
  parse: Uint8Array;
  /** The sender's 12-byte virtio-net header. */
  netHdr: Uint8Array;
  /** The frame, or its first NET_UPC_FRAME_CAP bytes (flags TRUNCATED). */
  frame: Uint8Array;
}

/** Takes up to `max` upcalls from a port's upcall ring (the consumer side). */
export function takeUpcalls(memory: HostMemoryApi, ring: SlowPathRing, max = Infinity): UpcallRecord[] {
  const out: UpcallRecord[] = [];
  while (out.length < max) {
    const rec = takeUpcall(memory, ring);
    if (!rec) break;
    out.push(rec);
  }
  return out;
}

/** Takes the oldest upcall from a port's upcall ring, or undefined when it is empty. */
export function takeUpcall(memory: HostMemoryApi, ring: SlowPathRing): UpcallRecord | undefined {
  const u8 = memory.u8;
  const v = memory.view;
  let rec: UpcallRecord | undefined;
  ring.spsc.pop((w) => {
    const r = NetRing.addr(w);
    const cap = Math.min(v.getUint32(r + NET_UPC_CAP_LEN, true), NET_UPC_FRAME_CAP);
    // One copy of the record; the byte fields are views into it.
    const c = u8.slice(r, r + NET_UPC_FRAME + cap);
    rec = {
      port: v.getUint16(r + NET_UPC_PORT, true),
      reason: v.getUint16(r + NET_UPC_CODE, true),
      seq: v.getUint32(r + NET_UPC_SEQ, true),
      frameLen: v.getUint32(r + NET_UPC_FRAME_LEN, true),
      flags: v.getUint32(r + NET_UPC_FLAGS, true),
      arg: v.getUint32(r + NET_UPC_COOKIE, true),
      tick: v.getUint32(r + NET_UPC_TICK, true),
      devPort: v.getUint16(r + NET_UPC_DEV_PORT, true),
      remoteIp: c.subarray(NET_UPC_REMOTE_IP, NET_UPC_REMOTE_IP + 4),
      remotePort: v.getUint16(r + NET_UPC_REMOTE_PORT, true),
      hash: v.getUint32(r + NET_UPC_HASH, true),
      parse: c.subarray(NET_UPC_PARSE, NET_UPC_PARSE + 64),
      netHdr: c.subarray(NET_UPC_NET_HDR, NET_UPC_NET_HDR + 12),
      frame: c.subarray(NET_UPC_FRAME),
    };
  });
  return rec;
}

/** What the slow path sends the fast path (assembly/net/upcall.ts). */
export type Downcall =
  | { op: 'install'; key: Uint8Array; actions: Uint8Array; cookie?: number; release?: number }
  | {
      op: 'reinject' | 'install-reinject';
      key?: Uint8Array;
      actions: Uint8Array;
      cookie?: number;
      port: number;
      frame: Uint8Array;
      netHdr?: Uint8Array;
      /** The upcall this answers (its seq), for latency bookkeeping. */
      seq?: number;
      flags?: number;
      /** The answered upcall's `hash` when it was counted (flag NET_UPF_PENDING): releases it. */
      release?: number;
    }
  | { op: 'delete'; key: Uint8Array }
  | { op: 'flush-cookie'; cookie: number }
  | { op: 'flush-all' }
  /** The flows whose cookie c has (c & mask) === cookie for one of the terms (one or two). */
  | { op: 'flush-masked'; terms: readonly FlushTerm[] }
  /** Only releases of counted upcalls the slow path dropped (their `hash`es, at most NET_UPC_FRAME_CAP / 4). */
  | { op: 'release'; hashes: readonly number[] };

/** One condition of a masked flush. */
export interface FlushTerm {
  cookie: number;
  mask: number;
}

const OPS = {
  install: NET_DOWN_INSTALL,
  reinject: NET_DOWN_REINJECT,
  'install-reinject': NET_DOWN_INSTALL_REINJECT,
  delete: NET_DOWN_DELETE,
  'flush-cookie': NET_DOWN_FLUSH_COOKIE,
  'flush-all': NET_DOWN_FLUSH_ALL,
  'flush-masked': NET_DOWN_FLUSH_MASKED,
  release: NET_DOWN_RELEASE,
} as const;

/**
 * Writes one downcall into the switch's downcall ring (the producer side; publish included).
 * Returns false when the ring is full. The caller then rings the core's doorbell.
 */
export function writeDowncall(memory: HostMemoryApi, ring: SlowPathRing, d: Downcall): boolean {
  if (ring.recordBytes < NET_UPC_RECORD_BYTES)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `downcall ring: records of ${ring.recordBytes} bytes, expected ${NET_UPC_RECORD_BYTES}`,
    );
  const key = 'key' in d ? d.key : undefined;
  if (key !== undefined && key.length !== NET_KEY_BYTES)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `downcall key: expected ${NET_KEY_BYTES} bytes, got ${key.length}`,
    );
  if (d.op === 'flush-masked' && (d.terms.length < 1 || d.terms.length > 2))
    throw new QingtianError(ErrorCode.InvalidArgument, `masked flush: expected 1 or 2 terms, got ${d.terms.length}`);
  const frame = 'frame' in d ? d.frame : undefined;
  if (frame !== undefined && frame.length > NET_UPC_FRAME_CAP)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `downcall frame: expected at most ${NET_UPC_FRAME_CAP} bytes, got ${frame.length}`,
    );
  const u8 = memory.u8;
  const v = memory.view;
  return ring.spsc.push((w) => {
    const r = NetRing.addr(w);
    u8.fill(0, r, r + NET_UPC_FRAME);
    v.setUint16(r + NET_UPC_CODE, OPS[d.op], true);
    if ('cookie' in d && d.cookie !== undefined) v.setUint32(r + NET_UPC_COOKIE, d.cookie, true);
    if (key) u8.set(key, r + NET_UPC_KEY);
    if ('actions' in d) {
      u8.set(d.actions, r + NET_UPC_ACTIONS);
      v.setUint16(r + NET_UPC_ACTION_BYTES, d.actions.length, true);
    }
    if (frame && 'port' in d) {
      v.setUint16(r + NET_UPC_PORT, d.port, true);
      v.setUint32(r + NET_UPC_SEQ, d.seq ?? 0, true);
      v.setUint32(r + NET_UPC_FRAME_LEN, frame.length, true);
      v.setUint32(r + NET_UPC_CAP_LEN, frame.length, true);
      v.setUint32(r + NET_UPC_FLAGS, d.flags ?? 0, true);
      if (d.netHdr) u8.set(d.netHdr.subarray(0, 12), r + NET_UPC_NET_HDR);
      u8.set(frame, r + NET_UPC_FRAME);
    }
    if (d.op === 'flush-masked') {
      // A missing second term can never match: a cookie bit outside its (empty) mask.
      const [a, b = { cookie: 1, mask: 0 }] = d.terms;
      v.setUint32(r + NET_UPC_KEY, a!.cookie >>> 0, true);
      v.setUint32(r + NET_UPC_KEY + 4, a!.mask >>> 0, true);
      v.setUint32(r + NET_UPC_KEY + 8, b.cookie >>> 0, true);
      v.setUint32(r + NET_UPC_KEY + 12, b.mask >>> 0, true);
    }
    if (d.op === 'release') {
      const k = Math.min(d.hashes.length, NET_UPC_FRAME_CAP >> 2);
      v.setUint32(r + NET_UPC_FRAME_LEN, k, true);
      for (let i = 0; i < k; i++) v.setUint32(r + NET_UPC_FRAME + 4 * i, d.hashes[i]!, true);
    }
    if ('release' in d && d.release !== undefined) {
      v.setUint32(r + NET_UPC_FLAGS, v.getUint32(r + NET_UPC_FLAGS, true) | NET_UPF_PENDING, true);
      v.setUint32(r + NET_UPC_HASH, d.release, true);
    }
  });
}
