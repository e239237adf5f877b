import type { StateRegion } from '../../src/common/host-memory-api.js';
import { FILL_LENGTH, FILL_TARGET } from '../../src/generated/core.js';
import type { HostMemory } from '../../src/memory/host-memory.js';

/** A 'FILL' job state of the core kernel family (`core_fill`), writing over a fresh area of `areaBytes`. */
export function fillState(host: HostMemory, areaBytes = 65536): StateRegion {
  const area = host.alloc({ name: 'fill-area', owner: 'test', kind: 'core-scratch', sizeBytes: areaBytes });
  const st = host.allocState({
    name: 'test:FILL',
    owner: 'test',
    kind: 'job-state',
    magic: 'FILL',
    layoutVersion: 1,
    payloadBytes: 64,
  });
  host.view.setUint32(st.base + FILL_TARGET, area.base, true);
  host.view.setUint32(st.base + FILL_LENGTH, area.sizeBytes, true);
  return st;
}
