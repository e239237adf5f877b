/**
 * Guest-physical address translation, TS mirror of assembly/common/gpa.ts. Kernels use the
 * Wasm one; the control plane uses this one (e.g. to check ring addresses at queue setup).
 * test/common/gpa.test.ts feeds both the same random maps and ranges and compares.
 *
 * GPAs are u64 in virtio descriptors, so they are bigint here: a guest may hand us any 64-bit
 * value and the check must be exact for all of them.
 */
export const GMAP_MAGIC = 0x50414d47; // 'GMAP'
export const GMAP_LAYOUT = 1;
export const GMAP_COUNT = 64;
export const GMAP_SLOTS = 128;
export const GMAP_SLOT_BYTES = 32;
export const GMAP_MAX_SLOTS = 8;
export const GMAP_SLOT_GPA = 0;
export const GMAP_SLOT_SIZE = 8;
export const GMAP_SLOT_HOST = 16;
/** Bytes of a guest memory map region (header + count + 8 slots). */
export const GMAP_BYTES = GMAP_SLOTS + GMAP_MAX_SLOTS * GMAP_SLOT_BYTES;

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
