// One virtio-blk request (§5.2.6): the header read once into locals, the checks of the bad-input
// ids G1–G10 (docs/virtio-bad-input.md, policies in docs/virtio-policy.md), the data moved through
// the backend, and the status byte written last.

import { guestStore } from '../common/guest-write';
import {
  CH_READ_BYTES,
  CH_READ_SEGS,
  CH_SEG_START,
  CH_WRITE_BYTES,
  CH_WRITE_SEGS,
  SEG_BYTES,
  SEG_GPA,
} from '../virtio/burst';
import {
  BJ_BYTES_READ,
  BJ_BYTES_WRITTEN,
  BJ_DISCARDS,
  BJ_FLUSHES,
  BJ_GET_IDS,
  BJ_HEADER,
  BJ_IO_ERRORS,
  BJ_RANGES,
  BJ_READS,
  BJ_REJECTED,
  BJ_UNSUPPORTED,
  BJ_WRITES,
  BJ_WRITE_ZEROES,
  BLKF_DISCARD,
  BLKF_RO,
  BLKF_WRITE_ZEROES,
  BLK_BACKEND,
  BLK_BACKEND_RAM,
  BLK_BACKEND_VOLUME,
  BLK_CAPACITY,
  BLK_FLAGS,
  BLK_HDR_BYTES,
  BLK_ID,
  BLK_ID_BYTES,
  BLK_MAX_DISCARD_SECTORS,
  BLK_MAX_DISCARD_SEG,
  BLK_MAX_WZ_SECTORS,
  BLK_MAX_WZ_SEG,
  BLK_RAM,
  BLK_RANGE_BYTES,
  BLK_RANGE_F_UNMAP,
  BLK_S_IOERR,
  BLK_S_OK,
  BLK_S_UNSUPP,
  BLK_T_DISCARD,
  BLK_T_FLUSH,
  BLK_T_GET_ID,
  BLK_T_IN,
  BLK_T_OUT,
  BLK_T_WRITE_ZEROES,
  bump,
} from './layout';
import { gather, scatter } from './segments';
import { volFlush, volMaxBytes, volRanges, volRead, volWrite } from './volume-path';

/** Where the status byte of a served request goes, and how many data bytes the device wrote before it. */
@inline function finish(map: usize, statusAt: usize, status: u8, written: u32): u32 {
  // The status byte goes last: a driver that sees it sees the data written before it.
  guestStore<u8>(map, statusAt, status);
  return written + 1;
}

/** sector + n within capacity, without overflow (G3, G9c). */
@inline function inRange(dev: usize, sector: u64, n: u64): bool {
  const cap = load<u64>(dev, BLK_CAPACITY);
  return sector <= cap && n <= cap - sector;
}

/** Whole 4096-byte blocks: what a volume can store (blk_size 4096); anything else is IOERR. */
@inline function blockAligned(sector: u64, bytes: u64): bool {
  return (sector & 7) == 0 && (bytes & 4095) == 0;
}

/**
 * Serves one chain the pop accepted; returns its used length (bytes written, status included),
 * 0 for a request rejected without a status (R: G1, G1a, G1b, G2), or PENDING when it was handed
 * to the volume (volume backend: it completes in a later turn, volume-path.ts).
 */
