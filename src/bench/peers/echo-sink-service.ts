/** The stream calls the echo/sink service needs: a Unix socket and a vsock socket both have them. */
export interface ByteStream {
  on(event: 'data', fn: (b: Buffer) => void): unknown;
  on(event: 'end' | 'error', fn: () => void): unknown;
  write(b: Buffer): unknown;
  end(): unknown;
  end(b: Buffer): unknown;
}

/**
 * The hv bench's two services, one definition for ours and the peer so both serve the same bytes:
 * the first byte picks 'S' sink (read to the end, answer the byte count as a u64) or echo.
 */
export function serveEchoOrSink(s: ByteStream): void {
  let mode: 'echo' | 'sink' | null = null;
  let count = 0n;
  s.on('error', () => undefined);
  s.on('data', (b: Buffer) => {
    let chunk = b;
    if (mode === null) {
      mode = chunk[0] === 0x53 ? 'sink' : 'echo';
      chunk = chunk.subarray(1);
    }
    if (mode === 'echo') s.write(chunk);
    else count += BigInt(chunk.length);
  });
  s.on('end', () => {
    if (mode !== 'sink') {
      s.end();
      return;
    }
    const out = Buffer.alloc(8);
    out.writeBigUInt64LE(count);
    s.end(out);
  });
}
