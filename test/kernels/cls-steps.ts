// Test kernel "cls-steps": the classifier's writer (flow_cls_insert / flow_cls_remove) cut into
// its steps, so that a test can stop a writer between any two of them, or scribble over the copy
// it is writing, while readers run the real flow_cls_classify on other threads. Every step is
// the production function; only the order of calls is the test's.
//
//   flow_cls_insert = steps_begin, steps_insert_into(idle), steps_switch, steps_toggle_and_wait,
//                     steps_insert_replay(idle ^ 1, from idle)
//   flow_cls_remove = steps_begin, steps_remove_from(idle), steps_switch, steps_toggle_and_wait,
//                     steps_remove_from(idle ^ 1)

import {
  CHOOSE_TABLE,
  NO_NEW_TABLE,
  clsInsertInto,
  clsInsertReplay,
  clsRemoveFrom,
} from '../../assembly/flow/cls-update';
import {
  LR_ACTIVE,
  LR_COPY_BYTES,
  LR_SYNC_NEEDED,
  lrArrive,
  lrCopyAt,
  lrDepart,
  lrSwitch,
  lrToggleAndWait,
  lrWriteBegin,
} from '../../assembly/flow/left-right';

export const QT_ABI: i32 = 1;
export const QT_NAME: u64 = 0x7370657473; // "steps"
export const QT_VERSION: i32 = (1 << 16) | (0 << 8) | 0;
export const QT_STATE_LAYOUT: i32 = 1;
export const QT_TABLES_BYTES: i32 = 0;

export function qt_init(tables: usize, build: i32): i32 {
  return 0;
}

/** The copy to update (-1: a reader never left it). */
export function steps_begin(state: usize): i32 {
  return lrWriteBegin(state);
}

export function steps_insert_into(
  state: usize,
  copy: u32,
  sv: u32,
  sm: u32,
  dv: u32,
  dm: u32,
  sports: u32,
  dports: u32,
  pv: u32,
  pm: u32,
  priority: u32,
  ruleId: u32,
): i32 {
  return clsInsertInto(
    lrCopyAt(state, copy),
    sv,
    sm,
    dv,
    dm,
    sports,
    dports,
    pv,
    pm,
    priority,
    ruleId,
    CHOOSE_TABLE,
    NO_NEW_TABLE,
  );
}

/** The insert that put a rule into `slot` of copy `from`, repeated on `copy` (the second copy's step). */
export function steps_insert_replay(
  state: usize,
  copy: u32,
  from: u32,
  slot: u32,
  sv: u32,
  sm: u32,
  dv: u32,
  dm: u32,
  sports: u32,
  dports: u32,
  pv: u32,
  pm: u32,
  priority: u32,
  ruleId: u32,
): i32 {
  return clsInsertReplay(
    lrCopyAt(state, copy),
    lrCopyAt(state, from),
    slot,
    sv,
    sm,
    dv,
    dm,
    sports,
    dports,
    pv,
    pm,
    priority,
    ruleId,
  );
}

export function steps_remove_from(state: usize, copy: u32, slot: u32): i32 {
  return clsRemoveFrom(lrCopyAt(state, copy), slot);
}

export function steps_switch(state: usize, copy: u32): void {
  lrSwitch(state, copy);
}

export function steps_toggle_and_wait(state: usize): i32 {
  return lrToggleAndWait(state) ? 1 : 0;
}

/** What lrPublish records when the old copy's readers do not leave: the next write re-copies it. */
export function steps_mark_out_of_sync(state: usize): void {
  store<u32>(state, 1, LR_SYNC_NEEDED);
}

/** A reader's pin, held for as long as the test likes (a DPU core preempted mid-burst). */
export function steps_arrive(state: usize): u32 {
  return lrArrive(state);
}

export function steps_depart(state: usize, token: u32): void {
  lrDepart(state, token);
}

export function steps_copy_at(state: usize, copy: u32): usize {
  return lrCopyAt(state, copy);
}

export function steps_copy_bytes(state: usize): u32 {
  return load<u32>(state, LR_COPY_BYTES);
}

export function steps_active(state: usize): u32 {
  return atomic.load<u32>(state, LR_ACTIVE);
}
