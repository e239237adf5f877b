import {
  VQ_BRK_AVAIL_IDX,
  VQ_BRK_HEAD_INFLIGHT,
  VQ_BRK_HEAD_RANGE,
  VQ_BRK_LOOP,
  VQ_BRK_NEXT_RANGE,
  VQ_BRK_PACKED_CHAIN,
  VQ_MAX_SEGS,
  VQ_REJ_ADDR,
  VQ_REJ_IND_ADDR,
  VQ_REJ_IND_FEATURE,
  VQ_REJ_IND_LEN,
  VQ_REJ_IND_LOOP,
  VQ_REJ_IND_NESTED,
  VQ_REJ_IND_NEXT,
  VQ_REJ_IND_NEXT_RANGE,
  VQ_REJ_ORDER,
  VQ_REJ_SEGS,
  VQ_REJ_TOO_LONG,
  VQ_SETUP_ALIGN,
  VQ_SETUP_OVERLAP,
  VQ_SETUP_RANGE,
  VQ_SETUP_REGION,
  VQ_SETUP_SIZE,
  VQ_SETUP_STATE,
} from '../../generated/virtio.js';

/*
 * What the queue kernel's reason codes mean, by the bad-input id each answers (docs/virtio-bad-input.md).
 * The codes are declared in assembly/virtio/queue-state.ts; their values come from src/generated/virtio.ts.
 */

/** Why a queue broke (DEVICE_NEEDS_RESET), by the bad-input id it answers. */
export const BROKEN_REASONS: Record<number, { id: string; what: string }> = {
  [VQ_BRK_AVAIL_IDX]: { id: 'B1', what: 'avail.idx moved more than the queue size past the last seen index' },
  [VQ_BRK_HEAD_RANGE]: { id: 'B2', what: 'available ring entry names a head >= queue size' },
  [VQ_BRK_HEAD_INFLIGHT]: { id: 'B3', what: 'a head was made available again while still in flight' },
  [VQ_BRK_NEXT_RANGE]: { id: 'C1', what: 'descriptor next >= queue size' },
  [VQ_BRK_LOOP]: { id: 'C2', what: 'descriptor chain longer than the queue size (a loop)' },
  [VQ_BRK_PACKED_CHAIN]: { id: 'F2', what: 'packed NEXT list longer than the ring' },
};

/** Why one chain was rejected (returned with len 0), by bad-input id. */
export const REJECT_REASONS: Record<number, { id: string; what: string }> = {
  [VQ_REJ_ADDR]: { id: 'C4', what: 'buffer not wholly inside guest RAM, or addr + len overflows' },
  [VQ_REJ_TOO_LONG]: { id: 'C3', what: 'chain longer than 2^32 - 1 bytes' },
  [VQ_REJ_ORDER]: { id: 'C5', what: 'device-readable descriptor after a device-writable one' },
  [VQ_REJ_SEGS]: { id: 'C7', what: `more than ${VQ_MAX_SEGS} segments` },
  [VQ_REJ_IND_FEATURE]: { id: 'D1', what: 'INDIRECT without VIRTIO_F_INDIRECT_DESC' },
  [VQ_REJ_IND_LEN]: {
    id: 'D2',
    what: 'indirect table length 0, not a multiple of 16, or more than queue-size entries',
  },
  [VQ_REJ_IND_NESTED]: { id: 'D3', what: 'INDIRECT inside an indirect table' },
  [VQ_REJ_IND_NEXT]: { id: 'D4', what: 'INDIRECT together with NEXT' },
  [VQ_REJ_IND_ADDR]: { id: 'D6', what: 'indirect table not inside guest RAM' },
  [VQ_REJ_IND_LOOP]: { id: 'D7', what: 'loop inside an indirect table' },
  [VQ_REJ_IND_NEXT_RANGE]: { id: 'D7a', what: 'indirect next >= table length' },
};

/** Why a configuration or restore was refused, by bad-input id. */
export const SETUP_REFUSALS: Record<number, { id: string; what: string }> = {
  [VQ_SETUP_SIZE]: { id: 'A1', what: 'queue size 0, above 32768, or (split) not a power of two' },
  [VQ_SETUP_ALIGN]: {
    id: 'A2',
    what: 'ring area misaligned (descriptors 16, split avail 2 / used 4, packed event areas 4)',
  },
  [VQ_SETUP_RANGE]: { id: 'A3', what: 'ring area not wholly inside guest RAM' },
  [VQ_SETUP_OVERLAP]: { id: 'A4', what: 'ring areas overlap' },
  [VQ_SETUP_STATE]: { id: 'A6', what: 'restored indices or in-flight set inconsistent' },
  [VQ_SETUP_REGION]: { id: 'A0', what: 'queue state region too small for this size' },
};
