import type { RingFeatures } from '../../common/virtio/features.js';
import { ReferenceDevice, type RefBuf, type RefChain, type RefMemory } from '../../dpu/virtio/reference-device.js';
import {
  BLK_HDR_BYTES,
  BLK_S_IOERR,
  BLK_S_OK,
  BLK_S_UNSUPP,
  BLK_T_FLUSH,
  BLK_T_IN,
  BLK_T_OUT,
} from '../../generated/blk.js';

/** Where a TsBlkDevice finds its queue and its data. */
export interface TsBlkInit {
  buffer: ArrayBufferLike;
  ramBase: number;
  ramBytes: number;
  size: number;
  features: RingFeatures;
  config: { descGpa: string; driverGpa: string; deviceGpa: string };
  backend: 'null' | 'ram';
  /** Host address of the RAM disk (backend 'ram'). */
  diskBase: number;
  capacitySectors: number;
}

/**
 * The plain-TypeScript peer of the blk bench: a virtio-blk device written the obvious way over
 * the spec-literal reference virtqueue. It serves IN, OUT and FLUSH (what the bench issues;
 * other types get UNSUPP) over a null backend or a RAM disk, with the same checks on header,
 * length and range as the kernel.
 */
export class TsBlkDevice {
  private readonly u8: Uint8Array;
  private readonly mem: RefMemory;
  private readonly dev: ReferenceDevice;

  constructor(private readonly w: TsBlkInit) {
    this.u8 = new Uint8Array(w.buffer);
    this.mem = {
      ram: new DataView(w.buffer, w.ramBase, w.ramBytes),
      sharedBuffer: w.buffer,
      host: (gpa: bigint) => w.ramBase + Number(gpa),
    };
    this.dev = new ReferenceDevice(this.mem, {
      size: w.size,
      features: w.features,
      descGpa: BigInt(w.config.descGpa),
      driverGpa: BigInt(w.config.driverGpa),
      deviceGpa: BigInt(w.config.deviceGpa),
    });
    this.dev.disableKicks();
  }

  /** Serves up to `max` requests and publishes them; returns how many. */
  burst(max: number): number {
    let n = 0;
    for (let ch = this.dev.pop(); ch; ch = n < max ? this.dev.pop() : null) {
      this.dev.push(ch, this.serve(ch));
      n++;
    }
    if (n) this.dev.publish();
    return n;
  }

  /** Copies between a buffer list (from byte `skip`) and the disk at `disk`, `len` bytes. */
  private copy(bufs: RefBuf[], skip: number, disk: number, len: number, toGuest: boolean): void {
    for (const b of bufs) {
      if (len === 0) return;
      if (skip >= b.len) {
        skip -= b.len;
        continue;
      }
      const take = Math.min(b.len - skip, len);
      const g = this.w.ramBase + Number(b.gpa) + skip;
      if (toGuest) this.u8.copyWithin(g, disk, disk + take);
      else this.u8.copyWithin(disk, g, g + take);
      disk += take;
      len -= take;
      skip = 0;
    }
  }

  private serve(ch: RefChain): number {
    const readable = sum(ch.out);
    const writable = sum(ch.in);
    if (readable < BLK_HDR_BYTES || writable < 1) return 0;
    const hdr = new Uint8Array(BLK_HDR_BYTES);
    let at = 0;
    for (const b of ch.out) {
      const take = Math.min(b.len, BLK_HDR_BYTES - at);
      hdr.set(this.u8.subarray(this.w.ramBase + Number(b.gpa), this.w.ramBase + Number(b.gpa) + take), at);
      at += take;
      if (at === BLK_HDR_BYTES) break;
    }
    const h = new DataView(hdr.buffer);
    const type = h.getUint32(0, true);
    const sector = h.getBigUint64(8, true);
    const last = ch.in[ch.in.length - 1]!;
    const statusGpa = Number(last.gpa) + last.len - 1;
    const dataIn = writable - 1;
    const dataOut = readable - BLK_HDR_BYTES;
    const inRange = (n: number): boolean => sector + BigInt(n) <= BigInt(this.w.capacitySectors);
    let status = BLK_S_OK;
    let written = 0;
    if (type === BLK_T_IN) {
      if (dataOut !== 0 || dataIn % 512 !== 0 || !inRange(dataIn / 512)) status = BLK_S_IOERR;
      else if (this.w.backend === 'ram') {
        this.copy(ch.in, 0, this.w.diskBase + Number(sector) * 512, dataIn, true);
        written = dataIn;
      }
    } else if (type === BLK_T_OUT) {
      if (dataIn !== 0 || dataOut % 512 !== 0 || !inRange(dataOut / 512)) status = BLK_S_IOERR;
      else if (this.w.backend === 'ram')
        this.copy(ch.out, BLK_HDR_BYTES, this.w.diskBase + Number(sector) * 512, dataOut, false);
    } else if (type === BLK_T_FLUSH) {
      if (sector !== 0n) status = BLK_S_IOERR;
    } else status = BLK_S_UNSUPP;
    this.mem.ram.setUint8(statusGpa, status);
    return written + 1;
  }
}

function sum(bufs: RefBuf[]): number {
  return bufs.reduce((a, b) => a + b.len, 0);
}
