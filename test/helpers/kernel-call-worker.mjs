// Calls one kernel export once on another thread (over the shared memory) and posts its result:
// a writer that the test can leave blocked while the main thread goes on.
import { parentPort, workerData } from 'node:worker_threads';

const { bytes, memory, fn, args } = workerData;
const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
parentPort.postMessage(instance.exports[fn](...args));
