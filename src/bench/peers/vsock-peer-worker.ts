import { readFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { VsockDriver } from '../../hypervisor/guest/virtio/vsock-driver.js';
import type { VsockSocket } from '../../common/vsock/vsock-socket.js';

/**
 * The guest end of the hv bench's vsock cases, in a thread of its own (as a guest's would be):
 * it runs a guest vsock driver laid out by the bench and serves port 5000:
 *  - 'echo': every byte back (round trips)
 *  - 'sink': reads to the end of the stream, then answers with the byte count (u64) (throughput)
 */
const data = workerData as { memory: WebAssembly.Memory; guestKernel: string; vs: number; irq: number };
const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(data.guestKernel)), {
  env: { memory: data.memory },
});
const driver = new VsockDriver(
  { fn: (name) => instance.exports[name] as (...a: (number | bigint)[]) => number },
  data.memory.buffer,
  data.vs,
  data.irq,
);
const serve = (s: VsockSocket): void => {
  s.on('error', () => undefined);
  let mode: 'echo' | 'sink' | null = null;
  let count = 0n;
  s.on('data', (b: Buffer) => {
    // The first byte says what the stream is for.
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
};
driver.endpoint.listen(5000, serve);
driver.start();
