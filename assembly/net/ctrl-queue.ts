// The control virtqueue (§5.1.6.5): receive modes, MAC table, VLAN filter, announcements and the
// number of queue pairs. Each command is `{u8 class, u8 command, data}` readable, then `{u8 ack}`
// writable; a command the device does not take is acked ERR, and a chain without both parts is
// returned with used.len 0 (C8 / C8a applied to the control queue).

import {
  CH_READ_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_STATUS,
  CH_USED_LEN,
  CH_WRITE_BYTES,
  SEG_BYTES,
  chainAt,
  segsBase,
} from '../virtio/burst';
import { VQ_GMAP } from '../virtio/queue-state';
import { vqPop, vqPush } from '../virtio/vq';
import { toGuestU8 } from './guest-write';
import {
  NETD_CTRL_COMMANDS,
  NETD_CTRL_ERRORS,
  NETD_CTRL_VQ,
  NETD_CUR_PAIRS,
  NETD_LINK_STATUS,
  NETD_MAC,
  NETD_MAC_TABLE,
  NETD_MAX_PAIRS,
  NETD_MULTI_COUNT,
  NETD_RX_MODE,
  NETD_UNI_COUNT,
  NETD_VLAN_FILTER,
  NET_F_CTRL_MAC_ADDR,
  NET_F_CTRL_RX,
  NET_F_CTRL_RX_EXTRA,
  NET_F_CTRL_VLAN,
  NET_F_GUEST_ANNOUNCE,
  NET_F_MQ,
  NET_MAC_TABLE,
  NET_RXM_MULTI_OVER,
  NET_RXM_UNI_OVER,
  NET_S_ANNOUNCE,
  bumpAt,
  hasFeature,
} from './net-state';
import { needsReset } from './rx-deliver';
import { NET_SC_CTRL_BYTES, offCtrl, offTmpBurst } from './scratch';

export const NET_CTRL_RX: u32 = 0;
export const NET_CTRL_MAC: u32 = 1;
export const NET_CTRL_VLAN: u32 = 2;
export const NET_CTRL_ANNOUNCE: u32 = 3;
export const NET_CTRL_MQ: u32 = 4;
export const NET_CTRL_OK: u32 = 0;
export const NET_CTRL_ERR: u32 = 1;

/** Serves up to `max` control commands of `dev`. Returns the number handled. */
export function ctrlRun(sc: usize, mb: u32, dev: usize, max: u32): u32 {
  const vq = <usize>load<u32>(dev, NETD_CTRL_VQ);
  if (vq == 0) return 0;
  const burst = sc + <usize>offTmpBurst(mb);
  const n = vqPop(vq, burst, max);
  if (n < 0) {
    needsReset(dev);
    return 0;
  }
  if (n == 0) return 0;
  const buf = sc + <usize>offCtrl(mb);
  const segs = segsBase(burst);
  for (let i: u32 = 0; i < <u32>n; i++) {
    const rec = chainAt(burst, i);
    store<u32>(rec, 0, CH_USED_LEN);
    bumpAt(dev, NETD_CTRL_COMMANDS, 1);
    const rb = load<u32>(rec, CH_READ_BYTES);
    if (load<u16>(rec, CH_STATUS) != 0 || rb < 2 || load<u32>(rec, CH_WRITE_BYTES) == 0) {
      bumpAt(dev, NETD_CTRL_ERRORS, 1);
      continue;
    }
    let ack = NET_CTRL_ERR;
    if (rb <= NET_SC_CTRL_BYTES) {
      // The command is read once into the scratch (the guest may rewrite its buffer meanwhile).
      const cs = segs + <usize>load<u32>(rec, CH_SEG_START) * SEG_BYTES;
      const nr = <u32>load<u16>(rec, CH_READ_SEGS);
      let at: u32 = 0;
      for (let k: u32 = 0; k < nr; k++) {
        const s = cs + <usize>k * SEG_BYTES;
        // SAFETY: segments were checked by the pop; their total is rb <= the buffer's size.
        memory.copy(buf + <usize>at, <usize>load<u32>(s), load<u32>(s, 4));
        at += load<u32>(s, 4);
      }
      ack = command(dev, <u32>load<u8>(buf), <u32>load<u8>(buf, 1), buf + 2, rb - 2);
    }
    if (ack != NET_CTRL_OK) bumpAt(dev, NETD_CTRL_ERRORS, 1);
    // The ack is the first writable byte (the commands here have no other writable data).
    const w = segs + <usize>(load<u32>(rec, CH_SEG_START) + <u32>load<u16>(rec, CH_READ_SEGS)) * SEG_BYTES;
    // SAFETY: the first writable segment has at least one byte (CH_WRITE_BYTES != 0, zero-length
    // descriptors add no segment).
    toGuestU8(<usize>load<u32>(vq, VQ_GMAP), <usize>load<u32>(w), ack);
    store<u32>(rec, 1, CH_USED_LEN);
  }
  if (vqPush(vq, burst, <u32>n) < 0) needsReset(dev);
  return <u32>n;
}

