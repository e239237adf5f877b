/**
 * Coalesces the control requests made in one turn of the event loop into batches, as a VMM
 * coalesces control messages: `push` queues an item, and once the current turn ends the queue
 * goes out in batches of at most `max` items through `send`, which answers one result per item
 * (in order). While a batch is in flight, new items wait for the next one.
 */
export class ControlBatch<I, R> {
  private queue: { item: I; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  constructor(
    private readonly send: (items: I[]) => Promise<R[]>,
    private readonly max: number,
  ) {}

  push(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const all = this.queue;
    this.queue = [];
    const sends: Promise<void>[] = [];
    for (let i = 0; i < all.length; i += this.max) {
      const part = all.slice(i, i + this.max);
      sends.push(
        this.send(part.map((p) => p.item)).then(
          (rs) => part.forEach((p, j) => p.resolve(rs[j]!)),
          (e: unknown) => part.forEach((p) => p.reject(e)),
        ),
      );
    }
    await Promise.all(sends);
  }
}
