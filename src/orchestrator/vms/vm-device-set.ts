import type { VmDevicePart } from './vm-device.js';
import type { PluggableDeviceSpec } from './vm-spec.js';
import type { VmVsock } from './vm-vsock.js';

/** One of a VM's net or blk devices, with the spec it was made from (what it reserved). */
export interface VmDeviceEntry {
  part: VmDevicePart;
  spec: PluggableDeviceSpec;
}

/**
 * The devices a VM holds: its vsock device (fixed at creation) and its net and blk devices in
 * plug order. Booting, halting and freeing go over all of them, the vsock device first (it
 * carries the guest agent).
 */
export class VmDeviceSet {
  private readonly entries = new Map<string, VmDeviceEntry>();

  constructor(
    readonly vsock: VmVsock | null,
    entries: readonly VmDeviceEntry[],
  ) {
    for (const e of entries) this.entries.set(e.part.id, e);
  }

  /** Whether the VM has a device with this id (the vsock device included). */
  has(id: string): boolean {
    return this.entries.has(id) || this.vsock?.id === id;
  }

  /** A net or blk device by id. */
  get(id: string): VmDeviceEntry | undefined {
    return this.entries.get(id);
  }

  add(entry: VmDeviceEntry): void {
    this.entries.set(entry.part.id, entry);
  }

  /** Takes a net or blk device out of the set (the caller frees it). */
  take(id: string): VmDeviceEntry | undefined {
    const e = this.entries.get(id);
    this.entries.delete(id);
    return e;
  }

  /** The vsock device first, then the others in plug order. */
  all(): VmDevicePart[] {
    return [...(this.vsock ? [this.vsock] : []), ...[...this.entries.values()].map((e) => e.part)];
  }

  async bootAll(): Promise<void> {
    for (const p of this.all()) await p.boot();
  }

  async haltAll(): Promise<void> {
    for (const p of this.all()) await p.halt();
  }

  /** Frees every device (each tried, even if one fails) and gives back what each reserved. */
  async freeAll(release: (spec: PluggableDeviceSpec) => void): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    if (this.vsock) await this.vsock.free().catch(() => undefined);
    for (const e of entries) {
      await e.part.free().catch(() => undefined);
      release(e.spec);
    }
  }
}
