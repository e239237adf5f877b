import type { DpuCore } from '../../dpu/core/dpu-core.js';
import type { KernelRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { VsockDevice, type VsockDeviceOptions } from '../../dpu/vsock/vsock-device.js';
import { featureWord } from '../../common/virtio/features.js';
import { ErrorCode, QingtianError } from '../../common/errors.js';
import * as G from '../../generated/guest.js';
import { VSOCK_F_STREAM } from '../../generated/vsock.js';
import type { Guest } from '../../hypervisor/guest/guest.js';
import type { GuestVcpu } from '../../hypervisor/guest/vcpu.js';
import {
  DEFAULT_VSOCK_DRIVER,
  driverFlags,
  vsockDriverAreaBytes,
  type VsockRings,
} from '../../hypervisor/guest/virtio/vsock-driver.js';

/** A guest agent running on a vCPU, and the vsock device it talks through. */
export interface RunningGuestAgent {
  device: VsockDevice;
  /** Settles when the agent's vCPU leaves its program: 'halted' after a shutdown, 'stopped' by the VM. */
  program: Promise<{ exit: 'halted' | 'stopped'; steps: number }>;
}

/**
 * Gives `guest` a vsock device served by `core` and starts the guest agent on `vcpu`, the way a
 * guest boots one: the vCPU initialises its own driver in its RAM (gvsock_init), the device is
 * configured with the rings the driver laid out, then the vCPU runs the agent's poll loop under
 * the VM control block `ctl` (assembly/guest/vm-control.ts; the agent's clock is the block's).
 */
export async function bootGuestAgent(opts: {
  runtime: KernelRuntime;
  guest: Guest;
  vcpu: GuestVcpu;
  vcpuIndex?: number;
  core: DpuCore;
  ctl: number;
  device?: Omit<VsockDeviceOptions, 'guestCid'>;
  guestCid: number;
}): Promise<RunningGuestAgent> {
  const { runtime, guest, vcpu, core } = opts;
  const g = DEFAULT_VSOCK_DRIVER;
  const device = new VsockDevice(runtime, guest, `${guest.name}:vsock`, { ...opts.device, guestCid: opts.guestCid });
  try {
    const words = VsockDevice.notifyWordsOn(core);
    const areaBytes = vsockDriverAreaBytes(runtime.kernel('guest'), g);
    const area = guest.allocGpa(areaBytes, 64);
    const ga = guest.host(guest.allocGpa(G.QGA_STATE_BYTES, 64), G.QGA_STATE_BYTES);
    const rc = await vcpu.call(
      'gvsock_init',
      guest.ramBase,
      guest.ramBytes,
      area,
      areaBytes,
      driverFlags(g),
      g.queueSize,
      g.eventQueueSize,
      g.bufBytes,
      g.maxConns,
      g.ringBytes,
      device.configAddress,
      words.doorbell,
      words.sleeping,
      device.queueIrq,
      0,
    );
    if (rc !== 0)
      throw new QingtianError(ErrorCode.DeviceState, `${guest.name}: the guest's vsock driver refused its geometry`);
    const vs = guest.host(area, G.GV_STATE_BYTES);
    const ring = (q: number, part: number): bigint =>
      guest.ram.getBigUint64(Number(area) + G.GV_RINGS + 24 * q + 8 * part, true);
    const rings = [0, 1, 2].map((q) => ({
      descGpa: ring(q, 0),
      driverGpa: ring(q, 1),
      deviceGpa: ring(q, 2),
    })) as VsockRings;
    device.negotiate(
      featureWord({ packed: g.packed, eventIdx: g.eventIdx, indirect: false, inOrder: false }) |
        (1n << BigInt(VSOCK_F_STREAM)),
    );
    rings.forEach((r, i) => device.setQueue(i, { size: i === 2 ? g.eventQueueSize : g.queueSize, ...r }));
    await device.start(core);
    if ((await vcpu.call('gvsock_start', vs)) !== 0)
      throw new QingtianError(ErrorCode.DeviceState, `${guest.name}: vsock driver start refused`);
    if ((await vcpu.call('gagent_init', ga, vs, opts.ctl + G.VMC_CLOCK, opts.vcpuIndex ?? 0)) !== 0)
      throw new QingtianError(ErrorCode.DeviceState, `${guest.name}: guest agent init refused`);
    const program = vcpu.runProgram('gagent_poll', [ga, 100_000_000n], opts.ctl);
    return { device, program };
  } catch (e) {
    await device.stop();
    device.free();
    throw e;
  }
}
