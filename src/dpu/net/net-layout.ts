// The net kernel's layout constants, generated from assembly/net (src/generated/net.ts). Kept as
// the one place src/dpu/net imports them from.
export * from '../../generated/net.js';
