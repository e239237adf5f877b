/**
 * A VM disk over a `host.storage` volume (`{ kind: 'blk', volume }`): the guest's block workload
 * writes through the VM's virtio-blk device into the volume (DPU core -> volume queue -> storage
 * worker); the disk is unplugged and plugged again, then its VM destroyed and another created
 * over the same volume, and each time the guest reads every block back, checked word by word.
 * Refusals (unknown volume, a volume held by a VM or attached elsewhere, spec mix-ups) name their
 * field and change nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, QingtianError } from '../../../src/common/errors.js';
import { featureWord } from '../../../src/common/virtio/features.js';
import type { AllocatorStats } from '../../../src/memory/region-allocator.js';
import type { StorageVolume } from '../../../src/dpu/blk/storage-volume.js';
import { Guest } from '../../../src/hypervisor/guest/guest.js';
import { GuestVcpu } from '../../../src/hypervisor/guest/vcpu.js';
import { GuestBlkWorkload } from '../../../src/hypervisor/guest/virtio/blk-workload.js';
import { Host } from '../../../src/orchestrator/host.js';
import type { Vm } from '../../../src/orchestrator/vms/vm.js';
import type { VmBlkHandle } from '../../../src/orchestrator/vms/vm-device.js';
import { removeDir, tmpDir } from '../../dpu/blk/helpers.js';

const MIB = 1 << 20;
const BLOCKS = 256;
const SPLIT = { packed: false, eventIdx: false, indirect: false, inOrder: false };

async function refused(p: Promise<unknown> | (() => unknown), code: string): Promise<QingtianError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(QingtianError);
    expect((e as QingtianError).code).toBe(code);
    return e as QingtianError;
  }
  throw new Error('expected a refusal');
}

/** The guest's block workload over a VM's disk: probe (negotiate, queue), DRIVER_OK, bind. */
async function blkLoad(vm: Vm, id: string, vcpu: GuestVcpu, seed: number): Promise<GuestBlkWorkload> {
  const h = vm.device(id) as VmBlkHandle;
  expect(h.kind).toBe('blk');
  const dev = h.device;
  dev.negotiate(
    dev.features() &
      ~(featureWord({ packed: true, eventIdx: true, indirect: true, inOrder: true }) & ~featureWord(SPLIT)),
  );
  const w = await GuestBlkWorkload.create(vm.ram, vcpu, { size: 32, features: SPLIT, blocks: BLOCKS, seed });
  const { features: _f, ...rings } = w.queue.config;
  void _f;
  dev.setQueue(0, rings);
  await h.driverOk();
  await w.bind(dev.notifyWords(0), dev.queues[0]!.irqAddr);
  return w;
}

/** Live regions of VM devices and memory maps. */
function owned(s: AllocatorStats): Record<string, { count: number; bytes: number }> {
  return Object.fromEntries(Object.entries(s.byOwner).filter(([o]) => o.startsWith('vm:')));
}

