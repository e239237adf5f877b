import { createServer, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';

/**
 * The peer of the hv bench's vsock cases: the same two services ('E' echo, 'S' sink, picked by
 * the first byte) over a Unix-domain stream socket, served by another Node thread.
 */
const { path } = workerData as { path: string };
const server = createServer((s: Socket) => {
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
});
server.listen(path, () => parentPort!.postMessage('listening'));
parentPort!.on('message', () => server.close(() => process.exit(0)));
