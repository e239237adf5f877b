import type { IoContext, IoHandler, IoRequest, IoResult } from '../io-handler.js';

/**
 * The 'echo' I/O handler: completes every request at once with result = len and value = arg0,
 * touching nothing. The floor under any real handler's latency (`qingtian bench io`). With
 * `stamps` (a SharedArrayBuffer of float64), it records `performance.now()` at each request's
 * arrival, in order, until the buffer is full: at one request in flight, the gap between two
 * arrivals is one whole round trip through both rings.
 */
export function createHandler(data: unknown, context: IoContext): IoHandler {
  void context;
  const stamps = (data as { stamps?: SharedArrayBuffer } | undefined)?.stamps;
  const times = stamps ? new Float64Array(stamps) : null;
  let n = 0;
  return {
    handle(r: IoRequest): IoResult {
      if (times && n < times.length) times[n++] = performance.now();
      return { result: r.len, value: r.arg0 };
    },
  };
}
