import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { Storage } from '../../dpu/blk/storage.js';
import type { HostNetwork } from '../../dpu/net/host-network.js';
import { isVolumeBlk, type PluggableDeviceSpec } from './vm-spec.js';

/**
 * What VMs' net and blk devices hold on the host, by VM name: `host.network` ports and
 * `host.storage` volumes. A device is checked and its hold taken before anything is made
 * (synchronously, so a concurrent create or hotplug sees it), and given back when the device
 * is freed or its making failed.
 */
export class VmDeviceHolds {
  private readonly ports = new Map<string, string>();
  private readonly volumes = new Map<string, string>();

  constructor(
    private readonly host: {
      network?: (() => HostNetwork | null) | undefined;
      storage?: (() => Storage) | undefined;
      /** Checks that DPU core `index` exists (refusing with `field` otherwise). */
      core(index: number, field: string): unknown;
      /** The core a device without `core` is served on. */
      defaultCore: number;
    },
  ) {}

  /**
   * Checks a net or blk device against the host and takes what it holds: the port must be a
   * `host.network` VM port that no VM and no other guest holds; the volume an open
   * `host.storage` volume that no VM and no other device holds; a core must exist. Throws
   * QT_INVALID_ARGUMENT naming `${field}.<key>`, taking nothing.
   */
  take(vm: string, d: PluggableDeviceSpec, field: string): void {
    if (d.kind === 'blk') {
      this.host.core(d.core ?? this.host.defaultCore, `${field}.core`);
      if (!isVolumeBlk(d)) return;
      const held = this.volumes.get(d.volume);
      if (held !== undefined) refuse(`${field}.volume`, `a volume no VM holds (vm ${held} holds it)`, d.volume);
      const vol = this.host.storage?.().volume(d.volume);
      if (!vol) refuse(`${field}.volume`, 'the name of an open host.storage volume', d.volume);
      if (vol.attachedTo !== null)
        refuse(`${field}.volume`, `a volume not attached elsewhere (device ${vol.attachedTo} holds it)`, d.volume);
      this.volumes.set(d.volume, vm);
      return;
    }
    const held = this.ports.get(d.port);
    if (held !== undefined) refuse(`${field}.port`, `a port no VM holds (vm ${held} holds it)`, d.port);
    const p = this.host
      .network?.()
      ?.list()
      .ports.find((x) => x.name === d.port);
    if (!p) refuse(`${field}.port`, 'the name of a host.network port', d.port);
    if (p.kind !== 'vm') refuse(`${field}.port`, `a VM port (not a ${p.kind} port)`, d.port);
    if (p.attached !== undefined)
      refuse(`${field}.port`, `a port not attached elsewhere (guest ${p.attached})`, d.port);
    this.ports.set(d.port, vm);
  }

  /** Gives back what `take` took for `d`. */
  give(d: PluggableDeviceSpec): void {
    if (d.kind === 'net') this.ports.delete(d.port);
    else if (isVolumeBlk(d)) this.volumes.delete(d.volume);
  }
}

/** Refuses a VM spec or hotplug field with QT_INVALID_ARGUMENT, naming it. */
export function refuse(field: string, expected: string, got: unknown): never {
  // Fields of a hotplugged device start with 'device'; the others are the create spec's.
  const where = field.startsWith('device.') ? 'vm.hotplug ' : 'vm spec.';
  throw new QingtianError(
    ErrorCode.InvalidArgument,
    `${where}${field}: expected ${expected}, got ${JSON.stringify(got)}`,
    {
      field,
      got,
    },
  );
}
