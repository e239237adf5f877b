// Child process for test/dpu/blk/crash.test.ts: opens a volume and writes, discards and flushes
// at random until the test kills it with SIGKILL. Before each operation it logs what it is about
// to do; after each FLUSH (or FUA write) returns it logs the acknowledgement. The test then
// reopens the volume and checks every block against that log.
//   argv: <volume dir> <log file> <seed> <first version>
import { openSync, writeSync } from 'node:fs';
import { Prng } from '../../dist/src/common/prng.js';
import { defaultRuntime } from '../../dist/src/dpu/kernels/kernel-runtime.js';
import { Volume } from '../../dist/src/dpu/blk/volume/volume.js';

const [dir, logFile, seedText, firstText] = process.argv.slice(2);
const log = openSync(logFile, 'a');
const say = (line) => writeSync(log, `${line}\n`);
const rng = new Prng(Number(seedText));
let version = Number(firstText);

const volume = Volume.open(dir, { checkpointBytes: 16384 });
const mem = defaultRuntime().memory;
const region = mem.alloc({ name: 'crash-writer', owner: 'child', kind: 'core-scratch', sizeBytes: 8 * 4096 });
const buf = mem.u8.subarray(region.base, region.base + 8 * 4096);

/** The block pattern of test/dpu/blk/helpers.ts pattern(). */
function pattern(off, lba, v) {
  const dv = new DataView(buf.buffer, buf.byteOffset + off, 4096);
  let x = (lba * 2654435761 + v * 40503 + 1) >>> 0;
  for (let i = 0; i < 4096; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    dv.setUint32(i, x >>> 0, true);
  }
  dv.setUint32(0, lba, true);
  dv.setUint32(4, v, true);
}

process.stdout.write('ready\n');
for (;;) {
  const r = rng.next();
  if (r < 0.75) {
    const n = 1 + rng.int(8);
    const lba = rng.int(volume.blockCount - n);
    const fua = rng.next() < 0.05;
    const v = version++;
    for (let b = 0; b < n; b++) pattern(b * 4096, lba + b, v);
    say(`W ${lba} ${n} ${v}`);
    if (volume.write(lba, n, region.base, fua) !== 0) throw new Error('write failed');
    if (fua) say(`A ${v}`);
  } else if (r < 0.85) {
    const n = 1 + rng.int(16);
    const lba = rng.int(volume.blockCount - n);
    const v = version++;
    say(`D ${lba} ${n} ${v}`);
    if (volume.discard(lba, n) !== 0) throw new Error('discard failed');
  } else {
    const v = version++;
    say(`S ${v}`);
    if (volume.flush() !== 0) throw new Error('flush failed');
    say(`F ${v}`);
  }
}
