// Output to a tunnel port: the VXLAN header and the inner frame go, as one record, to the socket
// worker's TX ring (tunnel-io.ts); the worker's socket supplies the outer IP and UDP headers.

import { NET_ACT_ARG, NET_ACT_VXLAN_DST_IP, NET_ACT_VXLAN_VNI } from './actions';
import { NET_RING_RECORD_BYTES, ringOk, ringPublish, ringReserve } from './io-ring';
import { copyPieces } from './mirror-write';
import { bellLater } from './ring-bells';
import { Pieces, piecesLen } from './rx-deliver';
import {
  NET_TIO_ADDR,
  NET_TIO_LAYOUT,
  NET_TIO_LEN,
  NET_TIO_MAGIC,
  NET_TIO_PAYLOAD,
  NET_TIO_PAYLOAD_CAP,
  NET_TIO_PORT,
  NET_TIO_RECORD_BYTES,
  NET_TIO_STATE_BYTES,
  NET_TIO_TX_DROPS_FULL,
  NET_TIO_TX_PACKETS,
  NET_TIO_TX_RING,
  NET_TIO_TX_TOO_BIG,
  NET_VXLAN_HDR_BYTES,
} from './tunnel-io';
import { headerOk } from '../common/header';
import { rangeOk } from '../flow/hash';

@inline function bump(p: usize, off: u32): void {
  store<u64>(p + <usize>off, load<u64>(p + <usize>off) + 1);
}

/** A well-formed tunnel I/O region (checked before each use). */
@inline export function tioOk(tio: usize): bool {
  return (
    tio != 0 && rangeOk(tio, NET_TIO_STATE_BYTES) && headerOk(tio, NET_TIO_MAGIC, NET_TIO_LAYOUT, NET_TIO_STATE_BYTES)
  );
}

/** Queues one datagram; false when it cannot (region, ring full, too big), counted in the region. */
export function tunnelSend(sc: usize, tio: usize, encap: usize, p: Pieces): bool {
  if (!tioOk(tio)) return false;
  const ring = <usize>load<u32>(tio, NET_TIO_TX_RING);
  if (!ringOk(ring) || load<u32>(ring, NET_RING_RECORD_BYTES) < NET_TIO_RECORD_BYTES) return false;
  const inner = piecesLen(p);
  if (inner + NET_VXLAN_HDR_BYTES > NET_TIO_PAYLOAD_CAP) {
    bump(tio, NET_TIO_TX_TOO_BIG);
    return false;
  }
  const r = ringReserve(ring, 0);
  if (r == 0) {
    bump(tio, NET_TIO_TX_DROPS_FULL);
    return false;
  }
  store<u32>(r, load<u32>(encap, NET_ACT_VXLAN_DST_IP), NET_TIO_ADDR);
  store<u16>(r, load<u16>(encap, NET_ACT_ARG), NET_TIO_PORT);
  store<u16>(r, <u16>(inner + NET_VXLAN_HDR_BYTES), NET_TIO_LEN);
  store<u64>(r, 0, 8);
  const v = r + NET_TIO_PAYLOAD;
  store<u32>(v, 0x08);
  store<u32>(v, bswap<u32>((load<u32>(encap, NET_ACT_VXLAN_VNI) & 0xffffff) << 8), 4);
  copyPieces(v + NET_VXLAN_HDR_BYTES, p, inner);
  ringPublish(ring, 1);
  bump(tio, NET_TIO_TX_PACKETS);
  bellLater(sc, ring);
  return true;
}
