import type { Guest } from '../../hypervisor/guest/guest.js';
import type { LoaderRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { NetDevice } from '../../dpu/net/net-device.js';
import { splitAvailBytes, splitUsedBytes } from '../../common/virtio/ring-layout.js';
import { DESC_BYTES } from '../../generated/virtio.js';

/** Split rings of one queue, as GPAs and as host addresses. */
export interface BenchRing {
  size: number;
  descGpa: bigint;
  availGpa: bigint;
  usedGpa: bigint;
  desc: number;
  avail: number;
  used: number;
}

/**
 * One bench guest's side of a virtio-net device, laid out the way a minimal poll-mode driver
 * (DPDK's virtio PMD style) keeps it: descriptor i of each ring is fixed to buffer i, so
 * refilling is re-publishing ring entries. TX buffer i holds a 12-byte header and a frame.
 */
export interface BenchPort {
  ramBase: number;
  tx: BenchRing;
  rx: BenchRing;
  txBufGpa: bigint;
  rxBufGpa: bigint;
  stride: number;
}

function ring(guest: Guest, size: number): BenchRing {
  const descGpa = guest.allocGpa(DESC_BYTES * size, 16);
  const availGpa = guest.allocGpa(splitAvailBytes(size, false), 4);
  const usedGpa = guest.allocGpa(splitUsedBytes(size, false), 4);
  return {
    size,
    descGpa,
    availGpa,
    usedGpa,
    desc: guest.host(descGpa),
    avail: guest.host(availGpa),
    used: guest.host(usedGpa),
  };
}

export function layoutPort(guest: Guest, size: number, stride: number): BenchPort {
  const tx = ring(guest, size);
  const rx = ring(guest, size);
  return {
    ramBase: guest.ramBase,
    tx,
    rx,
    txBufGpa: guest.allocGpa(size * stride, 64),
    rxBufGpa: guest.allocGpa(size * stride, 64),
    stride,
  };
}

/**
 * The device side of a bench port: a virtio-net device negotiated with `features`, its queue 0
 * (RX) and 1 (TX) on the port's rings.
 */
export function portDevice(
  rt: LoaderRuntime,
  guest: Guest,
  port: BenchPort,
  opts: { name: string; mac: string; features: bigint },
): NetDevice {
  const dev = new NetDevice(rt, guest, { name: opts.name, mac: opts.mac, maxQueueSize: port.rx.size });
  dev.negotiate(opts.features);
  for (const [q, r] of [
    [0, port.rx],
    [1, port.tx],
  ] as const)
    dev.setQueue(q, { size: r.size, descGpa: r.descGpa, driverGpa: r.availGpa, deviceGpa: r.usedGpa });
  return dev;
}

/** Plain-object form for a worker (bigints as decimal strings). */
export interface WirePort {
  ramBase: number;
  tx: WireRing;
  rx: WireRing;
  txBufGpa: string;
  rxBufGpa: string;
  stride: number;
}
export interface WireRing {
  size: number;
  desc: number;
  avail: number;
  used: number;
}

export function wire(p: BenchPort): WirePort {
  const r = (x: BenchRing): WireRing => ({ size: x.size, desc: x.desc, avail: x.avail, used: x.used });
  return {
    ramBase: p.ramBase,
    tx: r(p.tx),
    rx: r(p.rx),
    txBufGpa: String(p.txBufGpa),
    rxBufGpa: String(p.rxBufGpa),
    stride: p.stride,
  };
}
