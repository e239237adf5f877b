import { at, invert, matrix, selectRows, type Matrix } from './matrices.js';
import { gfMul } from './gf256.js';
import type { CoderState } from './coder-state.js';
import { checkStatus, type EcKernel } from './ec-kernel.js';

/** How one erasure pattern is repaired: one dot-product pass over `sources` producing `targets`. */
export interface DecodePlan {
  /** The k shards read: the first k present ones, in index order (ISA-L's convention). */
  readonly sources: readonly number[];
  /** The missing shards, in index order. */
  readonly targets: readonly number[];
  /** Nibble tables of the targets x k coefficient matrix, in the coder's state region. */
  readonly tables: number;
}

/**
 * Coefficients that rebuild `targets` from `sources`: with B the encode-matrix rows of the
 * sources and D = B^-1, data shard t is row t of D, and parity shard t is (row t of the encode
 * matrix) * D. Null when B is singular (a non-MDS matrix and an unlucky pattern).
 */
export function decodeCoefficients(enc: Matrix, sources: readonly number[], targets: readonly number[]): Matrix | null {
  const k = enc.cols;
  const d = invert(selectRows(enc, sources));
  if (!d) return null;
  const out = matrix(targets.length, k);
  targets.forEach((t, r) => {
    for (let c = 0; c < k; c++) {
      let acc = 0;
      if (t < k) acc = at(d, t, c);
      else for (let i = 0; i < k; i++) acc ^= gfMul(at(enc, t, i), at(d, i, c));
      out.data[r * k + c] = acc;
    }
  });
  return out;
}

/**
 * The decode-matrix cache of one coder: an LRU of erasure patterns, each with its tables built in
 * one of the state region's slots. Reconstructing the same pattern again (a failed disk: every
 * stripe has the same missing shards) costs no matrix work.
 */
export class DecodePlans {
  private readonly cache = new Map<string, DecodePlan & { slot: number }>();
  hits = 0;
  misses = 0;

  constructor(
    private readonly enc: Matrix,
    private readonly state: CoderState,
    private readonly kernel: EcKernel,
  ) {}

  /** The plan for a set of missing shards (sorted, 1..m of them; the caller checked). */
  plan(missing: readonly number[]): DecodePlan {
    const key = missing.join(',');
    const hit = this.cache.get(key);
    if (hit) {
      this.hits++;
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit;
    }
    this.misses++;
    const k = this.enc.cols;
    const n = this.enc.rows;
    const gone = new Set(missing);
    const sources: number[] = [];
    for (let i = 0; i < n && sources.length < k; i++) if (!gone.has(i)) sources.push(i);
    const coeffs = decodeCoefficients(this.enc, sources, missing);
    // Every matrix a ReedSolomon accepts is MDS (isal-rs sizes are checked at construction), so
    // any k survivors are independent.
    if (!coeffs) throw new Error(`decode: survivor matrix of shards ${sources.join(',')} is singular (matrix not MDS)`);
    let slot: number;
    if (this.cache.size < this.state.slots) {
      slot = this.cache.size;
    } else {
      const [oldest, evicted] = this.cache.entries().next().value as [string, { slot: number }];
      this.cache.delete(oldest);
      slot = evicted.slot;
    }
    const tables = this.state.slot(slot);
    this.state.setBytes(this.state.scratch, coeffs.data);
    checkStatus(this.kernel, 'decode tables', this.kernel.initTables(k, missing.length, this.state.scratch, tables));
    const p = { sources, targets: [...missing], tables, slot };
    this.cache.set(key, p);
    return p;
  }
}
