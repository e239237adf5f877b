// Child process for test/dpu/core/process-exit.test.ts: boots a host, runs a job on every core,
// shuts down, and then does nothing. It must exit by itself: no thread may be left running.
import { Host } from '../../dist/src/index.js';

const host = await Host.boot({ memory: { sizeBytes: 16 << 20 }, dpu: { cores: 2, mode: 'poll' } });
const core = await host.loadKernel('core');
for (const c of host.dpu.cores) {
  const st = host.memory.allocState({
    name: `echo${c.id}`,
    owner: 'child',
    kind: 'job-state',
    magic: 'ECHO',
    layoutVersion: 1,
    payloadBytes: 256,
  });
  await c.attachJob({ kernel: core, entry: 'core_echo', state: st.base, budget: 1 });
}
await host.shutdown();
console.log('shut down');
