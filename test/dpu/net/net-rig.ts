/**
 * Test rig for the net data plane: a host memory, a vSwitch run on the test's thread (one run per
 * `run()` call, the same Wasm a DPU core runs) and guests with virtio-net devices driven by the
 * spec-literal TS split driver, so a test can write whatever a hostile guest would.
 */
import { LoaderRuntime } from '../../../src/dpu/kernels/kernel-runtime.js';
import { HostMemory } from '../../../src/memory/host-memory.js';
import { createDriver, type Completion, type VirtqueueDriver } from '../../../src/hypervisor/guest/virtio/index.js';
import { NetDevice } from '../../../src/dpu/net/net-device.js';
import { VSwitch, type VSwitchOptions } from '../../../src/dpu/net/vswitch.js';
import { encodeActions, type Action } from '../../../src/dpu/net/action-list.js';
import { NET_F_CTRL_VQ, NET_KEY_IN_PORT, NET_KEY_VNI } from '../../../src/dpu/net/net-layout.js';
import type { Region } from '../../../src/common/host-memory-api.js';
import type { RingFeatures } from '../../../src/common/virtio/features.js';
import { GuardedGuest, MIB } from '../virtio/helpers.js';

export const SPLIT: RingFeatures = { packed: false, eventIdx: false, indirect: true, inOrder: false };
const HDR = 12;

export interface RxFrame {
  hdr: Uint8Array;
  frame: Uint8Array;
  numBuffers: number;
}

export class TestNic {
  readonly rx: VirtqueueDriver[] = [];
  readonly tx: VirtqueueDriver[] = [];
  ctrl: VirtqueueDriver | null = null;
  private readonly rxBufs = new Map<string, { gpa: bigint; len: number }>();
  private readonly freeRx = new Map<number, bigint[]>();
  private pendingMrg: { hdr: Uint8Array; parts: Uint8Array[]; left: number } | null = null;

  constructor(
    readonly rig: NetRig,
    readonly port: number,
    readonly gg: GuardedGuest,
    readonly dev: NetDevice,
    readonly features: bigint,
    readonly queueSize: number,
  ) {
    const g = gg.guest;
    const pairs = dev.usablePairs;
    for (let k = 0; k < pairs; k++) {
      const rx = createDriver(g, { size: queueSize, features: SPLIT, notify: () => undefined });
      const tx = createDriver(g, { size: queueSize, features: SPLIT, notify: () => undefined });
      dev.setQueue(2 * k, { size: queueSize, descGpa: rx.descGpa, driverGpa: rx.driverGpa, deviceGpa: rx.deviceGpa });
      dev.setQueue(2 * k + 1, {
        size: queueSize,
        descGpa: tx.descGpa,
        driverGpa: tx.driverGpa,
        deviceGpa: tx.deviceGpa,
      });
      this.rx.push(rx);
      this.tx.push(tx);
    }
    if ((features & (1n << BigInt(NET_F_CTRL_VQ))) !== 0n) {
      const c = createDriver(g, { size: 16, features: SPLIT, notify: () => undefined });
      dev.setQueue(dev.ctrlIndex, { size: 16, descGpa: c.descGpa, driverGpa: c.driverGpa, deviceGpa: c.deviceGpa });
      this.ctrl = c;
    }
  }

  get guest() {
    return this.gg.guest;
  }

  /** Posts `n` writable RX buffers of `bytes` to queue pair `pair`. */
  postRx(n: number, bytes = 2048, pair = 0): void {
    const q = this.rx[pair]!;
    const free = this.freeRx.get(bytes) ?? [];
    this.freeRx.set(bytes, free);
    for (let i = 0; i < n; i++) {
      const gpa = free.pop() ?? this.guest.allocGpa(bytes, 64);
      const t = q.add([], [{ gpa, len: bytes }]);
      if (t === null) throw new Error('rx ring full');
      this.rxBufs.set(`${pair}:${t}`, { gpa, len: bytes });
    }
    q.kick();
  }

