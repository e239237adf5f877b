import type { z } from 'zod';
import { QUANTUM_UNITS } from '../core/fair-share.js';
import { intIn } from '../../common/validate.js';
import {
  DESC_WORK_UNITS as DESC_UNITS,
  WB_BYTES_MOVED,
  WB_RESUMED,
  WB_TURN_BYTES,
  WB_TURN_DESCS,
  WB_WORK,
} from '../../generated/virtio.js';

/** Work units one descriptor walked costs (the kernel's DESC_WORK_UNITS). */
export const DESC_WORK_UNITS = DESC_UNITS;

/*
 * A device job's work budget block (assembly/virtio/work-budget.ts, WB_BYTES inside the device's
 * state region): how much one turn may do, and the work done, which the core's fair share
 * charges; and the chain cursor (chain-cursor.ts) that carries a request across turns. Their
 * offsets come from src/generated/virtio.ts.
 */

/**
 * Bytes a device job may move per turn unless told otherwise: the core's fair-share quantum, so
 * that a busy job of the default weight makes one call per round. docs/design.md, "Fair cores",
 * says how it was chosen.
 */
export const DEFAULT_TURN_BYTES = QUANTUM_UNITS;
/** Descriptors a device job's pop may walk per turn unless told otherwise. */
export const DEFAULT_TURN_DESCS = 1024;

/** A device's turn limits, as its options give them. */
export interface TurnLimits {
  /** Bytes one turn may move, 0 (no limit) or 1 – 2^31 - 1. */
  turnBytes: number;
  /** Descriptors one turn's pop may walk, 0 (no limit) or 1 – 2^31 - 1 (a chain is never cut). */
  turnDescs: number;
}

/** Zod schemas for a device's `turnBytes` and `turnDescs` options. */
export const turnLimitSchemas = {
  turnBytes: intIn(0, 2 ** 31 - 1).optional(),
  turnDescs: intIn(0, 2 ** 31 - 1).optional(),
} satisfies Record<keyof TurnLimits, z.ZodType>;

/** Writes the limits into a device's budget block at host address `at`. */
export function writeTurnLimits(view: DataView, at: number, limits: TurnLimits): void {
  view.setUint32(at + WB_TURN_BYTES, limits.turnBytes, true);
  view.setUint32(at + WB_TURN_DESCS, limits.turnDescs, true);
}

/** What a device job did, from its budget block (out of band). */
export interface WorkStats {
  /** Work units: bytes moved plus DESC_WORK_UNITS per descriptor walked (what the core charges). */
  work: number;
  /** Bytes moved. */
  bytesMoved: number;
  /** Chains finished in a later turn than the one that began them (longer than a turn). */
  resumed: number;
}

/** Reads a device's work counters from its budget block at host address `at`. */
export function readWorkStats(view: DataView, at: number): WorkStats {
  const n = (off: number): number => Number(view.getBigUint64(at + off, true));
  return { work: n(WB_WORK), bytesMoved: n(WB_BYTES_MOVED), resumed: n(WB_RESUMED) };
}
