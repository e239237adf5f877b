import { FEAT_VERSION_1 } from '../../generated/virtio.js';
import type { LoaderRuntime } from '../../dpu/kernels/kernel-runtime.js';
import { NET_F_MAC } from '../../dpu/net/net-layout.js';
import type { VSwitch } from '../../dpu/net/vswitch.js';
import { Guest } from '../../hypervisor/guest/guest.js';
import type { HostMemory } from '../../memory/host-memory.js';
import { BenchDriver, type Frames } from './bench-driver.js';
import { layoutPort, portDevice, wire } from './bench-port.js';
import { TsSwitch } from './ts-switch.js';

const MIB = 1 << 20;
/** Ring size of the bench guests' queues. */
export const BENCH_RING = 1024;
// Buffer stride of the bench guests: 2 KiB plus a cache line, so that the frames' first lines do
// not all fall in the same cache sets (DPDK pads its mbuf pools for the same reason).
export const BENCH_STRIDE = 2112;

/** A MAC address as the NetDevice option takes it ("02:00:…"). */
export function macString(b: readonly number[]): string {
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** The drivers and the peer switch of an in-thread net bench. */
export interface InThreadRig {
  /** The harness over the switch's two NICs (sender's TX, receiver's RX). */
  dw: BenchDriver;
  /** The same harness over the plain-TS peer's two ports. */
  dt: BenchDriver;
  ts: TsSwitch;
}

/**
 * Four guests' ports in `memory`: the first two become NICs of `sw` (vNIC ids `vnics`, MACs a
 * and b), the last two are served by the plain-TS peer switch; a poll-mode driver pair on each.
 */
export function inThreadRig(
  memory: HostMemory,
  rt: LoaderRuntime,
  sw: VSwitch,
  o: {
    prefix: string;
    vnics: readonly [number, number];
    macs: { a: number[]; b: number[] };
    frames: Frames;
    flows: number;
    preinstall: number;
  },
): InThreadRig {
  const ports = ['a', 'b', 'c', 'd'].map((n) => {
    const g = new Guest(memory, { name: `${o.prefix}-${n}`, ramBytes: 16 * MIB });
    return { g, port: layoutPort(g, BENCH_RING, BENCH_STRIDE) };
  });
  const features = (1n << BigInt(FEAT_VERSION_1)) | (1n << BigInt(NET_F_MAC));
  for (const i of [0, 1] as const) {
    const x = ports[i]!;
    const mac = macString(i === 0 ? o.macs.a : o.macs.b);
    sw.addVnic(o.vnics[i], portDevice(rt, x.g, x.port, { name: `bench-${o.prefix}${i}`, mac, features }));
  }
  const buffer = memory.memory.buffer;
  const words = memory.alloc({ name: `${o.prefix}-words`, owner: 'bench', kind: 'core-scratch', sizeBytes: 4096 });
  const kick = { doorbell: words.base, sleeping: words.base + 64 };
  const driver = (tx: number, rx: number, rxIrq: number): BenchDriver =>
    new BenchDriver(buffer, {
      tx: wire(ports[tx]!.port),
      rx: wire(ports[rx]!.port),
      frames: o.frames,
      flows: o.flows,
      kick,
      rxIrq,
    });
  const dw = driver(0, 1, words.base + 128);
  const dt = driver(2, 3, words.base + 192);
  const ts = new TsSwitch(buffer, {
    tx: wire(ports[2]!.port),
    rx: wire(ports[3]!.port),
    ramBytes: 16 * MIB,
    macs: [
      { mac: o.macs.a, port: 0 },
      { mac: o.macs.b, port: 1 },
    ],
    preinstall: o.preinstall,
    rxIrq: words.base + 192,
  });
  return { dw, dt, ts };
}
