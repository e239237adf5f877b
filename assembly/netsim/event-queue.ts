// The simulator's event queue: a timing wheel for the near future with a binary heap behind it
// (EVQ_WHEEL), or the binary heap alone (EVQ_HEAP: the reference the wheel is tested against,
// and the bench's peer).
//
// Wheel: WHEEL_BUCKETS buckets of 2^WHEEL_SHIFT ps (256 ps), so it spans 8.4 µs — every packet
// hop (serialization + 1 µs propagation) lands in it. A bucket is a singly linked list kept
// sorted by time (equal times in insertion order) with a tail pointer: events mostly arrive in
// time order within a bucket, so an insert is usually an append. A bitmap of non-empty buckets
// lets the cursor skip empty ones 64 at a time. An event further out than the wheel's span goes to the
// heap and moves into the wheel once the cursor comes within span of it.
//
//   +0  u32 kind   +4 u32 free (node index + 1)   +8 i64 cursor bucket   +16 u32 heapLen
//   +20 u32 pending   +24 u32 cap   +28 u32 seq   +32 i64 time of the last pop
//   +64                 bucket heads: WHEEL_BUCKETS x u32 (node index + 1)
//   +64 + 4*BUCKETS     bucket tails: WHEEL_BUCKETS x u32
//   +64 + 8*BUCKETS     bitmap: WHEEL_BUCKETS/64 x u64
//   NODES               cap x { i64 time, u32 payload, u32 next }
//   HEAP                cap x { i64 time, u32 payload, u32 seq }
// The heap orders by (time, seq): equal times pop in insertion order.

export const EVQ_WHEEL: u32 = 0;
export const EVQ_HEAP: u32 = 1;
export const WHEEL_SHIFT: i64 = 8;
export const WHEEL_BUCKETS: u32 = 32768;
const MASK: u32 = WHEEL_BUCKETS - 1;
const Q_KIND: usize = 0;
const Q_FREE: usize = 4;
const Q_CURSOR: usize = 8;
const Q_HEAP_LEN: usize = 16;
const Q_PENDING: usize = 20;
const Q_CAP: usize = 24;
const Q_SEQ: usize = 28;
const Q_LAST: usize = 32;
const HEADS: usize = 64;
const TAILS: usize = HEADS + <usize>WHEEL_BUCKETS * 4;
const BITMAP: usize = TAILS + <usize>WHEEL_BUCKETS * 4;
const NODES: usize = BITMAP + <usize>(WHEEL_BUCKETS / 64) * 8;
export const EVQ_NONE: u32 = 0xffffffff;

/** Bytes needed for a queue of `cap` events. */
export function evqBytes(cap: u32): usize {
  return NODES + <usize>cap * 32;
}

let Q: usize = 0; // bound per sim_run call (evqBind), never carried between calls
let HEAP: usize = 0;

export function evqBind(base: usize): void {
  Q = base;
  HEAP = base + NODES + <usize>load<u32>(base, Q_CAP) * 16;
}

export function evqInit(base: usize, kind: u32, cap: u32): void {
  memory.fill(base, 0, NODES);
  store<u32>(base, kind, Q_KIND);
  store<u32>(base, cap, Q_CAP);
  // Free list threads every node: node i -> i + 1.
  const nodes = base + NODES;
  for (let i: u32 = 0; i < cap; i++) store<u32>(nodes + <usize>i * 16, i + 2 <= cap ? i + 2 : 0, 12);
  store<u32>(base, cap > 0 ? 1 : 0, Q_FREE);
}

@inline export function evqPending(): u32 {
  return load<u32>(Q, Q_PENDING);
}

@inline export function evqLastTime(): i64 {
  return load<i64>(Q, Q_LAST);
}

/** Schedules `payload` at `t` (never earlier than the last pop). False when the queue is full. */
export function evqPush(t: i64, payload: u32): bool {
  const pending = load<u32>(Q, Q_PENDING);
  if (pending >= load<u32>(Q, Q_CAP)) return false;
  store<u32>(Q, pending + 1, Q_PENDING);
  if (load<u32>(Q, Q_KIND) == EVQ_WHEEL) {
    const b = t >> WHEEL_SHIFT;
    if (b < load<i64>(Q, Q_CURSOR) + <i64>WHEEL_BUCKETS) {
      wheelInsert(t, payload);
      return true;
    }
  }
  heapPush(t, payload);
  return true;
}

