import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { HostMemoryApi } from '../../common/host-memory-api.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { DEV_CONFIG_GEN } from '../../generated/virtio.js';

/**
 * A device's config space (virtio 1.2 §4.1.4.3: device-specific configuration), kept in the
 * device state region so that save() and migration carry it as bytes. Spec layout,
 * little-endian. The generation word (DEV_CONFIG_GEN) changes whenever the device changes the
 * space, so a driver reading a multi-word field can tell it read a torn value (§2.5.1).
 */
export class ConfigSpace {
  constructor(
    private readonly memory: HostMemoryApi,
    private readonly state: number,
    private readonly offset: number,
    readonly bytes: number,
    private readonly configIrq: number,
    private readonly owner: string,
  ) {}

  /** Host address of byte `offset` after checking [offset, offset + length) lies inside the space. */
  at(offset: number, length: number, op: string): number {
    const o = parseArgs(intIn(0, this.bytes), offset, `${this.owner}: ${op} offset`);
    parseArgs(intIn(0, this.bytes - o), length, `${this.owner}: ${op} length`);
    return this.state + this.offset + o;
  }

  read(offset: number, length: number): Uint8Array {
    const at = this.at(offset, length, 'configRead');
    return this.memory.u8.slice(at, at + length);
  }

  /** Overwrites the whole space (restore). */
  load(bytes: Uint8Array): void {
    if (bytes.length !== this.bytes)
      throw new QingtianError(
        ErrorCode.BadFormat,
        `${this.owner}: config space: expected ${this.bytes} bytes, got ${bytes.length}`,
      );
    this.memory.u8.set(bytes, this.state + this.offset);
  }

  /** A view of exactly the space, for the device to fill in and update. */
  view(): DataView {
    return new DataView(this.memory.memory.buffer, this.state + this.offset, this.bytes);
  }

  generation(): number {
    return Atomics.load(this.memory.i32, (this.state + DEV_CONFIG_GEN) >> 2);
  }

  /** After a device-side change: a new generation, then the configuration change interrupt (§2.1.2). */
  changed(): void {
    const i32 = this.memory.i32;
    Atomics.add(i32, (this.state + DEV_CONFIG_GEN) >> 2, 1);
    Atomics.add(i32, this.configIrq >> 2, 1);
    Atomics.notify(i32, this.configIrq >> 2);
  }
}
