// The edited head of a frame: header actions (VLAN push/pop, MAC rewrites, TTL, the segment
// headers of TSO) never touch the sender's buffer, which is device-readable only. The first
// bytes of the frame, up to the end of its IP header (or of its TCP header for TSO, or of its
// checksum field), are copied once into a workspace and edited there; every OUTPUT then sends
// the workspace's head followed by the rest of the frame straight from the sender.
//
// Workspace (NET_SC_WS_BYTES, scratch.ts), one packet at a time:
//   +0   virtio_net_hdr for the receiver (12 B)     +16 Pieces (24 B, rx-deliver.ts)
//   +40  u32 base (frame offset the head starts at: 0, or the inner frame after DECAP_VXLAN)
//   +44  u32 covered (source bytes the head replaces, from base)   +48 u32 headLen
//   +52  u32 l3 (IP header offset inside the head)   +56 u32 edited (head in use)
//   +60  u32 encap (address of the ENCAP_VXLAN action in force, 0: none)
//   +64  outer headers (Ethernet + IPv4 + UDP + VXLAN, 50 B; built per output, end at +128)
//   +128 head (NET_WS_HEAD_CAP bytes)   +320 a TSO segment's headers (NET_WS_HEAD_CAP bytes)

export const WS_RXHDR: u32 = 0;
export const WS_PIECES: u32 = 16;
export const WS_BASE: u32 = 40;
export const WS_COVERED: u32 = 44;
export const WS_HEAD_LEN: u32 = 48;
export const WS_L3: u32 = 52;
export const WS_EDITED: u32 = 56;
export const WS_ENCAP: u32 = 60;
export const WS_OUTER: u32 = 64;
export const WS_OUTER_END: u32 = 128;
export const WS_HEAD: u32 = 128;
export const WS_SEG: u32 = 320;
export const NET_WS_HEAD_CAP: u32 = 192;

/** Starts a packet: no head, no encapsulation, frame from offset 0. */
@inline export function wsReset(ws: usize): void {
  store<u64>(ws, 0, WS_BASE); // base, covered
  store<u64>(ws, 0, WS_HEAD_LEN); // headLen, l3
  store<u64>(ws, 0, WS_EDITED); // edited, encap
}

/**
 * Makes the head cover at least `want` bytes of the frame from `base` (the frame is `len` bytes
 * at `src`; `l3` is its IP header offset, absolute). Returns false when that would exceed the
 * workspace (the caller drops the packet, counted).
 */
export function headCover(ws: usize, src: usize, len: u32, l3: u32, want: u32): bool {
  const base = load<u32>(ws, WS_BASE);
  if (want > len - base) want = len - base;
  if (load<u32>(ws, WS_EDITED) != 0) {
    const covered = load<u32>(ws, WS_COVERED);
    if (want <= covered) return true;
    const headLen = load<u32>(ws, WS_HEAD_LEN);
    const more = want - covered;
    if (headLen + more > NET_WS_HEAD_CAP) return false;
    // SAFETY: base + covered + more = base + want <= len: inside the frame.
    memory.copy(ws + WS_HEAD + <usize>headLen, src + <usize>(base + covered), more);
    store<u32>(ws, want, WS_COVERED);
    store<u32>(ws, headLen + more, WS_HEAD_LEN);
    return true;
  }
  if (want > NET_WS_HEAD_CAP) return false;
  // SAFETY: [base, base + want) lies inside the frame (want <= len - base).
  memory.copy(ws + WS_HEAD, src + <usize>base, want);
  store<u32>(ws, want, WS_COVERED);
  store<u32>(ws, want, WS_HEAD_LEN);
  store<u32>(ws, l3 >= base ? l3 - base : 0, WS_L3);
  store<u32>(ws, 1, WS_EDITED);
  return true;
}

/** Inserts an 802.1Q/802.1ad tag after the MAC addresses. False when the head is full. */
export function headPushVlan(ws: usize, tpid: u32, tci: u32): bool {
  const headLen = load<u32>(ws, WS_HEAD_LEN);
  if (headLen < 12 || headLen + 4 > NET_WS_HEAD_CAP) return false;
  const h = ws + WS_HEAD;
  memory.copy(h + 16, h + 12, headLen - 12);
  store<u16>(h + 12, bswap<u16>(<u16>tpid));
  store<u16>(h + 14, bswap<u16>(<u16>tci));
  store<u32>(ws, headLen + 4, WS_HEAD_LEN);
  store<u32>(ws, load<u32>(ws, WS_L3) + 4, WS_L3);
  return true;
}

/** Removes the outermost tag, if the frame has one. */
export function headPopVlan(ws: usize): void {
  const headLen = load<u32>(ws, WS_HEAD_LEN);
  const h = ws + WS_HEAD;
  if (headLen < 18) return;
  const t = <u32>bswap<u16>(load<u16>(h + 12));
  if (t != 0x8100 && t != 0x88a8) return;
  memory.copy(h + 12, h + 16, headLen - 16);
  store<u32>(ws, headLen - 4, WS_HEAD_LEN);
  const l3 = load<u32>(ws, WS_L3);
  store<u32>(ws, l3 >= 4 ? l3 - 4 : 0, WS_L3);
}

/** Bytes the head adds (or, negative, removes) relative to the source bytes it replaces. */
@inline export function headDelta(ws: usize): i32 {
  return <i32>load<u32>(ws, WS_HEAD_LEN) - <i32>load<u32>(ws, WS_COVERED);
}
