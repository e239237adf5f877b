/**
 * The slow path's fair upcall queue. The fast path gives each port its own bounded upcall ring and
 * drops (and counts) what does not fit, so a guest flooding new flows fills only its own ring.
 * This side drains the rings deficit-round-robin: each burst visits every port with work, taking at
 * most `quantum` records from each before moving on, and starts one port further each burst. A
 * port's first packet therefore waits for at most one quantum from every other port, however
 * many records a flooder has queued.
 */
export interface UpcallSource<T> {
  /** The port the ring belongs to. */
  readonly port: number;
  /** Records waiting (a hint; may grow while draining). */
  pending(): number;
  /** Takes the oldest record, or undefined when the ring is empty. */
  take(): T | undefined;
}

export interface FairDrainOptions {
  /** Records taken from one port per visit. Default 4. */
  quantum?: number | undefined;
  /** Records per burst in all. Default 64. */
  budget?: number | undefined;
}

export class FairDrain<T> {
  private readonly sources: UpcallSource<T>[] = [];
  private cursor = 0;
  readonly quantum: number;
  readonly budget: number;
  /** Records taken per port since creation. */
  readonly taken = new Map<number, number>();

  constructor(options: FairDrainOptions = {}) {
    this.quantum = options.quantum ?? 4;
    this.budget = options.budget ?? 64;
  }

  add(source: UpcallSource<T>): void {
    if (this.sources.some((s) => s.port === source.port)) return;
    this.sources.push(source);
  }

  remove(port: number): void {
    const i = this.sources.findIndex((s) => s.port === port);
    if (i < 0) return;
    this.sources.splice(i, 1);
    if (this.cursor > i) this.cursor--;
    if (this.cursor >= this.sources.length) this.cursor = 0;
  }

  /** Whether any ring has a record. */
  hasWork(): boolean {
    return this.sources.some((s) => s.pending() > 0);
  }

  /** One burst: up to `budget` records, round robin over ports, `quantum` per port per visit. */
  drain(): T[] {
    const out: T[] = [];
    const n = this.sources.length;
    if (n === 0) return out;
    const start = this.cursor;
    this.cursor = (this.cursor + 1) % n;
    let progress = true;
    while (out.length < this.budget && progress) {
      progress = false;
      for (let k = 0; k < n && out.length < this.budget; k++) {
        const src = this.sources[(start + k) % n]!;
        let took = 0;
        while (took < this.quantum && out.length < this.budget) {
          const rec = src.take();
          if (rec === undefined) break;
          out.push(rec);
          took++;
        }
        if (took > 0) {
          progress = true;
          this.taken.set(src.port, (this.taken.get(src.port) ?? 0) + took);
        }
      }
    }
    return out;
  }
}
