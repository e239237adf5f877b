/** What a host-memory region is for. The numeric code is written into state region headers. */
export const RegionKinds = {
  reserved: 0,
  'guest-ram': 1,
  'device-state': 2,
  'kernel-image': 3,
  'kernel-tables': 4,
  'core-scratch': 5,
  'core-control': 6,
  bitmap: 7,
  'job-state': 8,
} as const;
/**
 * What a region holds: `reserved`, `guest-ram`, `device-state`, `kernel-image`, `kernel-tables`,
 * `core-scratch`, `core-control`, `bitmap` or `job-state`.
 */
export type RegionKind = keyof typeof RegionKinds;
export const REGION_KIND_NAMES = Object.keys(RegionKinds) as [RegionKind, ...RegionKind[]];