export function serve(job: usize, dev: usize, map: usize, rec: usize, segs: usize): u32 {
  const first = load<u32>(rec, CH_SEG_START);
  const nr = <u32>load<u16>(rec, CH_READ_SEGS);
  const nw = <u32>load<u16>(rec, CH_WRITE_SEGS);
  const rb = load<u32>(rec, CH_READ_BYTES);
  const wb = load<u32>(rec, CH_WRITE_BYTES);
  // G1 / G1a / G1b: 16 readable header bytes come first; G2: a status byte must be writable.
  if (rb < BLK_HDR_BYTES || wb == 0) {
    bump(job, BJ_REJECTED);
    return 0;
  }
  const s0 = segs + <usize>first * SEG_BYTES;
  let h = <usize>load<u32>(s0);
  if (load<u32>(s0, 4) < BLK_HDR_BYTES) {
    h = job + BJ_HEADER;
    gather(segs, first, nr, 0, h, BLK_HDR_BYTES);
  }
  // SAFETY: h is 16 readable bytes (a bounds-checked segment, or the job's scratch); read once (E3).
  const type = load<u32>(h);
  const sector = load<u64>(h, 8);
  const ls = segs + <usize>(first + nr + nw - 1) * SEG_BYTES;
  // The status byte is the stream's last writable byte, wherever the driver put it.
  const statusAt = <usize>load<u32>(ls) + <usize>load<u32>(ls, 4) - 1;
  const statusGpa = load<u64>(ls, SEG_GPA) + <u64>load<u32>(ls, 4) - 1;
  const dataOut = rb - BLK_HDR_BYTES;
  const dataIn = wb - 1;
  const flags = load<u32>(dev, BLK_FLAGS);
  const backend = load<u32>(dev, BLK_BACKEND);
  const ram = backend == BLK_BACKEND_RAM ? <usize>load<u32>(dev, BLK_RAM) : 0;
  const vol = backend == BLK_BACKEND_VOLUME;

  if (type == BLK_T_IN) {
    bump(job, BJ_READS);
    // G5: data the device must write sits in readable descriptors. G4: whole sectors only. G3: range.
    if (dataOut != 0 || (dataIn & 511) != 0 || !inRange(dev, sector, <u64>(dataIn >> 9)))
      return ioerr(job, map, statusAt);
    if (vol && dataIn != 0) {
      // Whole blocks, at most one bounce buffer (seg_max x size_max promise no more).
      if (!blockAligned(sector, <u64>dataIn) || dataIn > volMaxBytes(job)) return ioerr(job, map, statusAt);
      bump(job, BJ_BYTES_READ, dataIn);
      return volRead(job, rec, segs, first + nr, nw, sector, dataIn, statusGpa);
    }
    bump(job, BJ_BYTES_READ, dataIn);
    if (ram == 0) return finish(map, statusAt, BLK_S_OK, 0);
    scatter(map, segs, first + nr, nw, ram + <usize>(sector << 9), dataIn);
    return finish(map, statusAt, BLK_S_OK, dataIn);
  }
  if (type == BLK_T_OUT) {
    bump(job, BJ_WRITES);
    // G8: never written on a read-only device. G5a: writable data descriptors. G4, G3 as for IN.
    if ((flags & BLKF_RO) != 0 || dataIn != 0 || (dataOut & 511) != 0 || !inRange(dev, sector, <u64>(dataOut >> 9)))
      return ioerr(job, map, statusAt);
    if (vol && dataOut != 0) {
      if (!blockAligned(sector, <u64>dataOut) || dataOut > volMaxBytes(job)) return ioerr(job, map, statusAt);
      bump(job, BJ_BYTES_WRITTEN, dataOut);
      return volWrite(job, rec, segs, first, nr, BLK_HDR_BYTES, sector, dataOut, statusGpa);
    }
    bump(job, BJ_BYTES_WRITTEN, dataOut);
    if (ram != 0) gather(segs, first, nr, BLK_HDR_BYTES, ram + <usize>(sector << 9), dataOut);
    return finish(map, statusAt, BLK_S_OK, 0);
  }
  if (type == BLK_T_FLUSH) {
    bump(job, BJ_FLUSHES);
    // G6: sector must be 0. G6a: data is allowed and ignored. Null and RAM backends hold no volatile cache.
    if (sector != 0) return ioerr(job, map, statusAt);
    // A volume caches writes: FLUSH completes once they and the map are durable.
    if (vol) return volFlush(job, rec, statusGpa);
    return finish(map, statusAt, BLK_S_OK, 0);
  }
  if (type == BLK_T_GET_ID) {
    bump(job, BJ_GET_IDS);
    // G7a: as many bytes of the id as the writable data holds, at most 20.
    const n = dataIn < BLK_ID_BYTES ? dataIn : BLK_ID_BYTES;
    scatter(map, segs, first + nr, nw, dev + BLK_ID, n);
    return finish(map, statusAt, BLK_S_OK, n);
  }
  if (type == BLK_T_DISCARD || type == BLK_T_WRITE_ZEROES) {
    const discard = type == BLK_T_DISCARD;
    // Not offered: the type is as unknown as any other (G7).
    if ((flags & (discard ? BLKF_DISCARD : BLKF_WRITE_ZEROES)) == 0) return unsupp(job, map, statusAt);
    bump(job, discard ? BJ_DISCARDS : BJ_WRITE_ZEROES);
    return ranges(job, dev, map, rec, segs, first, nr, dataOut, dataIn, discard, flags, ram, vol, statusAt, statusGpa);
  }
  // G7: unknown types (GET_LIFETIME, SECURE_ERASE and everything else not offered).
  return unsupp(job, map, statusAt);
}

