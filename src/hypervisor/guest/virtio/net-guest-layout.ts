// The guest network stack's layout constants (assembly/guest/net-state.ts) and the driver flags,
// read from the exports of build/kernels/guest.wasm when this module loads (values never copied
// by hand). Stands in for src/generated/guest.ts until the generated constants land.
import { readFileSync } from 'node:fs';
import { kernelFile } from '../../../common/package-paths.js';

const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(kernelFile('guest'))), {
  env: { memory: new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true }) },
});
function c(name: string): number {
  const g = instance.exports[name];
  if (!(g instanceof WebAssembly.Global)) throw new Error(`guest kernel: no exported constant ${name}`);
  return Number(g.value);
}

export const DF_PACKED = c('DF_PACKED');
export const DF_EVENT_IDX = c('DF_EVENT_IDX');
export const DF_INDIRECT = c('DF_INDIRECT');
export const DF_IN_ORDER = c('DF_IN_ORDER');
export const GN_MAGIC = c('GN_MAGIC');
export const GN_FLAGS = c('GN_FLAGS');
export const GN_IP = c('GN_IP');
export const GN_COUNTERS = c('GN_COUNTERS');
export const GN_GEN_SEQ = c('GN_GEN_SEQ');
export const GN_SINK_NEXT = c('GN_SINK_NEXT');
export const GN_SINK_RECEIVED = c('GN_SINK_RECEIVED');
export const GN_SINK_REORDERED = c('GN_SINK_REORDERED');
export const GN_SINK_DUPLICATES = c('GN_SINK_DUPLICATES');
export const GN_PING_LAST = c('GN_PING_LAST');
export const GN_PING_REPLIES = c('GN_PING_REPLIES');
export const GN_STATE_BYTES = c('GN_STATE_BYTES');
export const GNF_CSUM_OFFLOAD = c('GNF_CSUM_OFFLOAD');
export const GNC_RX_FRAMES = c('GNC_RX_FRAMES');
export const GNC_TX_FRAMES = c('GNC_TX_FRAMES');
export const GNC_ARP_REQUESTS = c('GNC_ARP_REQUESTS');
export const GNC_ARP_REPLIES = c('GNC_ARP_REPLIES');
export const GNC_ECHO_REQUESTS = c('GNC_ECHO_REQUESTS');
export const GNC_ECHO_REPLIES = c('GNC_ECHO_REPLIES');
export const GNC_UDP_ECHOED = c('GNC_UDP_ECHOED');
export const GNC_UDP_SENT = c('GNC_UDP_SENT');
export const GNC_TX_FULL = c('GNC_TX_FULL');
export const GNC_NO_ARP = c('GNC_NO_ARP');
export const GNC_RX_IGNORED = c('GNC_RX_IGNORED');
export const GNC_RX_BAD = c('GNC_RX_BAD');
export const GNC_COUNT = c('GNC_COUNT');
