// Left-Right concurrency (Ramalhete & Correia, "Left-Right: a concurrency control technique
// with wait-free population oblivious reads", 2015) for the route tables: the table is kept
// twice; readers pin the active copy for one burst; a writer changes the idle copy, flips, waits
// for the old copy's readers to leave, and repeats the change there. Readers never wait.
//
// Control words shared by every Left-Right state region (after the 64-byte header):
//   +64 u32 active (0/1)   +76 u32 copyBytes   +80 u32 copy0Off   +84 u32 copy1Off
//   +88 u32 syncNeeded     +92 u32 version (wait-free form only)
//   +128 u32 reader indicator 0 (own line)     +192 u32 reader indicator 1
//
// Two reader protocols over these words; a state region uses one of them:
// - pin and recheck (lrPin/lrUnpin, lrBegin/lrFlip; the route tables): indicator i counts the
//   readers of copy i. A pin retries when a flip lands between its two loads, so it never waits
//   for a stalled writer, but a writer that kept flipping could keep it retrying.
// - version indicators (lrArrive/lrDepart, lrWriteBegin/lrPublish; the classifier): the paper's
//   own form. A reader arrives on the indicator named by `version`, reads `active` once and
//   departs: no loop at all, whatever the writer does or wherever it stops.

export const LR_ACTIVE: usize = 64;
export const LR_COPY_BYTES: usize = 76;
export const LR_COPY0: usize = 80;
export const LR_SYNC_NEEDED: usize = 88;
export const LR_VERSION: usize = 92;
export const LR_READERS0: usize = 128;
export const LR_READER_STRIDE: usize = 64;
export const LR_CTRL_BYTES: u32 = 256;
const MAX_SPINS: i32 = 1 << 26;

@inline export function lrCopyAt(state: usize, c: u32): usize {
  return state + load<u32>(state + LR_COPY0 + (((<usize>c) & 1) << 2));
}

/** Pins the active copy for one burst; returns its index. */
@inline export function lrPin(state: usize): u32 {
  while (true) {
    const c = atomic.load<u32>(state, LR_ACTIVE) & 1;
    atomic.add<u32>(state + LR_READERS0 + <usize>c * LR_READER_STRIDE, 1);
    if ((atomic.load<u32>(state, LR_ACTIVE) & 1) == c) return c;
    atomic.sub<u32>(state + LR_READERS0 + <usize>c * LR_READER_STRIDE, 1);
  }
  return 0;
}

@inline export function lrUnpin(state: usize, c: u32): void {
  atomic.sub<u32>(state + LR_READERS0 + <usize>c * LR_READER_STRIDE, 1);
}

/** Waits (bounded) until no reader holds copy `c`. */
export function lrDrain(state: usize, c: u32): bool {
  let spins: i32 = 0;
  while (atomic.load<u32>(state + LR_READERS0 + <usize>c * LR_READER_STRIDE) != 0) {
    if (++spins > MAX_SPINS) return false;
  }
  return true;
}

/**
 * Starts a write: waits for the idle copy's last readers, brings it level with the active copy
 * if a previous write could not finish, and returns its index (or -1: a reader never left).
 */
export function lrBegin(state: usize): i32 {
  const idle = (atomic.load<u32>(state, LR_ACTIVE) & 1) ^ 1;
  if (!lrDrain(state, idle)) return -1;
  if (load<u32>(state, LR_SYNC_NEEDED) != 0) {
    memory.copy(lrCopyAt(state, idle), lrCopyAt(state, idle ^ 1), <usize>load<u32>(state, LR_COPY_BYTES));
    store<u32>(state, 0, LR_SYNC_NEEDED);
  }
  return <i32>idle;
}

/**
 * Makes copy `idle` the active one and waits for the readers of the other; false when they
 * never left (the other copy is then marked for resynchronisation by the next write).
 */
export function lrFlip(state: usize, idle: u32): bool {
  atomic.store<u32>(state, idle, LR_ACTIVE);
  if (!lrDrain(state, idle ^ 1)) {
    store<u32>(state, 1, LR_SYNC_NEEDED);
    return false;
  }
  return true;
}

// ---- wait-free readers (version indicators) ------------------------------------------------------
//
// Why it is safe (all Wasm atomics are sequentially consistent): the writer changes only the
// copy that is not active, and only after a toggle-and-wait that followed the last switch. A
// reader still on the old copy read `active` before the switch, so it arrived on an indicator
// before that wait looked at it; the wait drains the indicator not in use (`next`), then moves
// arrivals to it, then drains the one they used (`prev`). A reader that arrives after a wait
// has seen an indicator empty reads `active` after the switch, so it is on the new copy.

/** Arrives for one burst: returns a token, `copy | indicator << 1` (lrCopyAt takes it as is). */
@inline export function lrArrive(state: usize): u32 {
  const vi = atomic.load<u32>(state, LR_VERSION) & 1;
  atomic.add<u32>(state + LR_READERS0 + <usize>vi * LR_READER_STRIDE, 1);
  return (vi << 1) | (atomic.load<u32>(state, LR_ACTIVE) & 1);
}

@inline export function lrDepart(state: usize, token: u32): void {
  atomic.sub<u32>(state + LR_READERS0 + ((<usize>(token >> 1)) & 1) * LR_READER_STRIDE, 1);
}

/** After a switch: waits (bounded) until no reader can still be on the copy it left. */
export function lrToggleAndWait(state: usize): bool {
  const prev = atomic.load<u32>(state, LR_VERSION) & 1;
  if (!lrDrain(state, prev ^ 1)) return false;
  atomic.store<u32>(state, prev ^ 1, LR_VERSION);
  return lrDrain(state, prev);
}

/**
 * Starts a write: returns the index of the copy no reader uses, brought level with the active
 * copy first if a previous write could not finish; -1 when a reader never left it.
 */
export function lrWriteBegin(state: usize): i32 {
  const idle = (atomic.load<u32>(state, LR_ACTIVE) & 1) ^ 1;
  if (load<u32>(state, LR_SYNC_NEEDED) != 0) {
    if (!lrToggleAndWait(state)) return -1;
    memory.copy(lrCopyAt(state, idle), lrCopyAt(state, idle ^ 1), <usize>load<u32>(state, LR_COPY_BYTES));
    store<u32>(state, 0, LR_SYNC_NEEDED);
  }
  return <i32>idle;
}

/** Makes copy `idle` the active one (readers arriving from now on see it whole). */
@inline export function lrSwitch(state: usize, idle: u32): void {
  atomic.store<u32>(state, idle & 1, LR_ACTIVE);
}

/**
 * Switches to copy `idle` and waits for the readers of the other; false when they never left
 * (the other copy is then marked for resynchronisation by the next write).
 */
export function lrPublish(state: usize, idle: u32): bool {
  lrSwitch(state, idle);
  if (!lrToggleAndWait(state)) {
    store<u32>(state, 1, LR_SYNC_NEEDED);
    return false;
  }
  return true;
}
