import { readFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { VsockDriver } from '../../hypervisor/guest/virtio/vsock-driver.js';
import type { VsockSocket } from '../../common/vsock/vsock-socket.js';
import { serveEchoOrSink } from './echo-sink-service.js';

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
driver.endpoint.listen(5000, (s: VsockSocket) => serveEchoOrSink(s));
driver.start();
