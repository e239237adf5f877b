/**
 * Bytes received from a socket and not yet parsed: a list of chunks and a read position, so
 * that parsing never copies what arrives in one piece and copies only across chunk edges.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Bytes waiting. */
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The next `n` bytes (n <= length) as one Buffer, without taking them. */
  peek(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    let i = 0;
    let off = this.head;
    while (done < n) {
      const c = this.chunks[i++]!;
      const take = Math.min(n - done, c.length - off);
      c.copy(out, done, off, off + take);
      done += take;
      off = 0;
    }
    return out;
  }

  /** Takes the next `n` bytes (n <= length). */
  take(n: number): Buffer {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }

  /** Drops the next `n` bytes (n <= length). */
  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      const left = c.length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
  }
}
