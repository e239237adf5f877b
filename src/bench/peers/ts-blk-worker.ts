import { parentPort, workerData } from 'node:worker_threads';
import { TsBlkDevice, type TsBlkInit } from './ts-blk-device.js';

/** The TS blk peer (ts-blk-device.ts) in a worker of its own, polling its ring until the stop word turns non-zero. */
const w = workerData as TsBlkInit & { stopAddr: number };
const i32 = new Int32Array(w.buffer);
const dev = new TsBlkDevice(w);
let served = 0;
const stop = w.stopAddr >> 2;
while (Atomics.load(i32, stop) === 0) served += dev.burst(64);
parentPort!.postMessage({ served });