/** Removes the earliest event: returns its payload (EVQ_NONE if empty); its time is evqLastTime(). */
export function evqPop(): u32 {
  const pending = load<u32>(Q, Q_PENDING);
  if (pending == 0) return EVQ_NONE;
  store<u32>(Q, pending - 1, Q_PENDING);
  if (load<u32>(Q, Q_KIND) == EVQ_HEAP) {
    store<i64>(Q, load<i64>(HEAP, 0), Q_LAST);
    return heapPop();
  }
  let cur = load<i64>(Q, Q_CURSOR);
  for (;;) {
    // Everything within the wheel's span must be in the wheel before its buckets are scanned.
    while (load<u32>(Q, Q_HEAP_LEN) > 0 && load<i64>(HEAP, 0) >> WHEEL_SHIFT < cur + <i64>WHEEL_BUCKETS) {
      const t = load<i64>(HEAP, 0);
      const p = heapPop();
      store<i64>(Q, cur, Q_CURSOR);
      wheelInsert(t, p);
    }
    const d = nextBucket((<u32>cur) & MASK);
    if (d != EVQ_NONE) {
      cur += <i64>d;
      store<i64>(Q, cur, Q_CURSOR);
      const slot = Q + HEADS + <usize>(((<u32>cur) & MASK) << 2);
      const n = load<u32>(slot) - 1;
      const node = Q + NODES + <usize>n * 16;
      const next = load<u32>(node, 12);
      store<u32>(slot, next);
      if (next == 0) {
        clearBit((<u32>cur) & MASK);
        store<u32>(slot + (TAILS - HEADS), 0);
      }
      store<i64>(Q, load<i64>(node, 0), Q_LAST);
      const payload = load<u32>(node, 8);
      store<u32>(node, load<u32>(Q, Q_FREE), 12);
      store<u32>(Q, n + 1, Q_FREE);
      return payload;
    }
    // The wheel is empty: jump the cursor to the heap's earliest event.
    cur = load<i64>(HEAP, 0) >> WHEEL_SHIFT;
    store<i64>(Q, cur, Q_CURSOR);
  }
  return EVQ_NONE;
}

/** Takes a node off the free list and fills in its time and payload; returns its index. */
@inline function takeNode(t: i64, payload: u32): u32 {
  const n = load<u32>(Q, Q_FREE) - 1;
  const node = Q + NODES + <usize>n * 16;
  store<u32>(Q, load<u32>(node, 12), Q_FREE);
  store<i64>(node, t, 0);
  store<u32>(node, payload, 8);
  return n;
}

function wheelInsert(t: i64, payload: u32): void {
  const n = takeNode(t, payload);
  const node = Q + NODES + <usize>n * 16;
  const s = (<u32>(t >> WHEEL_SHIFT)) & MASK;
  const slot = Q + HEADS + <usize>(s << 2);
  const tailSlot = Q + TAILS + <usize>(s << 2);
  const tail = load<u32>(tailSlot);
  if (tail == 0) {
    setBit(s);
    store<u32>(node, 0, 12);
    store<u32>(slot, n + 1);
    store<u32>(tailSlot, n + 1);
    return;
  }
  if (load<i64>(Q + NODES + <usize>(tail - 1) * 16, 0) <= t) {
    // Append: the common case (events of a bucket mostly come in time order).
    store<u32>(node, 0, 12);
    store<u32>(Q + NODES + <usize>(tail - 1) * 16 + 12, n + 1);
    store<u32>(tailSlot, n + 1);
    return;
  }
  let prev: usize = slot; // the u32 that links to the position
  let cur = load<u32>(slot);
  while (cur != 0) {
    const c = Q + NODES + <usize>(cur - 1) * 16;
    if (load<i64>(c, 0) > t) break;
    prev = c + 12;
    cur = load<u32>(c, 12);
  }
  // cur != 0 here: the tail is later than t, so the walk stops before the end.
  store<u32>(node, cur, 12);
  store<u32>(prev, n + 1);
}

/** Puts back the event evqPop just returned (it was the earliest: it goes first in its bucket). */
export function evqUnpop(t: i64, payload: u32): void {
  store<u32>(Q, load<u32>(Q, Q_PENDING) + 1, Q_PENDING);
  if (load<u32>(Q, Q_KIND) == EVQ_HEAP) {
    heapPushFirst(t, payload);
    return;
  }
  const n = takeNode(t, payload);
  const node = Q + NODES + <usize>n * 16;
  const s = (<u32>(t >> WHEEL_SHIFT)) & MASK;
  const slot = Q + HEADS + <usize>(s << 2);
  const head = load<u32>(slot);
  store<u32>(node, head, 12);
  store<u32>(slot, n + 1);
  if (head == 0) {
    setBit(s);
    store<u32>(Q + TAILS + <usize>(s << 2), n + 1);
  }
}