  /**
   * Sends one frame behind a virtio-net header (`hdr`, default all zero). `layout`: 'one' (header
   * and frame in one buffer), 'split' (header, then frame), 'pieces' (frame cut in 3).
   */
  send(frame: Uint8Array, opts: { hdr?: Uint8Array; layout?: 'one' | 'split' | 'pieces'; pair?: number } = {}): number {
    const hdr = opts.hdr ?? new Uint8Array(HDR);
    const q = this.tx[opts.pair ?? 0]!;
    const g = this.guest;
    const put = (b: Uint8Array): { gpa: bigint; len: number } => {
      const gpa = g.allocGpa(Math.max(1, b.length), 16);
      g.write(gpa, b);
      return { gpa, len: b.length };
    };
    const layout = opts.layout ?? 'one';
    let bufs: { gpa: bigint; len: number }[];
    if (layout === 'one') {
      const b = new Uint8Array(hdr.length + frame.length);
      b.set(hdr);
      b.set(frame, hdr.length);
      bufs = [put(b)];
    } else if (layout === 'split') bufs = [put(hdr), put(frame)];
    else {
      const a = Math.floor(frame.length / 3);
      bufs = [put(hdr), put(frame.subarray(0, a)), put(frame.subarray(a, 2 * a)), put(frame.subarray(2 * a))];
    }
    const t = q.add(bufs, []);
    if (t === null) throw new Error('tx ring full');
    q.kick();
    return t;
  }

  /** A raw TX chain (readable `out`, writable `inb`), for bad-input tests. */
  sendRaw(out: Uint8Array[], inb: number[] = [], pair = 0): number {
    const g = this.guest;
    const o = out.map((b) => {
      const gpa = g.allocGpa(Math.max(1, b.length), 16);
      g.write(gpa, b);
      return { gpa, len: b.length };
    });
    const i = inb.map((len) => ({ gpa: g.allocGpa(Math.max(1, len), 16), len }));
    const t = this.tx[pair]!.add(o, i);
    if (t === null) throw new Error('tx ring full');
    this.tx[pair]!.kick();
    return t;
  }

  txDone(pair = 0): Completion[] {
    return this.tx[pair]!.reap();
  }

  /** Received frames (MRG_RXBUF buffers joined by num_buffers). Raw completions in `raw`. */
  recv(pair = 0, raw: Completion[] = []): RxFrame[] {
    const out: RxFrame[] = [];
    for (const c of this.rx[pair]!.reap()) {
      raw.push(c);
      const b = this.rxBufs.get(`${pair}:${c.token}`);
      if (!b) continue; // a buffer the test added by hand
      this.rxBufs.delete(`${pair}:${c.token}`);
      // Buffers are reused (a guest's RX pool): read what arrived before it goes back.
      const recycle = (): void => void this.freeRx.get(b.len)?.push(b.gpa);
      if (c.len === 0) {
        recycle();
        continue;
      }
      const bytes = this.guest.read(b.gpa, c.len);
      recycle();
      if (this.pendingMrg) {
        this.pendingMrg.parts.push(bytes);
        if (--this.pendingMrg.left === 0) {
          out.push({
            hdr: this.pendingMrg.hdr,
            frame: join(this.pendingMrg.parts),
            numBuffers: this.pendingMrg.parts.length,
          });
          this.pendingMrg = null;
        }
        continue;
      }
      const hdr = bytes.slice(0, HDR);
      const nb = hdr[10]! | (hdr[11]! << 8);
      if (nb > 1) {
        this.pendingMrg = { hdr, parts: [bytes.slice(HDR)], left: nb - 1 };
        continue;
      }
      out.push({ hdr, frame: bytes.slice(HDR), numBuffers: nb });
    }
    return out;
  }

