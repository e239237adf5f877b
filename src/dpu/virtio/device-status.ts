import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, parseArgs } from '../../common/validate.js';
import { featureWordSchema } from './backend-spec.js';
import { DEV_STATUS, FEAT_VERSION_1, STATUS_DEVICE_NEEDS_RESET } from '../../generated/virtio.js';

/** Device status bits (virtio 1.2 §2.1); DEVICE_NEEDS_RESET is the one the kernels set. */
export const DeviceStatus = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: STATUS_DEVICE_NEEDS_RESET,
  FAILED: 128,
} as const;

const bit = (n: number): bigint => 1n << BigInt(n);

/** The status bits a driver writes (§2.1); DEVICE_NEEDS_RESET is the device's. */
export const DRIVER_STATUS =
  DeviceStatus.ACKNOWLEDGE |
  DeviceStatus.DRIVER |
  DeviceStatus.DRIVER_OK |
  DeviceStatus.FEATURES_OK |
  DeviceStatus.FAILED;

/**
 * A device's status word (DEV_STATUS in its state region, §2.1) and the feature negotiation
 * that sets FEATURES_OK in it (§3.1.1). The kernel sets DEVICE_NEEDS_RESET with an atomic or, so
 * every update here is atomic too.
 */
export class DeviceStatusWord {
  private accepted: bigint | null = null;
  private readonly idx: number;

  constructor(
    private readonly i32: Int32Array,
    state: number,
    readonly offered: bigint,
    private readonly owner: string,
  ) {
    this.idx = (state + DEV_STATUS) >> 2;
  }

  /** The accepted feature bits, or null before a successful negotiation. */
  get negotiated(): bigint | null {
    return this.accepted;
  }

  get value(): number {
    return Atomics.load(this.i32, this.idx);
  }

  /**
   * Accepts `driverFeatures` and sets FEATURES_OK. Refused with QT_FEATURES_REFUSED when a bit is
   * not offered or VERSION_1 is missing; FEATURES_OK is then clear, as a driver re-reading the
   * status would find.
   */
  negotiate(driverFeatures: bigint): bigint {
    const f = parseArgs(featureWordSchema, driverFeatures, `${this.owner}: driver features`);
    const refuse = (why: string): never => {
      this.accepted = null;
      Atomics.and(this.i32, this.idx, ~DeviceStatus.FEATURES_OK);
      throw new QingtianError(ErrorCode.FeaturesRefused, `${this.owner}: driver features 0x${f.toString(16)}: ${why}`, {
        offered: this.offered,
        got: f,
      });
    };
    const extra = f & ~this.offered;
    if (extra !== 0n) refuse(`bits ${bitList(extra)} are not offered (offered: 0x${this.offered.toString(16)})`);
    if ((f & bit(FEAT_VERSION_1)) === 0n) refuse('VIRTIO_F_VERSION_1 (bit 32) is required');
    this.accepted = f;
    Atomics.or(this.i32, this.idx, DeviceStatus.FEATURES_OK);
    return f;
  }

  /**
   * A driver's non-zero write of the status register: ACKNOWLEDGE, DRIVER, DRIVER_OK and FAILED
   * are added (a driver clears bits only by a reset); FEATURES_OK comes from negotiate() alone;
   * DEVICE_NEEDS_RESET is the device's and is ignored. DRIVER_OK before FEATURES_OK is refused.
   */
  driverWrite(value: number): void {
    const s = parseArgs(intIn(1, 255), value, `${this.owner}: device status`);
    const known = DRIVER_STATUS | DeviceStatus.DEVICE_NEEDS_RESET;
    if (s & ~known)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `${this.owner}: device status: bits 0x${(s & ~known).toString(16)} are reserved (known: 0x${known.toString(16)})`,
      );
    const add = s & (DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.DRIVER_OK | DeviceStatus.FAILED);
    if (add & DeviceStatus.DRIVER_OK && !(this.value & DeviceStatus.FEATURES_OK))
      throw new QingtianError(ErrorCode.DeviceState, `${this.owner}: DRIVER_OK before FEATURES_OK (negotiate first)`);
    Atomics.or(this.i32, this.idx, add);
  }

  /** Restores saved bits other than FEATURES_OK (which only a negotiation sets). */
  restoreBits(saved: number): void {
    Atomics.or(
      this.i32,
      this.idx,
      saved & (DRIVER_STATUS | DeviceStatus.DEVICE_NEEDS_RESET) & ~DeviceStatus.FEATURES_OK,
    );
  }

  /** Reset: status 0 (DEVICE_NEEDS_RESET cleared), features forgotten. */
  clear(): void {
    this.accepted = null;
    Atomics.store(this.i32, this.idx, 0);
  }
}

function bitList(w: bigint): string {
  const out: number[] = [];
  for (let i = 0; i < 64; i++) if (w & bit(i)) out.push(i);
  return out.join(', ');
}
