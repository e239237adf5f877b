// virtio-vsock packet format (virtio 1.2 §5.10.6), little-endian like every virtio 1.x
// structure, so plain Wasm loads and stores read it.
//
//   struct virtio_vsock_hdr (44 bytes, packed)
//     +0  le64 src_cid    +8  le64 dst_cid     (upper 32 bits reserved and zero)
//     +16 le32 src_port   +20 le32 dst_port
//     +24 le32 len        payload bytes after the header
//     +28 le16 type       STREAM 1, SEQPACKET 2
//     +30 le16 op         OP_* below
//     +32 le32 flags      SHUTDOWN: RCV 1, SEND 2
//     +36 le32 buf_alloc  sender's receive buffer for this flow (§5.10.6.3)
//     +40 le32 fwd_cnt    sender's free-running count of bytes its application consumed
//
//   struct virtio_vsock_event { le32 id; }   id TRANSPORT_RESET 0 (§5.10.6.7)
//   struct virtio_vsock_config { le64 guest_cid; }   (§5.10.4)

export const VSOCK_HDR_SRC_CID: u32 = 0;
export const VSOCK_HDR_DST_CID: u32 = 8;
export const VSOCK_HDR_SRC_PORT: u32 = 16;
export const VSOCK_HDR_DST_PORT: u32 = 20;
export const VSOCK_HDR_LEN: u32 = 24;
export const VSOCK_HDR_TYPE: u32 = 28;
export const VSOCK_HDR_OP: u32 = 30;
export const VSOCK_HDR_FLAGS: u32 = 32;
export const VSOCK_HDR_BUF_ALLOC: u32 = 36;
export const VSOCK_HDR_FWD_CNT: u32 = 40;
export const VSOCK_HDR_BYTES: u32 = 44;

export const VSOCK_TYPE_STREAM: u16 = 1;
export const VSOCK_TYPE_SEQPACKET: u16 = 2;

export const VSOCK_OP_INVALID: u16 = 0;
export const VSOCK_OP_REQUEST: u16 = 1;
export const VSOCK_OP_RESPONSE: u16 = 2;
export const VSOCK_OP_RST: u16 = 3;
export const VSOCK_OP_SHUTDOWN: u16 = 4;
export const VSOCK_OP_RW: u16 = 5;
export const VSOCK_OP_CREDIT_UPDATE: u16 = 6;
export const VSOCK_OP_CREDIT_REQUEST: u16 = 7;

/** SHUTDOWN flags (§5.10.6.5): the sender will receive (RCV) / send (SEND) no more data. */
export const VSOCK_SHUTDOWN_RCV: u32 = 1;
export const VSOCK_SHUTDOWN_SEND: u32 = 2;
export const VSOCK_SHUTDOWN_BOTH: u32 = 3;

/** Reserved CIDs (§5.10.4): 0, 1, 0xffffffff (and the 64-bit all-ones); 2 is the host. */
export const VSOCK_CID_HOST: u32 = 2;
export const VSOCK_CID_MIN_GUEST: u32 = 3;
export const VSOCK_CID_RESERVED_ANY: u32 = 0xffffffff;

export const VSOCK_EVENT_TRANSPORT_RESET: u32 = 0;
export const VSOCK_EVENT_BYTES: u32 = 4;
export const VSOCK_CONFIG_GUEST_CID: u32 = 0;
export const VSOCK_CONFIG_BYTES: u32 = 8;

/** Virtqueue indices (§5.10.2). */
export const VSOCK_VQ_RX: u32 = 0;
export const VSOCK_VQ_TX: u32 = 1;
export const VSOCK_VQ_EVENT: u32 = 2;

/** Device id (§5.10.1) and feature bits (§5.10.3). */
export const VSOCK_DEVICE_ID: u32 = 19;
export const VSOCK_F_STREAM: u32 = 0;
export const VSOCK_F_SEQPACKET: u32 = 1;

/**
 * Largest payload one packet may carry. The spec sets no limit; Linux caps a packet at 64 KiB
 * (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE), and so does qingtian, in both directions (bad-input V3).
 */
export const VSOCK_MAX_PAYLOAD: u32 = 65536;

/** A guest CID is valid when it is not reserved (§5.10.4); only the low 32 bits are used. */
@inline export function guestCidOk(cid: u64): bool {
  return cid >= <u64>VSOCK_CID_MIN_GUEST && cid < <u64>VSOCK_CID_RESERVED_ANY;
}

/** Writes a whole header (to scratch; the caller scatters it). */
@inline export function writeHeader(
  h: usize,
  srcCid: u32,
  dstCid: u32,
  srcPort: u32,
  dstPort: u32,
  len: u32,
  op: u16,
  flags: u32,
  bufAlloc: u32,
  fwdCnt: u32,
): void {
  store<u64>(h, <u64>srcCid, VSOCK_HDR_SRC_CID);
  store<u64>(h, <u64>dstCid, VSOCK_HDR_DST_CID);
  store<u32>(h, srcPort, VSOCK_HDR_SRC_PORT);
  store<u32>(h, dstPort, VSOCK_HDR_DST_PORT);
  store<u32>(h, len, VSOCK_HDR_LEN);
  store<u16>(h, VSOCK_TYPE_STREAM, VSOCK_HDR_TYPE);
  store<u16>(h, op, VSOCK_HDR_OP);
  store<u32>(h, flags, VSOCK_HDR_FLAGS);
  store<u32>(h, bufAlloc, VSOCK_HDR_BUF_ALLOC);
  store<u32>(h, fwdCnt, VSOCK_HDR_FWD_CNT);
}
