import type { Vm } from '../../vms/vm.js';

/** A device's traffic as the guest sees it: rx into the guest, tx out of it. */
export interface VmDeviceTraffic {
  vm: string;
  device: string;
  kind: string;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
}

/**
 * The traffic of each VM's devices, read out of band from the devices' counters. The vsock
 * device counts at the host's end of the connection, so its tx is the guest's rx.
 */
export function vmDeviceTraffic(vms: readonly Vm[]): VmDeviceTraffic[] {
  const out: VmDeviceTraffic[] = [];
  for (const vm of vms) {
    const vs = vm.vsock;
    if (!vs) continue;
    const ep = vs.device.stats().endpoint;
    out.push({
      vm: vm.name,
      device: vs.id,
      kind: 'vsock',
      rxPackets: ep['txPackets'] ?? 0,
      rxBytes: ep['txBytes'] ?? 0,
      txPackets: ep['rxPackets'] ?? 0,
      txBytes: ep['rxBytes'] ?? 0,
    });
  }
  return out;
}

/** Prometheus families of the VMs' devices: packets and bytes by VM, device and direction. */
export function vmDeviceMetrics(vms: readonly Vm[]): string {
  const t = vmDeviceTraffic(vms);
  const lines = (family: 'Packets' | 'Bytes'): string[] =>
    t.flatMap((d) => {
      const l = `vm="${d.vm}",device="${d.device}",kind="${d.kind}"`;
      return [
        `qingtian_vm_device_${family.toLowerCase()}_total{${l},direction="rx"} ${d[`rx${family}`]}`,
        `qingtian_vm_device_${family.toLowerCase()}_total{${l},direction="tx"} ${d[`tx${family}`]}`,
      ];
    });
  return [
    '# HELP qingtian_vm_device_packets_total Packets through a VM device (rx: into the guest, tx: out of it)',
    '# TYPE qingtian_vm_device_packets_total counter',
    ...lines('Packets'),
    '# HELP qingtian_vm_device_bytes_total Payload bytes through a VM device (rx: into the guest, tx: out of it)',
    '# TYPE qingtian_vm_device_bytes_total counter',
    ...lines('Bytes'),
  ].join('\n');
}