@inline function ioerr(job: usize, map: usize, statusAt: usize): u32 {
  bump(job, BJ_IO_ERRORS);
  return finish(map, statusAt, BLK_S_IOERR, 0);
}

@inline function unsupp(job: usize, map: usize, statusAt: usize): u32 {
  bump(job, BJ_UNSUPPORTED);
  return finish(map, statusAt, BLK_S_UNSUPP, 0);
}

/** DISCARD / WRITE_ZEROES: every range checked before any is applied (all or nothing). */
function ranges(
  job: usize,
  dev: usize,
  map: usize,
  rec: usize,
  segs: usize,
  first: u32,
  nr: u32,
  dataOut: u32,
  dataIn: u32,
  discard: bool,
  flags: u32,
  ram: usize,
  vol: bool,
  statusAt: usize,
  statusGpa: u64,
): u32 {
  // G8: read-only. G9: whole 16-byte ranges, at least one, nothing writable but the status.
  if ((flags & BLKF_RO) != 0 || dataIn != 0 || dataOut == 0 || dataOut % BLK_RANGE_BYTES != 0)
    return ioerr(job, map, statusAt);
  const count = dataOut / BLK_RANGE_BYTES;
  const maxSeg = load<u32>(dev + (discard ? BLK_MAX_DISCARD_SEG : BLK_MAX_WZ_SEG));
  const maxSectors = <u64>load<u32>(dev + (discard ? BLK_MAX_DISCARD_SECTORS : BLK_MAX_WZ_SECTORS));
  // G9a: more ranges than max_*_seg (at most BLK_MAX_SEG_LIMIT: the scratch holds that many).
  if (count > maxSeg) return ioerr(job, map, statusAt);
  const r = job + BJ_RANGES;
  // One copy of the ranges into the job's scratch: the guest cannot change them between check and use (E3).
  gather(segs, first, nr, BLK_HDR_BYTES, r, dataOut);
  let bad = false;
  let some = false;
  for (let k: u32 = 0; k < count; k++) {
    const at = r + <usize>k * BLK_RANGE_BYTES;
    const f = load<u32>(at, 12);
    // G9b: unknown flags, or unmap on a DISCARD: UNSUPP (a MUST), ahead of any range error.
    if ((f & ~BLK_RANGE_F_UNMAP) != 0 || (discard && (f & BLK_RANGE_F_UNMAP) != 0)) return unsupp(job, map, statusAt);
    const n = <u64>load<u32>(at, 8);
    // G9c: beyond capacity; more sectors than max_*_sectors.
    if (n > maxSectors || !inRange(dev, load<u64>(at), n)) bad = true;
    // A volume deallocates and zeroes whole blocks only (discard_sector_alignment = 8).
    if (vol && !blockAligned(load<u64>(at), n << 9)) bad = true;
    if (n != 0) some = true;
  }
  if (bad) return ioerr(job, map, statusAt);
  if (vol && some) return volRanges(job, rec, discard ? BLK_T_DISCARD : BLK_T_WRITE_ZEROES, r, count, statusGpa);
  if (ram != 0) {
    for (let k: u32 = 0; k < count; k++) {
      const at = r + <usize>k * BLK_RANGE_BYTES;
      // Both read back as zeros afterwards (a RAM disk has nothing to deallocate).
      memory.fill(ram + <usize>(load<u64>(at) << 9), 0, <usize>((<u64>load<u32>(at, 8)) << 9));
    }
  }
  return finish(map, statusAt, BLK_S_OK, 0);
}
