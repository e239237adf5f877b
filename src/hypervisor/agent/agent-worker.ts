import { readFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import { VsockDriver } from '../guest/virtio/vsock-driver.js';
import { AgentServer } from './agent-server.js';
import { TinyOs } from './tiny-os.js';

/**
 * The host agent's thread (the seed's TinyOS). What it is given is all it has: host memory, the
 * guest kernel to run its vsock driver with, and that driver (already laid out in its RAM by
 * the firmware: rings, buffers, the device's kick and interrupt words). It never touches
 * parentPort: every control message reaches it through its vsock device.
 */
export interface AgentBoot {
  memory: WebAssembly.Memory;
  /** Path of the guest kernel (its vsock driver). */
  guestKernel: string;
  /** Host address of its vsock driver's state ('GVSK'). */
  vs: number;
  /** The interrupt word of its vsock queues. */
  irq: number;
}

const boot = workerData as AgentBoot;
// Compiled once: the guest CPUs share the module.
const guestModule = new WebAssembly.Module(readFileSync(boot.guestKernel));
const instance = new WebAssembly.Instance(guestModule, { env: { memory: boot.memory } });
const kernel = { fn: (name: string) => instance.exports[name] as (...a: (number | bigint)[]) => number };
const driver = new VsockDriver(kernel, boot.memory.buffer, boot.vs, boot.irq);
let server: AgentServer | null = null;
const os = new TinyOs(boot.memory, (name, body) => server?.emit(name, body), guestModule);
server = new AgentServer(driver.endpoint, os.handlers);
os.counters = () => server.stats;
// Listen before the driver gives the device its buffers: no request can arrive before.
server.start();
driver.start();
