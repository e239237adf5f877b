import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, parseArgs } from '../../common/validate.js';
import {
  GA_BEYOND,
  GA_DUPLICATES,
  GA_MAX_TRANSITIONS,
  GA_SLOT_BYTES,
  GA_SLOT_COUNT,
  GA_SLOT_USED,
  GA_SLOT_VERSION,
  GA_TALLY,
  GA_TALLY_SLOTS,
  GA_TR_FROM,
  GA_TR_SEQ,
  GA_TR_TO,
  GA_TRANSITION_BYTES,
  GA_TRANSITIONS,
  GA_UNTALLIED,
  GA_WRONG,
} from '../../generated/guest.js';
import type { Guest } from './guest.js';
import type { GuestVcpu } from './vcpu.js';

/** Whatever runs the guest kernel's exports for the audit: a vCPU (or, in tests, a local instance). */
export type GuestCaller = Pick<GuestVcpu, 'call'>;

/** A change of the serving version, seen in completion order: request `seq` was the first served by `to`. */
export interface VersionTransition {
  seq: number;
  from: string;
  to: string;
}

/** What the guest-side audit of loopback traffic found. */
export interface AuditReport {
  /** Requests completed, by the version stamped into their responses ('0.0.0': unstamped). */
  byVersion: Record<string, number>;
  /** Every change of serving version, in completion order (the first one is from '0.0.0'). */
  transitions: VersionTransition[];
  /** Transitions that happened beyond the log's capacity (counted, not logged). */
  transitionsDropped: number;
  /** Completions of a sequence number that had already completed. */
  duplicates: number;
  /** Completions whose echo did not match their request (wrong length or sequence number). */
  wrong: number;
  /** Completions whose sequence number lay past the bitmap (not checked for duplicates). */
  beyond: number;
  /** Completions stamped with a version beyond the first GA_TALLY_SLOTS distinct ones (not in byVersion). */
  untallied: number;
}

/** QT_VERSION code (major << 16 | minor << 8 | patch) as text. */
export function versionText(code: number): string {
  return `${(code >>> 16) & 0xffff}.${(code >>> 8) & 0xff}.${code & 0xff}`;
}

/**
 * An exactly-once audit of a guest queue's loopback traffic (assembly/guest/audit.ts): handed
 * to `GuestQueue.pump(ms, { audit })`, it checks every completion against its request, marks it
 * by sequence number (a second mark is a duplicate, a gap below the driver's `added` count is a
 * lost request) and tallies it by the version the device stamped into the response
 * (LoopbackDevice `stampVersion`). The area lives in guest RAM, like any guest buffer.
 */
export class LoopbackAudit {
  readonly gpa: bigint;
  /** Host address of the area. */
  readonly host: number;

  private constructor(
    private readonly guest: Guest,
    private readonly vcpu: GuestCaller,
    gpa: bigint,
  ) {
    this.gpa = gpa;
    this.host = guest.host(gpa);
  }

  /** `maxRequests` sequence numbers are tracked (1 bit each); `maxTransitions` version changes logged. */
  static async create(
    guest: Guest,
    vcpu: GuestCaller,
    options: { maxRequests: number; maxTransitions?: number },
  ): Promise<LoopbackAudit> {
    const maxRequests = parseArgs(intIn(1, 2 ** 31), options.maxRequests, 'audit maxRequests');
    const maxTransitions =
      parseArgs(intIn(1, 1 << 20).optional(), options.maxTransitions, 'audit maxTransitions') ?? 4096;
    const bytes = Number(await vcpu.call('gaudit_bytes', maxTransitions, maxRequests));
    const gpa = guest.allocGpa(bytes, 64);
    const audit = new LoopbackAudit(guest, vcpu, gpa);
    if ((await vcpu.call('gaudit_init', audit.host, maxTransitions, maxRequests)) !== 0) {
      throw new QingtianError(ErrorCode.InvalidArgument, `audit: area for ${maxRequests} requests refused`);
    }
    return audit;
  }

  /** Sequence numbers 1..`added` that never completed (call after the pump has drained). */
  async missing(added: number): Promise<number> {
    return Number(await this.vcpu.call('gaudit_missing', this.host, BigInt(added)));
  }

  /** Reads the tallies straight from guest RAM. */
  read(): AuditReport {
    const v = this.guest.ram;
    const at = Number(this.gpa);
    const u64 = (off: number): number => Number(v.getBigUint64(at + off, true));
    const byVersion: Record<string, number> = {};
    for (let i = 0; i < GA_TALLY_SLOTS; i++) {
      const slot = at + GA_TALLY + GA_SLOT_BYTES * i;
      if (v.getUint32(slot + GA_SLOT_USED, true) === 0) break;
      byVersion[versionText(v.getUint32(slot + GA_SLOT_VERSION, true))] = Number(
        v.getBigUint64(slot + GA_SLOT_COUNT, true),
      );
    }
    const maxT = v.getUint32(at + GA_MAX_TRANSITIONS, true);
    const count = v.getUint32(at + GA_TRANSITIONS, true);
    const transitions: VersionTransition[] = [];
    const log = at + GA_TALLY + GA_SLOT_BYTES * GA_TALLY_SLOTS;
    for (let i = 0; i < Math.min(count, maxT); i++) {
      const rec = log + GA_TRANSITION_BYTES * i;
      transitions.push({
        seq: Number(v.getBigUint64(rec + GA_TR_SEQ, true)),
        from: versionText(v.getUint32(rec + GA_TR_FROM, true)),
        to: versionText(v.getUint32(rec + GA_TR_TO, true)),
      });
    }
    return {
      byVersion,
      transitions,
      transitionsDropped: count - transitions.length,
      duplicates: u64(GA_DUPLICATES),
      wrong: u64(GA_WRONG),
      beyond: u64(GA_BEYOND),
      untallied: u64(GA_UNTALLIED),
    };
  }
}
