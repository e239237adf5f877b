// State region header: every state region (not guest RAM) starts with one cache line.
//
//   +0  u32 magic          four ASCII bytes, little-endian ('CORE' = 0x45524f43)
//   +4  u32 layoutVersion  bumped whenever the payload layout changes
//   +8  u32 sizeBytes      size of the whole region, header included
//   +12 u32 kind           region kind code (src/common/region-kind.ts)
//   +16 .. +63             reserved, zero
//   +64                    payload (64-byte aligned, so a payload's first line is its own)
//
// The core family exports these; the build generates their TS constants (src/generated/common.ts).

export const HDR_MAGIC: usize = 0;
export const HDR_LAYOUT_VERSION: usize = 4;
export const HDR_SIZE_BYTES: usize = 8;
export const HDR_KIND: usize = 12;
export const HDR_BYTES: usize = 64;

/** True when `region` carries `magic`/`version` and is at least `minBytes` long. */
@inline export function headerOk(region: usize, magic: u32, version: u32, minBytes: u32): bool {
  return (
    load<u32>(region, HDR_MAGIC) == magic &&
    load<u32>(region, HDR_LAYOUT_VERSION) == version &&
    load<u32>(region, HDR_SIZE_BYTES) >= minBytes
  );
}