function command(dev: usize, cls: u32, cmd: u32, d: usize, len: u32): u32 {
  if (cls == NET_CTRL_RX) {
    if (!hasFeature(dev, NET_F_CTRL_RX) || len != 1 || cmd > 5) return NET_CTRL_ERR;
    if (cmd >= 2 && !hasFeature(dev, NET_F_CTRL_RX_EXTRA)) return NET_CTRL_ERR;
    const bit: u32 = 1 << cmd; // PROMISC 0, ALLMULTI 1, ALLUNI 2, NOMULTI 3, NOUNI 4, NOBCAST 5
    let mode = <u32>load<u16>(dev, NETD_RX_MODE);
    mode = load<u8>(d) != 0 ? mode | bit : mode & ~bit;
    store<u16>(dev, <u16>mode, NETD_RX_MODE);
    return NET_CTRL_OK;
  }
  if (cls == NET_CTRL_MAC) {
    if (cmd == 1) {
      if (!hasFeature(dev, NET_F_CTRL_MAC_ADDR) || len != 6) return NET_CTRL_ERR;
      memory.copy(dev + NETD_MAC, d, 6);
      return NET_CTRL_OK;
    }
    if (cmd != 0 || !hasFeature(dev, NET_F_CTRL_RX) || len < 8) return NET_CTRL_ERR;
    // TABLE_SET: {le32 entries; u8 macs[entries][6]} unicast, then the same for multicast.
    const uni = load<u32>(d);
    if (<u64>uni * 6 + 8 > <u64>len) return NET_CTRL_ERR;
    const mOff = 4 + uni * 6;
    const multi = load<u32>(d + <usize>mOff);
    if (<u64>mOff + 4 + <u64>multi * 6 != <u64>len) return NET_CTRL_ERR;
    let mode = (<u32>load<u16>(dev, NETD_RX_MODE)) & ~(NET_RXM_UNI_OVER | NET_RXM_MULTI_OVER);
    // More addresses than the table holds: accept that whole class (as QEMU's overflow does).
    if (uni > NET_MAC_TABLE) mode |= NET_RXM_UNI_OVER;
    if (multi > NET_MAC_TABLE) mode |= NET_RXM_MULTI_OVER;
    const nu = min<u32>(uni, NET_MAC_TABLE);
    const nm = min<u32>(multi, NET_MAC_TABLE);
    for (let i: u32 = 0; i < nu; i++) memory.copy(dev + NETD_MAC_TABLE + <usize>i * 8, d + 4 + <usize>i * 6, 6);
    for (let i: u32 = 0; i < nm; i++)
      memory.copy(dev + NETD_MAC_TABLE + <usize>(NET_MAC_TABLE + i) * 8, d + <usize>(mOff + 4) + <usize>i * 6, 6);
    store<u16>(dev, <u16>nu, NETD_UNI_COUNT);
    store<u16>(dev, <u16>nm, NETD_MULTI_COUNT);
    store<u16>(dev, <u16>mode, NETD_RX_MODE);
    return NET_CTRL_OK;
  }
  if (cls == NET_CTRL_VLAN) {
    if (!hasFeature(dev, NET_F_CTRL_VLAN) || len != 2 || cmd > 1) return NET_CTRL_ERR;
    const vid = <u32>load<u16>(d);
    if (vid >= 4096) return NET_CTRL_ERR;
    const p = dev + NETD_VLAN_FILTER + <usize>(vid >> 3);
    const m = <u8>((<u32>1) << (vid & 7));
    store<u8>(p, cmd == 0 ? load<u8>(p) | m : load<u8>(p) & ~m);
    return NET_CTRL_OK;
  }
  if (cls == NET_CTRL_ANNOUNCE) {
    if (!hasFeature(dev, NET_F_GUEST_ANNOUNCE) || cmd != 0 || len != 0) return NET_CTRL_ERR;
    store<u16>(dev, <u16>((<u32>load<u16>(dev, NETD_LINK_STATUS)) & ~NET_S_ANNOUNCE), NETD_LINK_STATUS);
    return NET_CTRL_OK;
  }
  if (cls == NET_CTRL_MQ) {
    if (!hasFeature(dev, NET_F_MQ) || cmd != 0 || len != 2) return NET_CTRL_ERR;
    const pairs = <u32>load<u16>(d);
    if (pairs < 1 || pairs > <u32>load<u16>(dev, NETD_MAX_PAIRS)) return NET_CTRL_ERR;
    store<u16>(dev, <u16>pairs, NETD_CUR_PAIRS);
    return NET_CTRL_OK;
  }
  return NET_CTRL_ERR;
}
