import { ErrorCode, QingtianError } from '../../../common/errors.js';
import { VsockEndpoint } from '../../../common/vsock/vsock-endpoint.js';
import * as G from '../../../generated/guest.js';

/** Geometry of a guest vsock driver (assembly/guest/vsock-driver.ts). */
export interface VsockDriverGeometry {
  /** Ring format: packed (§2.8) instead of split, and EVENT_IDX. */
  packed: boolean;
  eventIdx: boolean;
  /** Size of the rx and tx queues (a power of two, 2–1024) and of the event queue (1–64). */
  queueSize: number;
  eventQueueSize: number;
  /** Bytes of each rx and tx buffer: a packet header (44) and up to 64 KiB of payload. */
  bufBytes: number;
  /** Connection slots and per-direction ring bytes of the driver's endpoint. */
  maxConns: number;
  ringBytes: number;
}

export const DEFAULT_VSOCK_DRIVER: VsockDriverGeometry = {
  packed: false,
  eventIdx: true,
  queueSize: 128,
  eventQueueSize: 4,
  bufBytes: 4096,
  maxConns: 8,
  ringBytes: 65536,
};

/** Where the device is, as its driver sees it: config space, kick words, interrupt word. */
export interface VsockTransport {
  /** Host address of the device's virtio_vsock_config (guest_cid). */
  config: number;
  doorbell: number;
  sleeping: number;
  /** The interrupt word of the three queues (also the driver loop's wake word). */
  irq: number;
}

/** The queue areas a driver laid out: [rx, tx, event] x {desc, driver, device} GPAs. */
export type VsockRings = [
  { descGpa: bigint; driverGpa: bigint; deviceGpa: bigint },
  { descGpa: bigint; driverGpa: bigint; deviceGpa: bigint },
  { descGpa: bigint; driverGpa: bigint; deviceGpa: bigint },
];

type Fn = (...a: (number | bigint)[]) => number;

/** The guest kernel's vsock entries in this thread (an instance over the shared host memory). */
export interface GuestVsockKernel {
  fn(name: string): Fn;
}

/** Ring feature flags of the guest driver (DF_*). */
export function driverFlags(g: VsockDriverGeometry): number {
  return (g.packed ? G.DF_PACKED : 0) | (g.eventIdx ? G.DF_EVENT_IDX : 0);
}

/** Bytes of guest RAM a driver of this geometry needs. */
export function vsockDriverAreaBytes(k: GuestVsockKernel, g: VsockDriverGeometry): number {
  return k.fn('gvsock_area_bytes')(driverFlags(g), g.queueSize, g.eventQueueSize, g.bufBytes, g.maxConns, g.ringBytes);
}

/**
 * Lays out and initialises a vsock driver in guest RAM at `areaGpa` (what a guest's own boot
 * code, or the firmware of a host agent, does). Returns the host address of the driver state
 * and the ring addresses the device side must be configured with.
 */
export function initVsockDriver(
  k: GuestVsockKernel,
  view: DataView,
  ram: { base: number; bytes: number },
  areaGpa: bigint,
  g: VsockDriverGeometry,
  t: VsockTransport,
): { vs: number; rings: VsockRings } {
  const areaBytes = vsockDriverAreaBytes(k, g);
  const rc = k.fn('gvsock_init')(
    ram.base,
    ram.bytes,
    areaGpa,
    areaBytes,
    driverFlags(g),
    g.queueSize,
    g.eventQueueSize,
    g.bufBytes,
    g.maxConns,
    g.ringBytes,
    t.config,
    t.doorbell,
    t.sleeping,
    t.irq,
    0,
  );
  if (rc !== 0)
    throw new QingtianError(
      ErrorCode.InvalidArgument,
      `vsock driver: geometry refused (${JSON.stringify(g)}) for an area at GPA 0x${areaGpa.toString(16)} in ${ram.bytes} bytes of RAM`,
    );
  const vs = ram.base + Number(areaGpa);
  const ring = (q: number, part: number): bigint => view.getBigUint64(vs + G.GV_RINGS + 24 * q + 8 * part, true);
  const rings = [0, 1, 2].map((q) => ({ descGpa: ring(q, 0), driverGpa: ring(q, 1), deviceGpa: ring(q, 2) }));
  return { vs, rings: rings as VsockRings };
}

/**
 * Drives an initialised guest vsock driver from this thread: runs the Wasm driver when the
 * device interrupts or the endpoint's application kicked, services the endpoint's sockets after
 * each run, and sleeps (Atomics.waitAsync on the interrupt word, after re-arming the queues)
 * when there is nothing to do. The host agent and test peers use it; a guest agent written in
 * Wasm runs the same driver from its own loop instead.
 */
export class VsockDriver {
  readonly endpoint: VsockEndpoint;
  private readonly i32: Int32Array;
  private readonly irqIdx: number;
  private running = false;
  private kicked = false;
  private done: Promise<void> = Promise.resolve();
  private runs = 0;
  private keepAlive: NodeJS.Timeout | null = null;

  constructor(
    private readonly k: GuestVsockKernel,
    buffer: ArrayBufferLike,
    readonly vs: number,
    irq: number,
    private readonly budget = 64,
  ) {
    this.i32 = new Int32Array(buffer);
    this.irqIdx = irq >> 2;
    const ep = new DataView(buffer).getUint32(vs + G.GV_ENDPOINT, true);
    this.endpoint = new VsockEndpoint({ buffer, base: ep, kick: () => this.kick() });
  }

  /** Driver runs so far (each one JS→Wasm call). */
  get runCount(): number {
    return this.runs;
  }

  /** §5.10.5: buffers to the event and rx queues, then the loop. */
  start(): void {
    if (this.running) return;
    if (this.k.fn('gvsock_start')(this.vs) !== 0)
      throw new QingtianError(ErrorCode.DeviceState, 'vsock driver: start refused (not initialised, or started twice)');
    this.running = true;
    // A loop parked in Atomics.waitAsync holds no event-loop handle: without one, a thread whose
    // only work is this driver (the host agent's) would end as soon as it went idle.
    this.keepAlive = setInterval(() => undefined, 2 ** 30);
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    await this.done;
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = null;
  }

  /** Something for the engine (data written, a request posted): run the driver soon. */
  kick(): void {
    this.kicked = true;
    Atomics.add(this.i32, this.irqIdx, 1);
    Atomics.notify(this.i32, this.irqIdx);
  }

  private async loop(): Promise<void> {
    const run = this.k.fn('gvsock_run');
    const arm = this.k.fn('gvsock_arm');
    while (this.running) {
      const seen = Atomics.load(this.i32, this.irqIdx);
      this.kicked = false;
      const n = run(this.vs, this.budget);
      this.runs++;
      if (n < 0) throw new QingtianError(ErrorCode.DeviceState, 'vsock driver: its state is not valid');
      this.endpoint.poll();
      if (n > 0 || this.kicked) {
        // Busy: give the event loop a turn (the application's writes, timers) and run again.
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      if (arm(this.vs) > 0) continue;
      const w = Atomics.waitAsync(this.i32, this.irqIdx, seen);
      if (w.async) await w.value;
    }
  }
}
