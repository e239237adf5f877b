import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Classifier } from '../../../src/index.js';
import { HostMemory, LoaderRuntime, Prng } from '../../../src/internals.js';
import { lrCopies, lrCopiesEqual } from '../../helpers/left-right-copies.js';
import { familyKernel, instantiate, testKernel, until } from '../../helpers/kernels.js';

/**
 * The classifier's writer stopped at every point of an update (test/kernels/cls-steps.ts runs
 * the production writer one step at a time) while readers on another thread classify: they
 * never wait, never fail, and every answer belongs to the version before or after the update.
 */
const mem = new HostMemory({ sizeBytes: 128 << 20 });
const runtime = new LoaderRuntime(mem);
const HELPERS = join(__dirname, '..', '..', 'helpers');

interface Steps {
  steps_begin(st: number): number;
  steps_insert_into(
    st: number,
    copy: number,
    sv: number,
    sm: number,
    dv: number,
    dm: number,
    sports: number,
    dports: number,
    pv: number,
    pm: number,
    priority: number,
    ruleId: number,
  ): number;
  steps_insert_replay(
    st: number,
    copy: number,
    from: number,
    slot: number,
    sv: number,
    sm: number,
    dv: number,
    dm: number,
    sports: number,
    dports: number,
    pv: number,
    pm: number,
    priority: number,
    ruleId: number,
  ): number;
  steps_remove_from(st: number, copy: number, slot: number): number;
  steps_switch(st: number, copy: number): void;
  steps_toggle_and_wait(st: number): number;
  steps_mark_out_of_sync(st: number): void;
  steps_arrive(st: number): number;
  steps_depart(st: number, token: number): void;
  steps_active(st: number): number;
}
const steps = instantiate(testKernel('cls-steps'), mem.memory).exports as unknown as Steps;

// The update under test: 10.1.2.0/24 → any, dport 80, priority 1, rule id SPECIFIC.
const SPECIFIC = 1_000_000;
const SPECIFIC_FIELDS = [0x0a010200, 0xffffff00, 0, 0, 0 | (0xffff << 16), 80 | (80 << 16), 0, 0, 1, SPECIFIC] as const;
// H1 matches the broad rule and SPECIFIC, H2 only the broad rule, H3 nothing.
const HEADERS = [0x0a010203, 5, 1000, 80, 6, 0x0a7f0000, 5, 1, 443, 17, 0x0c000001, 5, 1, 80, 6];

function copyBytes(st: number, copy: number): Uint8Array {
  return lrCopies(mem.memory, st)[copy & 1]!;
}

function expectCopiesEqual(st: number): void {
  expect(lrCopiesEqual(mem.memory, st), 'the two copies differ').toBe(true);
}

/** A writer stopped half-way through writing `copy`: any bytes at all may be there. */
function scribble(st: number, copy: number, seed: number): void {
  const bytes = copyBytes(st, copy);
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
  const rng = new Prng(seed);
  for (let i = 0; i < words.length; i++) words[i] = rng.u32();
}

