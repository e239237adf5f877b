import { ErrorCode, QingtianError } from '../../common/errors.js';
import { FEAT_VERSION_1 } from '../../generated/virtio.js';
import { featureWord, ringFeatures, type RingFeatures } from '../../common/virtio/features.js';
import {
  VSOCK_CID_MIN_GUEST,
  VSOCK_CID_RESERVED_ANY,
  VSOCK_F_SEQPACKET,
  VSOCK_F_STREAM,
} from '../../generated/vsock.js';

const bit = (n: number): bigint => 1n << BigInt(n);

/**
 * Feature bits the vsock device offers (§5.10.3, ch. 6): VERSION_1, stream sockets, and the ring
 * features the device-side virtqueues implement (packed, EVENT_IDX, indirect). Not offered:
 * SEQPACKET (stream only) and IN_ORDER (nothing to gain for three small queues).
 */
export const VSOCK_OFFERED_FEATURES: bigint =
  featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: false }) | bit(VSOCK_F_STREAM);

/**
 * Checks a driver's feature word against the offer (SET_FEATURES): VERSION_1 required, nothing
 * outside the offer. Returns the ring features the queues will use.
 */
export function negotiateVsockFeatures(driver: bigint): RingFeatures {
  if ((driver & bit(FEAT_VERSION_1)) === 0n)
    throw new QingtianError(ErrorCode.InvalidArgument, 'vsock features: VIRTIO_F_VERSION_1 (bit 32) is required');
  const extra = driver & ~VSOCK_OFFERED_FEATURES;
  if (extra !== 0n) {
    const seq = (extra & bit(VSOCK_F_SEQPACKET)) !== 0n ? ' (SEQPACKET is not offered)' : '';
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `vsock features: bits 0x${extra.toString(16)} were not offered (offered 0x${VSOCK_OFFERED_FEATURES.toString(16)})${seq}`,
    );
  }
  return ringFeatures(driver);
}

/** §5.10.4: a guest CID is neither reserved (0, 1, 0xffffffff) nor the host's (2). */
export function checkGuestCid(cid: number, field: string): number {
  if (!Number.isInteger(cid) || cid < VSOCK_CID_MIN_GUEST || cid >= VSOCK_CID_RESERVED_ANY) {
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `${field}: expected a guest CID, an integer in [${VSOCK_CID_MIN_GUEST}, ${VSOCK_CID_RESERVED_ANY - 1}], got ${String(cid)}`,
    );
  }
  return cid;
}
