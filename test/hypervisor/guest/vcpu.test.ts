import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isQingtianError } from '../../../src/common/errors.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { DEFAULT_VCPU_NICE, GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';

const MIB = 1 << 20;

/** Nice value of every thread of this process (Linux /proc; field 19 of a task's stat). */
function threadNices(): number[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: count fields after the last ')'.
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  });
}

describe('guest vCPU thread', () => {
  it('validates its priority at the boundary', () => {
    const memory = new HostMemory({ sizeBytes: 16 * MIB });
    for (const nice of [20, -21, 1.5]) {
      try {
        new GuestVcpu(memory, 'bad', { nice });
        throw new Error('accepted');
      } catch (e) {
        expect(isQingtianError(e, 'QT_INVALID_ARGUMENT')).toBe(true);
        expect((e as Error).message).toBe(`GuestVcpu nice: expected an integer in [-20, 19] or null, got ${nice}`);
      }
    }
  });

  it.skipIf(!existsSync('/proc/self/task'))(
    'runs below the DPU cores: its own thread, and only it, gets the vCPU priority',
    async () => {
      const memory = new HostMemory({ sizeBytes: 16 * MIB });
      const before = threadNices().filter((n) => n === DEFAULT_VCPU_NICE).length;
      const vcpu = new GuestVcpu(memory, 'prio');
      try {
        await vcpu.call('qt_init', 0, 0); // the worker has started (and set its priority) once it answers
        expect(threadNices().filter((n) => n === DEFAULT_VCPU_NICE).length).toBe(before + 1);
      } finally {
        await vcpu.stop();
      }
    },
  );
});
