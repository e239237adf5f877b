import { describe, expect, it } from 'vitest';
import { ErrorCode, isQingtianError } from '../../../src/common/errors.js';
import type { Region } from '../../../src/common/host-memory-api.js';
import type { KernelImageInfo } from '../../../src/common/kernel-image.js';
import { checkCandidate, overlappedRegions, reverse } from '../../../src/ops/hot-swap/swap-checks.js';

const info = (over: Partial<KernelImageInfo>): KernelImageInfo => ({
  name: 'counter',
  version: '1.0.0',
  versionCode: 0x10000,
  abi: 1,
  stateLayout: 1,
  tablesBytes: 0,
  sha256: '0'.repeat(64),
  exports: [],
  functions: ['qt_self_test', 'counter_run'],
  ...over,
});

function refused(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isQingtianError(e, ErrorCode.SwapRefused), String(e)).toBe(true);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

describe("the hot-swap manager's checks", () => {
  const v1 = info({});
  const v2 = info({
    version: '2.0.0',
    stateLayout: 2,
    functions: ['qt_self_test', 'qt_state_transform', 'counter_run'],
  });

  it('same layout: no transform; a changed layout: the newer layout module transforms, both ways', () => {
    expect(checkCandidate(v1, info({ version: '1.0.1' }))).toBeNull();
    const up = checkCandidate(v1, v2);
    expect(up).toEqual({ name: 'qt_state_transform', in: 'to', fromLayout: 1, toLayout: 2 });
    expect(checkCandidate(v2, v1)).toEqual({ name: 'qt_state_transform', in: 'from', fromLayout: 2, toLayout: 1 });
    expect(reverse(up)).toEqual(checkCandidate(v2, v1));
    expect(reverse(null)).toBeNull();
  });

  it('refuses another module, a missing self-test, a dropped function, a missing transform', () => {
    expect(refused(() => checkCandidate(v1, info({ name: 'virtio' })))).toMatch(/not a version of counter/);
    expect(refused(() => checkCandidate(v1, info({ functions: ['counter_run'] })))).toMatch(
      /missing export qt_self_test/,
    );
    expect(refused(() => checkCandidate(v1, info({ functions: ['qt_self_test', 'counter_other'] })))).toMatch(
      /missing export counter_run that counter@1\.0\.0 provides/,
    );
    expect(refused(() => checkCandidate(v1, info({ stateLayout: 2 })))).toMatch(
      /needs qt_state_transform\(state, from, to\) in counter@1\.0\.0 .*missing export/,
    );
    expect(refused(() => checkCandidate(v1, info({ stateLayout: 70000, functions: [...v2.functions] })))).toMatch(
      /state layout 70000 outside/,
    );
  });

  it('names the live regions a data segment would overwrite', () => {
    const regions: Region[] = [
      { id: 1, name: 'reserved', owner: 'host', kind: 'reserved', base: 0, sizeBytes: 65536 },
      { id: 2, name: 'vm1:ram', owner: 'guest:vm1', kind: 'guest-ram', base: 65536, sizeBytes: 65536 },
    ];
    expect(
      overlappedRegions(
        [
          { offset: 0x400, byteLength: 16 },
          { offset: null, byteLength: 8 },
        ],
        regions,
      ),
    ).toEqual(["16 B at 0x400 over 'reserved' (reserved, owner host)"]);
    expect(overlappedRegions([{ offset: 65530, byteLength: 16 }], regions)).toHaveLength(2);
    expect(overlappedRegions([{ offset: 1 << 20, byteLength: 16 }], regions)).toEqual([]);
  });
});
