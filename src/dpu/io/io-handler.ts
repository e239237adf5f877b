/**
 * What an I/O worker does with a request: a handler module, loaded inside the worker thread.
 * The module exports `createHandler(data, context)`, returning the function called once per
 * request (in any order, concurrently: it may await files, sockets, timers) and optionally a
 * `close()` run when the worker stops. Built-in handlers: 'echo' and 'file' (handlers/).
 */

/** One request record as the kernel wrote it (assembly/common/io-channel.ts). */
export interface IoRequest {
  /** The kernel's own tag, echoed back in the completion. */
  tag: number;
  /** What to do; the handler defines the codes. */
  op: number;
  arg0: bigint;
  /** Host address of a buffer the device owns (never guest RAM), and its length. */
  addr: number;
  len: number;
  arg1: bigint;
}

/** The completion a handler returns: `result` >= 0 (bytes, a count) or a negative errno. */
export interface IoResult {
  result: number;
  value?: bigint;
}

/** What a handler may touch: host memory (the device's buffers named by requests). */
export interface IoContext {
  readonly memory: WebAssembly.Memory;
  /** Bytes [addr, addr + len) of host memory, checked against its size (a view, not a copy). */
  bytes(addr: number, len: number): Uint8Array;
}

/** What `createHandler` returns: the per-request function and an optional `close`. */
export interface IoHandler {
  handle(request: IoRequest): IoResult | Promise<IoResult>;
  close?(): void | Promise<void>;
}

/** The shape of a handler module an {@link IoWorker} loads. */
export interface IoHandlerModule {
  createHandler(data: unknown, context: IoContext): IoHandler | Promise<IoHandler>;
}

/** Negative errno for a failed operation: Node's own (`err.errno`, negative) when it has one, else -EIO. */
export function errnoOf(e: unknown): number {
  const n = (e as { errno?: unknown } | null)?.errno;
  return typeof n === 'number' && Number.isInteger(n) && n < 0 ? n : -5;
}
