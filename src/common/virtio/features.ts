import {
  FEAT_EVENT_IDX,
  FEAT_INDIRECT_DESC,
  FEAT_IN_ORDER,
  FEAT_RING_PACKED,
  FEAT_VERSION_1,
} from '../../generated/virtio.js';

/** Ring-related feature bits as named options (a 64-bit feature word is a bigint). */
export interface RingFeatures {
  packed: boolean;
  eventIdx: boolean;
  indirect: boolean;
  inOrder: boolean;
}

/** Every ring feature off: a split ring, no event index, no indirect tables, out of order. */
export const NO_RING_FEATURES: RingFeatures = { packed: false, eventIdx: false, indirect: false, inOrder: false };

const bit = (n: number): bigint => 1n << BigInt(n);

/** The 64-bit feature word of these features (VIRTIO_F_VERSION_1 always set). */
export function featureWord(f: RingFeatures): bigint {
  let w = bit(FEAT_VERSION_1);
  if (f.packed) w |= bit(FEAT_RING_PACKED);
  if (f.eventIdx) w |= bit(FEAT_EVENT_IDX);
  if (f.indirect) w |= bit(FEAT_INDIRECT_DESC);
  if (f.inOrder) w |= bit(FEAT_IN_ORDER);
  return w;
}

/** The ring features a 64-bit feature word has on. */
export function ringFeatures(w: bigint): RingFeatures {
  return {
    packed: (w & bit(FEAT_RING_PACKED)) !== 0n,
    eventIdx: (w & bit(FEAT_EVENT_IDX)) !== 0n,
    indirect: (w & bit(FEAT_INDIRECT_DESC)) !== 0n,
    inOrder: (w & bit(FEAT_IN_ORDER)) !== 0n,
  };
}

/** The features on, as text: `'packed+eventIdx'` (`'split'` when none). */
export function describeFeatures(f: RingFeatures): string {
  const on = (Object.keys(f) as (keyof RingFeatures)[]).filter((k) => f[k]);
  return on.length ? on.join('+') : 'split';
}