@inline function setBit(s: u32): void {
  const w = Q + BITMAP + <usize>((s >> 6) << 3);
  store<u64>(w, load<u64>(w) | ((<u64>1) << u64(s & 63)));
}

@inline function clearBit(s: u32): void {
  const w = Q + BITMAP + <usize>((s >> 6) << 3);
  store<u64>(w, load<u64>(w) & ~((<u64>1) << u64(s & 63)));
}

/** Distance from slot `s` to the next non-empty bucket (wrapping), or EVQ_NONE. */
function nextBucket(s: u32): u32 {
  const words = WHEEL_BUCKETS >> 6;
  let wi = s >> 6;
  let w = load<u64>(Q + BITMAP + <usize>(wi << 3)) & (~(<u64>0) << u64(s & 63));
  for (let k: u32 = 0; k <= words; k++) {
    if (w != 0) {
      const slot = (wi << 6) + <u32>ctz(w);
      return (slot - s) & MASK;
    }
    wi = (wi + 1) & (words - 1);
    w = load<u64>(Q + BITMAP + <usize>(wi << 3));
  }
  return EVQ_NONE;
}

// ---- binary heap on (time, seq) ----------------------------------------------------------------
@inline function before(a: usize, b: usize): bool {
  const ta = load<i64>(a, 0);
  const tb = load<i64>(b, 0);
  // seq wraps: compare by signed difference.
  return ta < tb || (ta == tb && <i32>(load<u32>(a, 12) - load<u32>(b, 12)) < 0);
}

function heapPush(t: i64, payload: u32): void {
  let i = load<u32>(Q, Q_HEAP_LEN);
  store<u32>(Q, i + 1, Q_HEAP_LEN);
  const seq = load<u32>(Q, Q_SEQ);
  store<u32>(Q, seq + 1, Q_SEQ);
  // Hole at i; move parents down while the new entry goes before them.
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const pe = HEAP + <usize>parent * 16;
    const pt = load<i64>(pe, 0);
    if (pt < t || (pt == t && <i32>(load<u32>(pe, 12) - seq) < 0)) break;
    const e = HEAP + <usize>i * 16;
    store<i64>(e, pt, 0);
    store<u64>(e, load<u64>(pe, 8), 8);
    i = parent;
  }
  const e = HEAP + <usize>i * 16;
  store<i64>(e, t, 0);
  store<u32>(e, payload, 8);
  store<u32>(e, seq, 12);
}

/** Heap insert that orders before every equal-time entry (for evqUnpop). */
function heapPushFirst(t: i64, payload: u32): void {
  // Entries carry seq values below Q_SEQ; one far below them all sorts first among equal times.
  const seq = load<u32>(Q, Q_SEQ);
  store<u32>(Q, seq - 0x40000000, Q_SEQ);
  heapPush(t, payload);
  store<u32>(Q, seq, Q_SEQ);
}

function heapPop(): u32 {
  const top = load<u32>(HEAP, 8);
  const len = load<u32>(Q, Q_HEAP_LEN) - 1;
  store<u32>(Q, len, Q_HEAP_LEN);
  if (len == 0) return top;
  const last = HEAP + <usize>len * 16;
  const lt = load<i64>(last, 0);
  const lrest = load<u64>(last, 8);
  let i: u32 = 0;
  for (;;) {
    let c: u32 = 2 * i + 1;
    if (c >= len) break;
    let ce = HEAP + <usize>c * 16;
    if (c + 1 < len && before(ce + 16, ce)) {
      c++;
      ce += 16;
    }
    const ct = load<i64>(ce, 0);
    if (lt < ct || (lt == ct && <i32>(<u32>(lrest >> 32) - load<u32>(ce, 12)) < 0)) break;
    const e = HEAP + <usize>i * 16;
    store<i64>(e, ct, 0);
    store<u64>(e, load<u64>(ce, 8), 8);
    i = c;
  }
  const e = HEAP + <usize>i * 16;
  store<i64>(e, lt, 0);
  store<u64>(e, lrest, 8);
  return top;
}
