import { ErrorCode, QingtianError } from './errors.js';

/**
 * The end of an object's life, for every class with a `dispose()` / `close()` / `free()`: one
 * flag, one check, one error. After the end every method and every getter that reads the
 * object's state throws `QT_DISPOSED` — its memory may already belong to someone else.
 */
export class Lifetime {
  private over = false;

  /**
   * @param what - the object's name in messages (`'FlowTable'`)
   * @param ender - the call that ends it (`'dispose()'`, `'close()'`, …)
   */
  constructor(
    private readonly what: string,
    private readonly ender = 'dispose()',
  ) {}

  /** True once {@link Lifetime.end} was called. */
  get ended(): boolean {
    return this.over;
  }

  /** Throws `QT_DISPOSED`, naming the object and `op`, once the life has ended. */
  check(op: string): void {
    if (this.over) throw this.error(op);
  }

  /** The error {@link Lifetime.check} throws, for callers that reject a promise instead. */
  error(op: string): QingtianError {
    return new QingtianError(ErrorCode.Disposed, `${this.what}.${op}: used after ${this.ender}`, {
      object: this.what,
      op,
    });
  }

  /** Ends the life. Returns false when it had already ended: a second dispose does nothing. */
  end(): boolean {
    if (this.over) return false;
    this.over = true;
    return true;
  }
}
