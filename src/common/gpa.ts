import {
  GMAP_BYTES,
  GMAP_COUNT,
  GMAP_DIRTY_LOG,
  GMAP_DIRTY_PAGES,
  GMAP_LAYOUT,
  GMAP_MAGIC,
  GMAP_MAX_SLOTS,
  GMAP_SLOTS,
  GMAP_SLOT_BYTES,
  GMAP_SLOT_GPA,
  GMAP_SLOT_HOST,
  GMAP_SLOT_SIZE,
} from '../generated/common.js';

/**
 * Guest-physical address translation over the guest memory map that assembly/common/gpa.ts
 * lays out and translates through (offsets from src/generated/common.ts). Kernels use the Wasm
 * translation; the control plane uses this one (e.g. to check ring addresses at queue setup).
 * test/common/gpa.test.ts feeds both the same random maps and ranges and compares.
 *
 * GPAs are u64 in virtio descriptors, so they are bigint here: a guest may hand us any 64-bit
 * value and the check must be exact for all of them.
 */

/** Bytes of a guest memory map region, from its start to the end of its last slot; magic and layout version. */
export { GMAP_BYTES, GMAP_MAGIC, GMAP_LAYOUT };
/** Dirty-log words of the map: bitmap host address (0 while logging is off) and pages it covers, from GPA 0. */
export { GMAP_DIRTY_LOG, GMAP_DIRTY_PAGES };

/** One slot of a guest memory map: guest-physical [gpaStart, gpaStart + sizeBytes) at host address hostBase. */
export interface GuestSlot {
  /** First guest-physical address of the slot. */
  gpaStart: bigint;
  /** Its size, bytes. */
  sizeBytes: bigint;
  /** Where it starts in host memory. */
  hostBase: number;
}

const U64 = (1n << 64n) - 1n;

/** Host address of [gpa, gpa + len) when it lies wholly inside one slot, else 0. */
export function gpaToHost(slots: readonly GuestSlot[], gpa: bigint, len: bigint): number {
  const n = Math.min(slots.length, GMAP_MAX_SLOTS);
  for (let i = 0; i < n; i++) {
    const s = slots[i]!;
    const off = (gpa - s.gpaStart) & U64;
    if (off < s.sizeBytes && len <= s.sizeBytes - off) return (s.hostBase + Number(off)) >>> 0;
  }
  return 0;
}

/** Writes a guest memory map at `base` (payload only: the region header is the allocator's). */
export function writeGuestMap(view: DataView, base: number, slots: readonly GuestSlot[]): void {
  view.setUint32(base + GMAP_COUNT, slots.length, true);
  slots.forEach((s, i) => {
    const at = base + GMAP_SLOTS + i * GMAP_SLOT_BYTES;
    view.setBigUint64(at + GMAP_SLOT_GPA, s.gpaStart, true);
    view.setBigUint64(at + GMAP_SLOT_SIZE, s.sizeBytes, true);
    view.setUint32(at + GMAP_SLOT_HOST, s.hostBase, true);
  });
}

/** Reads the map back; a raw slot count beyond GMAP_MAX_SLOTS is clamped, as the kernel does. */
export function readGuestMap(view: DataView, base: number): GuestSlot[] {
  const n = Math.min(view.getUint32(base + GMAP_COUNT, true), GMAP_MAX_SLOTS);
  const slots: GuestSlot[] = [];
  for (let i = 0; i < n; i++) {
    const at = base + GMAP_SLOTS + i * GMAP_SLOT_BYTES;
    slots.push({
      gpaStart: view.getBigUint64(at + GMAP_SLOT_GPA, true),
      sizeBytes: view.getBigUint64(at + GMAP_SLOT_SIZE, true),
      hostBase: view.getUint32(at + GMAP_SLOT_HOST, true),
    });
  }
  return slots;
}
