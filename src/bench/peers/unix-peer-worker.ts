import { createServer, type Socket } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { serveEchoOrSink } from './echo-sink-service.js';

/**
 * The peer of the hv bench's vsock cases: the same two services ('E' echo, 'S' sink, picked by
 * the first byte) over a Unix-domain stream socket, served by another Node thread.
 */
const { path } = workerData as { path: string };
const server = createServer((s: Socket) => serveEchoOrSink(s));
server.listen(path, () => parentPort!.postMessage('listening'));
parentPort!.on('message', () => server.close(() => process.exit(0)));
