// Kernel family "flow": the network fast path's lookups, each over a state region the TS side
// allocates in a KernelRuntime's memory (so DPU cores can run the same lookups zero-copy).
//
//   flow_cls_*   priority classifier (TupleMerge) on IPv4 5-tuples       classifier.ts
//   flow_lpm*    longest-prefix-match route tables, IPv4 and IPv6         lpm*.ts
//   flow_fc_*    exact-match flow cache (cuckoo, tag array, aging)        flow-cache.ts
//                (flow_fc_read_entries: a hit's memory floor, for the bench) flow-cache-floor.ts
//   flow_parse   L2/L3/L4/VXLAN packet parser → flow keys                 parser.ts
//
// No data segments and no tables: hash seeds live in each state region.

import { KERNEL_ABI } from '../common/abi';

export const QT_ABI: i32 = KERNEL_ABI;
export const QT_NAME: u64 = 0x776f6c66; // "flow"
export const QT_VERSION: i32 = (2 << 16) | (0 << 8) | 0; // 2.0.0: flow cache layout 2 (tag array)
export const QT_STATE_LAYOUT: i32 = 2;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

export * from './classifier';
export {
  flow_cls_bytes,
  flow_cls_init,
  CLS_MAGIC,
  CLS_LAYOUT,
  CLS_HEADER_WORDS,
  CLS_E_STATE,
  CLS_E_RANGE,
  CLS_E_FULL,
  CLS_E_TABLES,
  CLS_E_SLOT,
  CLS_E_BUSY,
} from './cls-layout';
export * from './lpm';
export {
  FC_MAGIC,
  FC_LAYOUT,
  FC_KEY_BYTES,
  FC_MAX_VALUE,
  FC_NO_SLOT,
  FC_INFO_HASH,
  FC_INFO_BUCKET1,
  FC_INFO_BUCKET2,
  FC_INFO_TAG,
  FC_INFO_SLOT,
  FC_INFO_BYTES,
  FC_CTRL_BYTES,
  FC_INSERTED,
  FC_UPDATED,
  FC_EVICTED,
  FC_E_STATE,
  FC_E_RANGE,
  FC_E_BUSY,
  flow_fc_buckets,
  flow_fc_bytes,
  flow_fc_init,
  flow_fc_lookup,
} from './flow-cache';
export * from './flow-cache-update';
export { flow_fc_read_entries } from './flow-cache-floor';
export * from './parser';
// The Left-Right control block the classifier and the route tables share (left-right.ts).
export { LR_ACTIVE, LR_READERS0, LR_READER_STRIDE } from './left-right';
