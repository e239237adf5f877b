import { HDR_BYTES, HDR_KIND, HDR_LAYOUT_VERSION, HDR_MAGIC, HDR_SIZE_BYTES } from '../generated/common.js';
import { ErrorCode, QingtianError } from './errors.js';
import { RegionKinds, type RegionKind } from './region-kind.js';

/*
 * State region header, laid out by assembly/common/header.ts (offsets from src/generated/common.ts):
 *
 *   +0 u32 magic | +4 u32 layoutVersion | +8 u32 sizeBytes | +12 u32 kind | +16..63 zero | +64 payload
 */

/** Bytes of the header; a region's payload starts this far in. */
export { HDR_BYTES };

/** Four ASCII characters as a little-endian u32 ('CORE' → 0x45524f43). */
export function fourcc(tag: string): number {
  if (!/^[\x20-\x7e]{4}$/.test(tag))
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `magic: expected 4 printable ASCII characters, got ${JSON.stringify(tag)}`,
    );
  return (tag.charCodeAt(0) | (tag.charCodeAt(1) << 8) | (tag.charCodeAt(2) << 16) | (tag.charCodeAt(3) << 24)) >>> 0;
}

export interface RegionHeader {
  magic: number;
  layoutVersion: number;
  sizeBytes: number;
  kind: RegionKind;
}

export function writeHeader(view: DataView, base: number, h: RegionHeader): void {
  for (let i = 0; i < HDR_BYTES; i += 4) view.setUint32(base + i, 0, true);
  view.setUint32(base + HDR_MAGIC, h.magic, true);
  view.setUint32(base + HDR_LAYOUT_VERSION, h.layoutVersion, true);
  view.setUint32(base + HDR_SIZE_BYTES, h.sizeBytes, true);
  view.setUint32(base + HDR_KIND, RegionKinds[h.kind], true);
}

/** Throws QT_BAD_HEADER unless the region at `base` has this magic, version and at least `minBytes`. */
export function checkHeader(
  view: DataView,
  base: number,
  magic: number,
  layoutVersion: number,
  minBytes: number,
): void {
  const m = view.getUint32(base + HDR_MAGIC, true);
  const v = view.getUint32(base + HDR_LAYOUT_VERSION, true);
  const s = view.getUint32(base + HDR_SIZE_BYTES, true);
  if (m !== magic || v !== layoutVersion || s < minBytes) {
    throw new QingtianError(
      ErrorCode.BadHeader,
      `state region at 0x${base.toString(16)}: expected magic 0x${magic.toString(16)} layout ${layoutVersion} size >= ${minBytes}, ` +
        `found magic 0x${m.toString(16)} layout ${v} size ${s}`,
      { base, magic: m, layoutVersion: v, sizeBytes: s },
    );
  }
}
