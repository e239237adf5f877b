/**
 * Device-side queue state (VQST) and burst buffer (VQBR) layouts — TS mirror of
 * assembly/virtio/queue-state.ts and burst.ts, checked against the Wasm exports by a test.
 */
export const VQ_MAGIC = 0x54535156;
export const VQ_LAYOUT = 1;
export const VQ_FLAGS = 64;
export const VQ_SIZE = 68;
export const VQ_GMAP = 72;
export const VQ_BROKEN = 76;
export const VQ_BROKEN_DETAIL = 80;
export const VQ_DESC_HOST = 84;
export const VQ_DRIVER_HOST = 88;
export const VQ_DEVICE_HOST = 92;
export const VQ_DESC_GPA = 96;
export const VQ_DRIVER_GPA = 104;
export const VQ_DEVICE_GPA = 112;
export const VQ_FEATURES = 120;
export const VQ_NEXT_AVAIL = 128;
export const VQ_NEXT_USED = 130;
export const VQ_AVAIL_WRAP = 132;
export const VQ_USED_WRAP = 134;
export const VQ_SIGNALLED_USED = 136;
export const VQ_SIGNALLED_VALID = 138;
export const VQ_IRQ_ADDR = 140;
export const VQ_INFLIGHT = 144;
export const VQ_POPPED = 152;
export const VQ_PUSHED = 160;
export const VQ_IRQ_SENT = 168;
export const VQ_IRQ_SUPPRESSED = 176;
export const VQ_REJECTED = 184;
export const VQ_ARMS = 192;
export const VQ_TABLE = 256;
export const QF_READY = 1;
export const QF_PACKED = 2;
export const QF_EVENT_IDX = 4;
export const QF_INDIRECT = 8;
export const QF_IN_ORDER = 16;
export const QF_KICKS_ON = 32;
export const VQ_MAX_SEGS = 256;

export const BR_MAGIC = 0x52425156;
export const BR_LAYOUT = 2;
export const BR_MAX_CHAINS = 64;
export const BR_SEG_CAP = 68;
export const BR_SEG_USED = 72;
export const BR_DESCS = 76;
export const BR_DESC_BUDGET = 80;
export const BR_SCRATCH = 96;
export const BR_CHAINS = 128;
export const CHAIN_BYTES = 32;
export const SEG_BYTES = 16;
export const SEG_HOST = 0;
export const SEG_LEN = 4;
export const SEG_GPA = 8;
export const CH_TOKEN = 0;
export const CH_ID = 2;
export const CH_DESC_COUNT = 4;
export const CH_STATUS = 6;
export const CH_SEG_START = 8;
export const CH_READ_SEGS = 12;
export const CH_WRITE_SEGS = 14;
export const CH_READ_BYTES = 16;
export const CH_WRITE_BYTES = 20;
export const CH_USED_LEN = 24;

/** Why a queue broke (DEVICE_NEEDS_RESET), by the bad-input id it answers. */
export const BROKEN_REASONS: Record<number, { id: string; what: string }> = {
  1: { id: 'B1', what: 'avail.idx moved more than the queue size past the last seen index' },
  2: { id: 'B2', what: 'available ring entry names a head >= queue size' },
  3: { id: 'B3', what: 'a head was made available again while still in flight' },
  4: { id: 'C1', what: 'descriptor next >= queue size' },
  5: { id: 'C2', what: 'descriptor chain longer than the queue size (a loop)' },
  6: { id: 'F2', what: 'packed NEXT list longer than the ring' },
};

/** Why one chain was rejected (returned with len 0), by bad-input id. */
export const REJECT_REASONS: Record<number, { id: string; what: string }> = {
  1: { id: 'C4', what: 'buffer not wholly inside guest RAM, or addr + len overflows' },
  2: { id: 'C3', what: 'chain longer than 2^32 - 1 bytes' },
  3: { id: 'C5', what: 'device-readable descriptor after a device-writable one' },
  4: { id: 'C7', what: `more than ${VQ_MAX_SEGS} segments` },
  5: { id: 'D1', what: 'INDIRECT without VIRTIO_F_INDIRECT_DESC' },
  6: { id: 'D2', what: 'indirect table length 0, not a multiple of 16, or more than queue-size entries' },
  7: { id: 'D3', what: 'INDIRECT inside an indirect table' },
  8: { id: 'D4', what: 'INDIRECT together with NEXT' },
  9: { id: 'D6', what: 'indirect table not inside guest RAM' },
  10: { id: 'D7', what: 'loop inside an indirect table' },
  11: { id: 'D7a', what: 'indirect next >= table length' },
};

/** Why a configuration or restore was refused, by bad-input id. */
export const SETUP_REFUSALS: Record<number, { id: string; what: string }> = {
  1: { id: 'A1', what: 'queue size 0, above 32768, or (split) not a power of two' },
  2: { id: 'A2', what: 'ring area misaligned (descriptors 16, split avail 2 / used 4, packed event areas 4)' },
  3: { id: 'A3', what: 'ring area not wholly inside guest RAM' },
  4: { id: 'A4', what: 'ring areas overlap' },
  5: { id: 'A6', what: 'restored indices or in-flight set inconsistent' },
  6: { id: 'A0', what: 'queue state region too small for this size' },
};
