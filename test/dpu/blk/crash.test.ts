import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../../../src/common/prng.js';
import { Volume } from '../../../src/dpu/blk/volume/volume.js';
import { VolumeStatus } from '../../../src/dpu/blk/volume/volume-status.js';
import { decode, hostBuffer, isZero, removeDir, tmpDir } from './helpers.js';

const ROUNDS = 50;
const WRITER = fileURLToPath(new URL('../../helpers/volume-crash-writer.mjs', import.meta.url));
const dir = tmpDir('crash');
afterAll(() => removeDir(dir));

/** What a block may hold: a version written by the pattern, or 0 for zeros. */
type State = number;

/** Runs the writer until `killAfterMs` after it is ready, then SIGKILLs it. */
function runWriter(volDir: string, logFile: string, seed: number, first: number, killAfterMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, volDir, logFile, String(seed), String(first)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), killAfterMs));
    child.on('exit', (_code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited by itself (${String(signal)}): ${stderr}`));
    });
  });
}

/**
 * From the writer's log: per block, the states it may be in after the crash. A block holds what
 * the last acknowledged flush covered, or anything written to it after that flush was issued.
 */
function allowedStates(baseline: Map<number, State>, log: string): Map<number, Set<State>> {
  const lines = log.split('\n').filter((l) => l.length > 0);
  const durable = new Map(baseline);
  const pending: [number, number, State][] = []; // ops not yet covered by an acknowledged flush
  const flushStart = new Map<number, number>(); // flush version -> pending length when issued
  const applyPrefix = (n: number): void => {
    for (const [lba, count, st] of pending.splice(0, n)) for (let b = 0; b < count; b++) durable.set(lba + b, st);
  };
  for (const line of lines) {
    const [op, a, b, c] = line.split(' ');
    if (op === 'W') pending.push([Number(a), Number(b), Number(c)]);
    else if (op === 'D') pending.push([Number(a), Number(b), 0]);
    else if (op === 'S') flushStart.set(Number(a), pending.length);
    else if (op === 'F') applyPrefix(flushStart.get(Number(a))!);
    else if (op === 'A') {
      // A FUA write is durable with everything before it.
      const idx = pending.findIndex(([, , st]) => st === Number(a));
      applyPrefix(idx + 1);
    }
  }
  const allowed = new Map<number, Set<State>>();
  for (const [lba, st] of durable) allowed.set(lba, new Set([st]));
  for (const [lba, count, st] of pending) {
    for (let b = 0; b < count; b++) {
      let set = allowed.get(lba + b);
      if (!set) allowed.set(lba + b, (set = new Set([0])));
      set.add(st);
    }
  }
  return allowed;
}

describe('volume: crash consistency', () => {
  it(`survives ${ROUNDS} SIGKILLs at random points: acknowledged-flushed blocks read back exactly`, async () => {
    const volDir = `${dir}/v`;
    Volume.create({
      dir: volDir,
      sizeBytes: 2 << 20,
      chunkBlocks: 2,
      stripesPerSegment: 2,
    }).close();
    const rng = new Prng(2024);
    const baseline = new Map<number, State>();
    const buf = hostBuffer(4096);
    let replayed = 0;
    let checked = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const logFile = `${dir}/log-${round}`;
        await runWriter(volDir, logFile, rng.u32(), (round + 1) * 1_000_000, 20 + rng.int(200));
        const allowed = allowedStates(baseline, readFileSync(logFile, 'utf8'));
        rmSync(logFile);
        const v = Volume.open(volDir);
        try {
          replayed += v.recovery!.journalRecords;
          for (let lba = 0; lba < v.blockCount; lba++) {
            expect(v.read(lba, 1, buf.addr), `round ${round} lba ${lba}: read`).toBe(VolumeStatus.Ok);
            const got = isZero(buf.view, 0) ? 0 : decode(buf.view, 0);
            expect(got, `round ${round} lba ${lba}: neither zeros nor a block the writer wrote`).not.toBeNull();
            const st = got === 0 ? 0 : got!.version;
            if (got !== 0) expect(got!.lba).toBe(lba);
            const ok = allowed.get(lba) ?? new Set([0]);
            expect(ok.has(st), `round ${round} lba ${lba}: holds ${st}, allowed ${[...ok].join(',')}`).toBe(true);
            if (st === 0) baseline.delete(lba);
            else baseline.set(lba, st);
            checked++;
          }
          const report = v.check(true);
          expect(report.problems, `round ${round}: map consistency`).toEqual([]);
        } finally {
          v.close();
        }
      }
    } finally {
      buf.free();
    }
    expect(checked).toBe(ROUNDS * 512);
    expect(replayed).toBeGreaterThan(0);
  }, 300_000);
});