  /** Sends one control command and runs the switch; returns the ack byte (or null: used.len 0). */
  ctrlCmd(cls: number, cmd: number, data: Uint8Array): number | null {
    const c = this.ctrl;
    if (!c) throw new Error('no control queue');
    const g = this.guest;
    const cmdBuf = g.allocGpa(2 + data.length + 1, 16);
    g.write(cmdBuf, Uint8Array.from([cls, cmd, ...data]));
    const ack = g.allocGpa(1, 16);
    g.write(ack, Uint8Array.of(0xee));
    c.add([{ gpa: cmdBuf, len: 2 + data.length }], [{ gpa: ack, len: 1 }]);
    c.kick();
    this.rig.run();
    const done = c.reap();
    if (done.length !== 1) throw new Error(`control command: ${done.length} completions`);
    return done[0]!.len === 0 ? null : g.read(ack, 1)[0]!;
  }
}

function join(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class NetRig {
  readonly memory: HostMemory;
  readonly rt: LoaderRuntime;
  readonly sw: VSwitch;
  readonly nics: TestNic[] = [];
  private readonly parseArea: Region;

  constructor(opts: { memBytes?: number; switch?: Partial<VSwitchOptions> } = {}) {
    this.memory = new HostMemory({ sizeBytes: opts.memBytes ?? 128 * MIB });
    this.rt = new LoaderRuntime(this.memory);
    this.sw = new VSwitch(this.rt, { name: 'sw', maxPorts: 16, flowCapacity: 4096, ...opts.switch });
    this.parseArea = this.memory.alloc({ name: 'parse', owner: 'test', kind: 'core-scratch', sizeBytes: 65536 + 4096 });
  }

  /** A guest with a virtio-net device attached to the switch as `port`. */
  addNic(
    port: number,
    opts: {
      mac: string;
      features?: bigint;
      pairs?: number;
      queueSize?: number;
      ramBytes?: number;
      mtu?: number;
      trunk?: boolean;
    } = { mac: '02:00:00:00:00:01' },
  ): TestNic {
    const gg = new GuardedGuest(this.memory, `g${port}`, opts.ramBytes ?? 4 * MIB);
    const devOpts: ConstructorParameters<typeof NetDevice>[2] = {
      name: `nic${port}`,
      mac: opts.mac,
      queuePairs: opts.pairs ?? 1,
    };
    if (opts.mtu !== undefined) devOpts.mtu = opts.mtu;
    const dev = new NetDevice(this.rt, gg.guest, devOpts);
    // The rig's drivers are split rings with indirect descriptors, no EVENT_IDX.
    const features = (opts.features ?? dev.features()) & ~((1n << 34n) | (1n << 29n));
    dev.negotiate(features);
    const nic = new TestNic(this, port, gg, dev, features, opts.queueSize ?? 256);
    this.sw.addVnic(port, dev, opts.trunk ? { trunk: true } : {});
    this.nics.push(nic);
    return nic;
  }

  run(budget = 256): number {
    const n = this.sw.runOnce(budget);
    if (n < 0) throw new Error(`net_switch_run returned ${n}`);
    return n;
  }

  /** The flow key the switch computes for `frame` entering by `inPort` (VNI for tunnel frames). */
  keyOf(frame: Uint8Array, inPort: number, vni = 0): Uint8Array {
    const a = this.parseArea.base;
    const u8 = this.memory.u8;
    u8.set(frame, a + 4096);
    this.memory.view.setUint32(a, a + 4096, true);
    this.memory.view.setUint32(a + 4, frame.length, true);
    this.rt.kernel('flow').fn<(d: number, n: number, o: number) => number>('flow_parse')(a, 1, a + 64);
    const key = u8.slice(a + 64, a + 64 + 48);
    const v = new DataView(key.buffer);
    v.setUint16(NET_KEY_IN_PORT, inPort, true);
    if (vni) {
      key[37] = key[37]! | 1;
      v.setUint32(NET_KEY_VNI, vni, true);
    }
    return key;
  }

  /** Installs `frame`'s flow from `inPort` with `actions` and runs the switch once to apply it. */
  install(frame: Uint8Array, inPort: number, actions: Action[], cookie = 0): void {
    if (!this.sw.downcall({ op: 'install', key: this.keyOf(frame, inPort), actions: encodeActions(actions), cookie }))
      throw new Error('downcall ring full');
  }
}