describe('host.vms: a VM disk over a host.storage volume', () => {
  let host: Host;
  let dir: string;
  let vol: StorageVolume;
  const vcpus: GuestVcpu[] = [];
  const vcpu = (name: string): GuestVcpu => {
    const v = new GuestVcpu(host.memory, name);
    vcpus.push(v);
    return v;
  };

  beforeAll(async () => {
    host = await Host.boot({
      memory: { sizeBytes: 512 * MIB },
      dpu: { cores: 2, mode: 'adaptive', idleSpinPolls: 64 },
      vms: { poolMiB: 96 },
    });
    dir = tmpDir('vmvol');
    vol = await host.storage.createVolume({ dir: `${dir}/data`, name: 'data', sizeBytes: 8 * MIB, chunkBlocks: 4 });
  });
  afterAll(async () => {
    for (const v of vcpus) await v.stop();
    await host.shutdown();
    removeDir(dir);
  });

  /** Every block of the volume (read by the storage worker) is the version the guest last wrote. */
  async function checkVolume(volume: StorageVolume, versions: Uint32Array): Promise<number> {
    const data = await volume.read(0, BLOCKS * 4096);
    let written = 0;
    for (let b = 0; b < BLOCKS; b++) {
      if (versions[b]) written++;
      expect(data.subarray(b * 4096, (b + 1) * 4096), `block ${b}`).toEqual(
        GuestBlkWorkload.expectedBlock(b, versions[b]!),
      );
    }
    return written;
  }

  it('the guest writes through its volume-backed disk; unplugged and plugged again, then in a new VM, it reads back byte-exact', async () => {
    const before = host.memory.stats();
    const a = await host.vms.create({
      name: 'va',
      vcpus: 1,
      memoryMiB: 16,
      devices: [{ kind: 'blk', volume: 'data' }],
    });
    expect(vol.attachedTo).toBe('vm:va:blk0');
    await a.start();
    const h = a.device('blk0') as VmBlkHandle;
    expect(h.volume).toBe('data');
    expect(h.device.backend).toBe('volume');
    expect(h.device.capacitySectors).toBe((8 * MIB) / 512);

    const w1 = await blkLoad(a, 'blk0', vcpu('va/1'), 11);
    const r1 = await w1.run(8, 150);
    expect(r1.errors).toBe(0);
    const s = h.device.stats();
    expect(s.writes).toBeGreaterThan(0);
    expect(s.volumeRequests).toBeGreaterThanOrEqual(s.writes + s.reads);
    const v1 = w1.versions();
    expect(await checkVolume(vol, v1)).toBeGreaterThan(0);

    // Unplugged: the device's stop waits until the storage worker answered everything it took.
    const report = await a.unplug('blk0');
    expect(report.queues[0]!.popped).toBeGreaterThan(0);
    expect(report.queues[0]!.completed).toBe(report.queues[0]!.popped);
    expect(report.queues[0]!.inflight).toBe(0);
    expect(vol.attachedTo).toBeNull();
    const v2 = w1.versions();

    // Plugged again: a fresh driver reads every block back, then keeps writing.
    await a.hotplug({ kind: 'blk', volume: 'data' });
    expect(vol.attachedTo).toBe('vm:va:blk0');
    const w2 = await blkLoad(a, 'blk0', vcpu('va/2'), 12);
    w2.adoptVersions(v2);
    expect(await w2.verify(8)).toEqual({ completed: BLOCKS, errors: 0 });
    expect((await w2.run(8, 100)).errors).toBe(0);
    const v3 = w2.versions();
    await a.destroy();
    expect(vol.attachedTo).toBeNull();
    expect(host.storage.volume('data')).toBe(vol);

    // A new VM over the same volume finds the data the first one left.
    const b = await host.vms.create({
      name: 'vb',
      vcpus: 1,
      memoryMiB: 16,
      devices: [{ kind: 'blk', volume: 'data' }],
    });
    await b.start();
    const w3 = await blkLoad(b, 'blk0', vcpu('vb/1'), 13);
    w3.adoptVersions(v3);
    expect(await w3.verify(8)).toEqual({ completed: BLOCKS, errors: 0 });
    expect(await checkVolume(vol, v3)).toBeGreaterThan(0);
    // A reboot resets the device; the guest probes it afresh and the data is still there.
    await b.stop();
    await b.start();
    const w4 = await blkLoad(b, 'blk0', vcpu('vb/2'), 14);
    w4.adoptVersions(v3);
    expect(await w4.verify(8)).toEqual({ completed: BLOCKS, errors: 0 });
    await b.destroy();
    expect(vol.attachedTo).toBeNull();
    // Every region the two VMs and their disks held (device state, volume queues, memory maps) is freed.
    expect(owned(host.memory.stats())).toEqual({});
    expect(owned(before)).toEqual({});
  });

  it('refusals name the field and change nothing: unknown volume, held by a VM, attached elsewhere, spec mix-ups', async () => {
    // A fresh volume: the guest's version table starts at zeros.
    const hold = await host.storage.createVolume({ dir: `${dir}/hold`, name: 'hold', sizeBytes: 2 * MIB });
    const spare = await host.storage.createVolume({ dir: `${dir}/spare`, name: 'spare', sizeBytes: 2 * MIB });
    const vm = await host.vms.create({
      name: 'holder',
      vcpus: 1,
      memoryMiB: 16,
      devices: [{ kind: 'blk', volume: 'hold' }],
    });
    await vm.start();
    const w = await blkLoad(vm, 'blk0', vcpu('holder/1'), 21);
    expect((await w.run(8, 40)).errors).toBe(0);
    // A guest outside host.vms holds the spare volume.
    const guest = new Guest(host.memory, { name: 'outsider', ramBytes: 2 * MIB });
    const outside = await host.storage.attachBlk(spare, guest);

    const mem = host.memory.stats();
    const bad: [unknown, string][] = [
      [{ kind: 'blk', id: 'd2', volume: 'nope' }, 'device.volume'],
      [{ kind: 'blk', id: 'd2', volume: 'hold' }, 'device.volume'], // held by this VM's blk0
      [{ kind: 'blk', id: 'd2', volume: 'spare' }, 'device.volume'], // attached to the outsider
      [{ kind: 'blk', id: 'd2', volume: 'data', capacityMiB: 4 }, 'device.capacityMiB'],
      [{ kind: 'blk', id: 'd2', volume: 'data', backend: 'ram' }, 'device.backend'],
      [{ kind: 'blk', id: 'd2', backend: 'volume' }, 'device.volume'],
      [{ kind: 'blk', id: 'd2' }, 'device.volume'],
      [{ kind: 'blk', id: 'd2', backend: 'ram' }, 'device.capacityMiB'],
      [{ kind: 'blk', id: 'd2', volume: '' }, 'device.volume'],
      [{ kind: 'blk', id: 'd2', volume: 'data', queues: 9 }, 'device.queues'],
    ];
    for (const [spec, field] of bad) {
      const e = await refused(() => vm.hotplug(spec as never), ErrorCode.InvalidArgument);
      expect(e.details['field'], JSON.stringify(spec)).toBe(field);
      expect(e.message).toContain(field);
    }
    const clash = await refused(
      host.vms.create({ name: 'clash', vcpus: 1, memoryMiB: 4, devices: [{ kind: 'blk', volume: 'hold' }] }),
      ErrorCode.InvalidArgument,
    );
    expect(clash.details['field']).toBe('devices.0.volume');
    expect(clash.message).toContain('vm holder holds it');
    expect(host.vms.get('clash')).toBeUndefined();
    // Nothing changed: no region taken, the VM's disk the same, each volume with its holder.
    expect(host.memory.stats()).toEqual(mem);
    expect(vm.devices.map((d) => d.id)).toEqual(['blk0']);
    expect(hold.attachedTo).toBe('vm:holder:blk0');
    expect(spare.attachedTo).toBe(outside.name);
    // An attached volume cannot be closed under the VM.
    await refused(hold.close(), ErrorCode.DeviceState);
    const v = w.versions();
    expect((await w.verify(8)).errors).toBe(0);
    // The read-back can fail: a block the guest believes at another version is one error.
    const wrong = v.slice();
    wrong[3] = wrong[3]! + 1;
    w.adoptVersions(wrong);
    expect((await w.verify(8)).errors).toBe(1);
    w.adoptVersions(v);
    expect(await checkVolume(hold, v)).toBeGreaterThan(0);

    // Freed by its holder, the spare volume can be plugged.
    await outside.close();
    guest.destroy();
    await vm.hotplug({ kind: 'blk', id: 'd2', volume: 'spare', readOnly: true });
    expect(spare.attachedTo).toBe('vm:holder:d2');
    await vm.destroy();
    expect(spare.attachedTo).toBeNull();
    await spare.close();
    await hold.close();
  });
});