/** Runs flow_cls_classify on another thread for `minCalls` calls; result i must be in allowedAt[i]. */
async function readOnAnotherThread(
  st: number,
  input: number,
  allowedAt: number[][],
  minCalls = 300,
): Promise<{ calls: number; bad: number; seen: [number, number][] }> {
  const scratch = mem.alloc({ name: 'test:reader', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
  const stopAt = scratch.base + 2048;
  const w = new Worker(join(HELPERS, 'flow-reader-worker.mjs'), {
    workerData: {
      bytes: familyKernel('flow'),
      memory: mem.memory,
      fn: 'flow_cls_classify',
      state: st,
      input,
      count: allowedAt.length,
      out: scratch.base,
      allowed: null,
      allowedAt,
      stopAt,
    },
  });
  try {
    let failed: unknown = null;
    const done = new Promise<{ calls: number; bad: number; seen: [number, number][] }>((res, rej) => {
      w.once('message', res);
      w.once('error', (e) => {
        failed = e;
        rej(e);
      });
    });
    done.catch(() => undefined); // awaited below; a trap in the reader is reported from there
    await until(
      () => failed !== null || Atomics.load(mem.i32, (stopAt >> 2) + 1) >= minCalls,
      `${minCalls} reader calls`,
    );
    Atomics.store(mem.i32, stopAt >> 2, 1);
    return await done;
  } finally {
    await w.terminate();
    mem.free(scratch, 'test');
  }
}

async function expectReadersSee(st: number, input: number, allowedAt: number[][], when: string): Promise<void> {
  const r = await readOnAnotherThread(st, input, allowedAt);
  expect(r.calls, when).toBeGreaterThanOrEqual(300);
  expect(r.bad, `${when}: answers outside ${JSON.stringify(allowedAt)}: ${JSON.stringify(r.seen)}`).toBe(0);
}

/** An update as the writer applies it to each copy: `first` to the idle copy, `second` to the old one. */
interface Update {
  first(copy: number): void;
  second(copy: number, from: number): void;
}

/** One update, the writer stopped after each of its steps and half-way through writing each copy. */
async function stalledUpdate(
  st: number,
  input: number,
  update: Update,
  before: number[][],
  after: number[][],
  seed: number,
): Promise<void> {
  expectCopiesEqual(st);
  const idle = steps.steps_begin(st);
  expect(idle).toBe(steps.steps_active(st) ^ 1);
  await expectReadersSee(st, input, before, 'stopped after choosing the idle copy');

  // Stopped half-way through the idle copy: what it holds is invisible. A write that never
  // finished is repaired the way the protocol does it: the next begin re-copies the active copy.
  scribble(st, idle, seed);
  await expectReadersSee(st, input, before, 'stopped half-way through the idle copy');
  steps.steps_mark_out_of_sync(st);
  expect(steps.steps_begin(st)).toBe(idle);
  expectCopiesEqual(st);

  update.first(idle);
  await expectReadersSee(st, input, before, 'stopped after updating the idle copy, before the switch');

  steps.steps_switch(st, idle);
  await expectReadersSee(st, input, after, 'stopped after the switch, before waiting for the old readers');

  expect(steps.steps_toggle_and_wait(st)).toBe(1);
  // Stopped half-way through repeating the update on the old copy: readers are all on the new one.
  const old = copyBytes(st, idle ^ 1).slice();
  scribble(st, idle ^ 1, seed + 1);
  await expectReadersSee(st, input, after, 'stopped half-way through the old copy');
  copyBytes(st, idle ^ 1).set(old);
  update.second(idle ^ 1, idle);
  expectCopiesEqual(st);
  await expectReadersSee(st, input, after, 'after the update');
}

describe('classifier readers while the writer is stopped', () => {
  it('a writer stopped between any two steps, or half-way through writing a copy, never holds up or misleads a reader', async () => {
    const c = new Classifier({ runtime, capacity: 1024 });
    const input = mem.alloc({ name: 'test:hdrs', owner: 'test', kind: 'core-scratch', sizeBytes: 4096 });
    try {
      const broad = c.insert({ src: '10.0.0.0/8', priority: 100 });
      // Rules that match none of the headers, so that tables, chains and the order array are busy.
      for (let i = 0; i < 300; i++)
        c.insert({
          src: `11.${i & 255}.${i >> 8}.0/24`,
          dstPorts: [i, i + 10],
          proto: i % 2 ? 6 : 17,
          priority: 50 + (i % 7),
        });
      new Uint32Array(mem.memory.buffer, input.base, HEADERS.length).set(HEADERS);
      const st = c.state.base;
      const before = [[broad], [broad], [-1]];
      const after = [[SPECIFIC], [broad], [-1]];
      let slot = -1;
      await stalledUpdate(
        st,
        input.base,
        {
          first: (copy) => {
            slot = steps.steps_insert_into(st, copy, ...SPECIFIC_FIELDS);
            expect(slot).toBeGreaterThanOrEqual(0);
          },
          second: (copy, from) =>
            expect(
              steps.steps_insert_replay(st, copy, from, slot, ...SPECIFIC_FIELDS),
              'the old copy takes the rule in the same slot',
            ).toBe(slot),
        },
        before,
        after,
        1,
      );
      expect(Array.from(c.classify(Uint32Array.from(HEADERS)))).toEqual([SPECIFIC, broad, -1]);
      const remove = (copy: number): void => expect(steps.steps_remove_from(st, copy, slot)).toBe(0);
      await stalledUpdate(st, input.base, { first: remove, second: remove }, after, before, 3);
      expect(Array.from(c.classify(Uint32Array.from(HEADERS)))).toEqual([broad, broad, -1]);
      expect(c.size).toBe(301);
    } finally {
      c.dispose();
      mem.free(input, 'test');
    }
  });

  it('a writer on another thread kept inside its update by a pinned reader: lookups meanwhile see the new version whole', async () => {
    const c = new Classifier({ runtime, capacity: 256 });
    try {
      const broad = c.insert({ src: '10.0.0.0/8', priority: 100 });
      const st = c.state.base;
      const headers = Uint32Array.from(HEADERS);
      // A DPU core preempted in the middle of a burst: it holds its pin on the current copy.
      const pin = steps.steps_arrive(st);
      const pinned = copyBytes(st, pin & 1).slice();
      const writer = new Worker(join(HELPERS, 'kernel-call-worker.mjs'), {
        workerData: {
          bytes: familyKernel('flow'),
          memory: mem.memory,
          fn: 'flow_cls_insert',
          args: [st, ...SPECIFIC_FIELDS],
        },
      });
      try {
        const result = new Promise<number>((res, rej) => {
          writer.once('message', res);
          writer.once('error', rej);
        });
        // The real writer updates the idle copy, switches, then waits for the pinned reader.
        await until(() => steps.steps_active(st) !== (pin & 1), 'the writer to switch copies');
        for (let i = 0; i < 1000; i++) expect(Array.from(c.classify(headers))).toEqual([SPECIFIC, broad, -1]);
        // The copy the pinned reader stands on is left alone for as long as it stays.
        expect(Buffer.compare(copyBytes(st, pin & 1), pinned), 'the writer changed the pinned copy').toBe(0);
        steps.steps_depart(st, pin);
        const slot = await result;
        expect(slot).toBeGreaterThanOrEqual(0);
        // The next write finds both copies level (or, had the writer's bounded wait run out,
        // brings the old copy level first); then removing the rule restores the first answers.
        expect(c.kernel.fn<(s: number, slot: number) => number>('flow_cls_remove')(st, slot)).toBe(0);
        expectCopiesEqual(st);
        expect(Array.from(c.classify(headers))).toEqual([broad, broad, -1]);
      } finally {
        await writer.terminate();
      }
    } finally {
      c.dispose();
    }
  });

  it('a lookup that never leaves costs the writer, not the readers: updates time out with QT_TIMEOUT and change nothing, then resume', () => {
    const c = new Classifier({ runtime, capacity: 64 });
    try {
      const st = c.state.base;
      const broad = c.insert({ src: '10.0.0.0/8', priority: 5 });
      const probe = Uint32Array.from([0x0a010101, 0, 0, 0, 6, 0x0a020101, 0, 0, 0, 6]);
      const pin = steps.steps_arrive(st); // a reader that died inside a burst, say
      // Done on the idle copy and switched in; only the old copy, which the reader may be on,
      // is left behind (brought level by the next write that can start).
      const b = c.insert({ src: '10.1.0.0/16', priority: 1 });
      expect(Array.from(c.classify(probe))).toEqual([b, broad]);
      // The next write must first bring that copy level, and cannot while the reader stays.
      let code = '';
      try {
        c.insert({ src: '10.2.0.0/16', priority: 1 });
      } catch (e) {
        code = (e as { code: string }).code;
      }
      expect(code).toBe('QT_TIMEOUT');
      expect(c.size).toBe(2);
      expect(c.ruleIds()).toEqual([broad, b]);
      expect(Array.from(c.classify(probe))).toEqual([b, broad]);
      steps.steps_depart(st, pin);
      const d = c.insert({ src: '10.2.0.0/16', priority: 1 });
      expect(Array.from(c.classify(probe))).toEqual([b, d]);
      expectCopiesEqual(st);
      c.remove(b);
      expect(Array.from(c.classify(probe))).toEqual([broad, d]);
      expectCopiesEqual(st);
    } finally {
      c.dispose();
    }
  });
});
