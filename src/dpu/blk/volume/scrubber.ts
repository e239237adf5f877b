import type { ReedSolomon } from '../../ec/reed-solomon.js';
import type { BlockMap } from './block-map.js';
import type { BlockProtection } from './block-protection.js';
import type { DiskSet } from './disk-set.js';
import { UNIT_BYTES, type Geometry } from './geometry.js';
import type { LogWriter } from './log-writer.js';

/** What a scrub found and did. */
export interface ScrubReport {
  /** Stripes that held live data, read and checked. */
  stripesChecked: number;
  /** Live blocks whose DIF was checked. */
  blocksChecked: number;
  /** Live blocks that failed their DIF check (silent corruption). */
  difErrors: number;
  /** Of those, rebuilt from the row's other shards and rewritten in place. */
  repaired: number;
  /** Rows whose parity disagreed with their data and was rewritten. */
  parityRepaired: number;
  /** Blocks that could not be rebuilt (too many bad shards in their row). */
  unrecoverable: number;
  /** The scrub went over the whole log. */
  done: boolean;
}

/**
 * Scrub: reads every stripe that holds live data, whole, and checks each live block's
 * protection information (guard and reference tag = LBA) and each row's parity against its
 * data. A block that fails is rebuilt from the other shards of its row and written back; a row
 * whose data all checks but whose parity disagrees (a flipped bit in a parity shard, or in a
 * dead block the parity still covers) gets its parity rewritten. Runs a few stripes a step
 * while the volume serves; stripes still in a log head's memory are left for a later scrub.
 */
export class Scrubber {
  private cursor = 0;
  readonly report: ScrubReport = {
    stripesChecked: 0,
    blocksChecked: 0,
    difErrors: 0,
    repaired: 0,
    parityRepaired: 0,
    unrecoverable: 0,
    done: false,
  };
  private readonly shards: number[];
  private readonly parityCheck: number[];
  private readonly rowUnits: number[];

  constructor(
    private readonly geo: Geometry,
    private readonly u8: Uint8Array,
    private readonly disks: DiskSet,
    private readonly map: BlockMap,
    private readonly writer: LogWriter,
    private readonly rs: ReedSolomon,
    private readonly prot: BlockProtection,
    /** (n + m) chunks of scratch: the stripe, then its parity recomputed. */
    scratch: number,
  ) {
    this.shards = Array.from({ length: geo.disks }, (_, s) => scratch + s * geo.chunkBytes);
    this.parityCheck = Array.from({ length: geo.parityDisks }, (_, p) => scratch + (geo.disks + p) * geo.chunkBytes);
    this.rowUnits = new Array<number>(geo.disks).fill(0);
  }

  /** Scrubs up to `budget` stripes; true when the whole log has been scrubbed. */
  step(budget: number): boolean {
    const geo = this.geo;
    while (budget > 0 && this.cursor < geo.totalStripes) {
      const g = this.cursor++;
      if (this.writer.user.holdsStripe(g) || this.writer.cleaner.holdsStripe(g) || !this.hasLive(g)) continue;
      budget--;
      this.scrubStripe(g);
    }
    if (this.cursor >= geo.totalStripes) this.report.done = true;
    return this.report.done;
  }

  private scrubStripe(g: number): void {
    const { geo, map, u8 } = this;
    const k = geo.dataDisks;
    const seg = Math.floor(g / geo.stripesPerSegment);
    const valid = map.validDisks[seg]! & this.disks.presentMask;
    const pos = geo.rowOffset(g, 0);
    const absent: number[] = [];
    for (let s = 0; s < geo.disks; s++) {
      const d = geo.diskOf(g, s);
      if ((valid & (1 << d)) === 0 || !this.disks.read(d, u8, this.shards[s]!, geo.chunkBytes, pos)) absent.push(s);
    }
    this.report.stripesChecked++;
    const whole = absent.length === 0;
    if (whole) this.rs.encodeAt(this.shards.slice(0, k), this.parityCheck, geo.chunkBytes);
    const base = g * geo.stripeBlocks;
    for (let row = 0; row < geo.chunkBlocks; row++) {
      const bad: number[] = [];
      let live = false;
      for (let s = 0; s < k; s++) {
        const owner = map.rev[base + row * k + s]!;
        if (owner === 0) continue;
        live = true;
        if (absent.includes(s)) continue;
        this.report.blocksChecked++;
        if (this.prot.verify(this.shards[s]! + row * UNIT_BYTES, 1, owner - 1) >= 0) bad.push(s);
      }
      if (!live) continue;
      if (bad.length > 0) {
        this.report.difErrors += bad.length;
        this.repairRow(g, row, bad, absent, valid);
      } else if (whole) {
        this.checkParity(g, row, valid);
      }
    }
  }

  /** Rebuilds the bad data units of one row from the rest and writes them back. */
  private repairRow(g: number, row: number, bad: number[], absent: number[], valid: number): void {
    const { geo, u8 } = this;
    const missing = [...new Set([...bad, ...absent])].sort((a, b) => a - b);
    if (missing.length > geo.parityDisks) {
      this.report.unrecoverable += bad.length;
      return;
    }
    for (let s = 0; s < geo.disks; s++) this.rowUnits[s] = this.shards[s]! + row * UNIT_BYTES;
    this.rs.reconstructAt(this.rowUnits, missing, UNIT_BYTES);
    const base = g * geo.stripeBlocks + row * geo.dataDisks;
    for (const s of bad) {
      const unit = this.rowUnits[s]!;
      const lba = this.map.rev[base + s]! - 1;
      const d = geo.diskOf(g, s);
      if (this.prot.verify(unit, 1, lba) < 0 && (valid & (1 << d)) !== 0) {
        if (this.disks.write(d, u8, unit, UNIT_BYTES, geo.rowOffset(g, row))) this.report.repaired++;
      } else {
        this.report.unrecoverable++;
      }
    }
  }

  /** Compares the row's stored parity with the recomputed one; rewrites what differs. */
  private checkParity(g: number, row: number, valid: number): void {
    const { geo, u8 } = this;
    const off = row * UNIT_BYTES;
    for (let p = 0; p < geo.parityDisks; p++) {
      const stored = this.shards[geo.dataDisks + p]! + off;
      const fresh = this.parityCheck[p]! + off;
      if (Buffer.compare(u8.subarray(stored, stored + UNIT_BYTES), u8.subarray(fresh, fresh + UNIT_BYTES)) === 0)
        continue;
      const d = geo.diskOf(g, geo.dataDisks + p);
      if ((valid & (1 << d)) !== 0 && this.disks.write(d, u8, fresh, UNIT_BYTES, geo.rowOffset(g, row)))
        this.report.parityRepaired++;
    }
  }

  private hasLive(g: number): boolean {
    const first = g * this.geo.stripeBlocks;
    const rev = this.map.rev;
    for (let p = first; p < first + this.geo.stripeBlocks; p++) if (rev[p] !== 0) return true;
    return false;
  }
}
