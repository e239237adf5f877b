import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QingtianError } from '../../../src/common/errors.js';
import { Host } from '../../../src/orchestrator/host.js';
import { GuestAgentClient } from '../../../src/orchestrator/agent/guest-agent-client.js';

const MIB = 1 << 20;

async function refused(p: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(QingtianError);
    expect((e as QingtianError).code).toBe(code);
    expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected a refusal');
}

describe('vm.placeDevice: moving a VM device backend between DPU cores', () => {
  let host: Host;

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 2, mode: 'interrupt' },
      vms: { poolMiB: 64 },
    });
  });
  afterAll(async () => {
    await host.shutdown();
  });

  const servedBy = (vm: { vsock: { device: { state: { base: number } } } | null }): number[] =>
    host.dpu.cores.filter((c) => c.runningJobs().some((j) => j.state === vm.vsock!.device.state.base)).map((c) => c.id);

  it('moves a running VM vsock device while the guest agent answers, losing no request', async () => {
    const vm = await host.vms.create({ name: 'mover', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'vsock', cid: 40 }] });
    try {
      await vm.start();
      expect(servedBy(vm)).toEqual([0]);
      const ga = await GuestAgentClient.connect(vm.vsock!.device.host, { timeoutMs: 10_000 });
      let answered = 0;
      let moving = true;
      // Requests in flight on the device's own connection the whole time, not serialised with the moves.
      const traffic = (async () => {
        while (moving) {
          await ga.info();
          answered++;
        }
      })();
      for (let i = 0; i < 8; i++) {
        const to = (i + 1) % 2;
        const r = await vm.placeDevice('vsock0', { core: to });
        expect(r).toMatchObject({ device: 'vm:mover:vsock0', from: 1 - to, to });
        expect(servedBy(vm)).toEqual([to]);
        const seen = answered;
        while (answered <= seen) await new Promise((res) => setTimeout(res, 2));
      }
      moving = false;
      await traffic;
      const info = await ga.info();
      // Every request got its answer, in order: the agent counted each one exactly once.
      expect(Number(info.requests)).toBe(answered + 1);
      ga.close();
      expect(vm.vsock!.device.needsReset).toBe(false);
      // Moving to where it already is changes nothing.
      expect((await vm.placeDevice('vsock0', { core: 0 })).pauseNs).toBe(0);
      expect(servedBy(vm)).toEqual([0]);
    } finally {
      await vm.destroy();
    }
  });

  it('places the device of a stopped VM for its next boot; refuses unknown devices, cores and keys', async () => {
    const vm = await host.vms.create({ name: 'later', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'vsock', cid: 41 }] });
    try {
      await vm.placeDevice('vsock0', { core: 1 });
      expect(servedBy(vm)).toEqual([]);
      await vm.start();
      expect(servedBy(vm)).toEqual([1]);
      const ga = await GuestAgentClient.connect(vm.vsock!.device.host, { timeoutMs: 10_000 });
      expect((await ga.info()).version).toBeGreaterThan(0);
      ga.close();
      await refused(
        vm.placeDevice('net0', { core: 0 }),
        'QT_INVALID_ARGUMENT',
        /vm\.placeDevice id: expected a device of later that can be placed \(vsock0:/,
      );
      await refused(
        vm.placeDevice('vsock0', { core: 2 }),
        'QT_INVALID_ARGUMENT',
        /placement\.core: expected a core index below 2, got 2/,
      );
      await refused(() => vm.placeDevice('vsock0', { core: -1 }), 'QT_INVALID_ARGUMENT', /placement\.core/);
      await refused(
        () => vm.placeDevice('vsock0', { core: 0, cpu: 1 } as never),
        'QT_INVALID_ARGUMENT',
        /unknown key 'cpu'/,
      );
      expect(servedBy(vm)).toEqual([1]);
    } finally {
      await vm.destroy();
    }
    await refused(vm.placeDevice('vsock0', { core: 0 }), 'QT_INVALID_STATE', /the VM is destroyed/);
  });
});
