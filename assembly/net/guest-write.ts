// Every byte the net kernels put into guest RAM (received frames, virtio-net headers, control
// acks) goes through here, so that the guest-memory write path with its dirty log (docs/
// design.md, "Rules for the systems that come next", rule 2) is adopted in one place.

/** Copies `len` bytes from host address `src` into guest RAM at host address `dst`. */
@inline export function toGuest(dst: usize, src: usize, len: u32): void {
  memory.copy(dst, src, len);
}

/** Stores one byte into guest RAM at host address `dst`. */
@inline export function toGuestU8(dst: usize, v: u32): void {
  store<u8>(dst, <u8>v);
}
