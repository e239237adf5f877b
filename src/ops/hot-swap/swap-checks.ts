import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Region } from '../../common/host-memory-api.js';
import type { SwapTransform } from '../../dpu/core/dpu-core.js';
import type { KernelImageInfo } from '../../common/kernel-image.js';

/** Exports with a meaning to the hot-swap manager itself (ABI of hot-swappable modules). */
export const SELF_TEST_EXPORT = 'qt_self_test';
export const TRANSFORM_EXPORT = 'qt_state_transform';
const MANAGER_EXPORTS = new Set(['qt_init', SELF_TEST_EXPORT, TRANSFORM_EXPORT]);

function refuse(message: string, details: Record<string, unknown> = {}): never {
  throw new QingtianError(ErrorCode.SwapRefused, message, details);
}

/**
 * The manager's checks of a candidate version against the live one, before anything is
 * staged (so a refusal changes nothing anywhere):
 *  - same module name;
 *  - a self-test export, `qt_self_test(scratch, bytes) → status`;
 *  - every function the live version exports (its API: job entries, arm entries, the calls the
 *    control plane makes) is exported by the candidate too, so every job can be re-pointed by
 *    name and every caller keeps working;
 *  - when the state layout changes, a state transform `qt_state_transform(state, from, to)` in
 *    the module with the newer layout, which therefore knows both (it runs on upgrade, and on
 *    rollback or downgrade to the older layout).
 * Returns the transform the commit must run (null: same layout).
 */
export function checkCandidate(live: KernelImageInfo, next: KernelImageInfo): SwapTransform | null {
  const tag = `${next.name}@${next.version}`;
  if (next.name !== live.name)
    refuse(`module ${tag} is not a version of ${live.name} (live: ${live.name}@${live.version})`, {
      expected: live.name,
      got: next.name,
    });
  if (!next.functions.includes(SELF_TEST_EXPORT))
    refuse(
      `module ${tag}: missing export ${SELF_TEST_EXPORT}(scratch, bytes); a hot-swappable module tests itself on shadow data`,
      { missing: [SELF_TEST_EXPORT] },
    );
  const missing = live.functions.filter((f) => !MANAGER_EXPORTS.has(f) && !next.functions.includes(f));
  if (missing.length > 0) {
    refuse(
      `module ${tag}: missing export${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that ${live.name}@${live.version} provides (jobs and callers use them)`,
      { missing },
    );
  }
  if (next.stateLayout === live.stateLayout) return null;
  for (const l of [live.stateLayout, next.stateLayout]) {
    if (!Number.isInteger(l) || l < 0 || l > 0xffff) refuse(`module ${tag}: state layout ${l} outside [0, 65535]`);
  }
  const newer = next.stateLayout > live.stateLayout ? next : live;
  if (!newer.functions.includes(TRANSFORM_EXPORT)) {
    refuse(
      `module ${tag}: state layout ${live.stateLayout} → ${next.stateLayout} needs ${TRANSFORM_EXPORT}(state, from, to) in ${newer.name}@${newer.version} (the newer layout's module); missing export`,
      { missing: [TRANSFORM_EXPORT] },
    );
  }
  return {
    name: TRANSFORM_EXPORT,
    in: newer === next ? 'to' : 'from',
    fromLayout: live.stateLayout,
    toLayout: next.stateLayout,
  };
}

/** The same transform, run the other way (rollback). */
export function reverse(t: SwapTransform | null): SwapTransform | null {
  return t && { name: t.name, in: t.in === 'to' ? 'from' : 'to', fromLayout: t.toLayout, toLayout: t.fromLayout };
}

/**
 * For a module the loader refused for its data segments: which live regions of host memory
 * each segment would have overwritten, for the refusal message.
 */
export function overlappedRegions(
  segments: readonly { offset: number | null; byteLength: number }[],
  regions: readonly Region[],
): string[] {
  const out: string[] = [];
  for (const s of segments) {
    if (s.offset === null) continue;
    const end = s.offset + s.byteLength;
    for (const r of regions) {
      if (s.offset < r.base + r.sizeBytes && r.base < end)
        out.push(`${s.byteLength} B at 0x${s.offset.toString(16)} over '${r.name}' (${r.kind}, owner ${r.owner})`);
    }
  }
  return out;
}
