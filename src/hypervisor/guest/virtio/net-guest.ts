import { ErrorCode, QingtianError } from '../../../common/errors.js';
import type { NetBackendApi } from '../../../common/virtio/net-backend-api.js';
import { splitAvailBytes, splitUsedBytes } from '../../../common/virtio/ring-layout.js';
import { DESC_BYTES, FEAT_INDIRECT_DESC, FEAT_VERSION_1 } from '../../../generated/virtio.js';
import type { GuestSpace } from './driver-api.js';
import type { NotifyWords } from '../guest-queue.js';
import type { GuestVcpu } from '../vcpu.js';
import * as L from '../../../generated/guest.js';

/** virtio-net feature bits the guest stack asks for (virtio 1.2 §5.1.3). */
const F_CSUM = 0;
const F_MTU = 3;
const F_MAC = 5;
const F_STATUS = 16;

export interface GuestNetOptions {
  /** The guest's IPv4 address, "198.18.0.10". */
  ip: string;
  /** Ring size of each queue (a power of two). Default 256. */
  queueSize?: number;
  /** Bytes of each receive and transmit buffer (header included), 128-65536. Default 2048. */
  bufBytes?: number;
  /** Leave UDP checksums to the device (VIRTIO_NET_F_CSUM). Default true. */
  csumOffload?: boolean;
}

/** The counters a guest network stack keeps (its state's GNC_* block). */
export interface NetStackCounters {
  /** Frames received. */
  rxFrames: number;
  /** Frames sent. */
  txFrames: number;
  /** ARP requests for the guest's address it answered. */
  arpRequests: number;
  /** ARP replies it learnt from. */
  arpReplies: number;
  /** ICMP echo requests it answered. */
  echoRequests: number;
  /** ICMP echo replies it received (to its own pings). */
  echoReplies: number;
  /** UDP datagrams it echoed back. */
  udpEchoed: number;
  /** UDP datagrams its generator sent. */
  udpSent: number;
  /** Frames not sent for want of a transmit slot. */
  txFull: number;
  /** Frames not sent because the destination was not resolved yet (an ARP request went instead). */
  noArp: number;
  /** Frames not for it or not understood. */
  rxIgnored: number;
  /** Frames shorter than their headers say, or with a bad IPv4 checksum. */
  rxBad: number;
}

/** Decodes a stack's counter block; `n(i)` reads counter GNC_* `i`. */
export function netStackCounters(n: (i: number) => number): NetStackCounters {
  return {
    rxFrames: n(L.GNC_RX_FRAMES),
    txFrames: n(L.GNC_TX_FRAMES),
    arpRequests: n(L.GNC_ARP_REQUESTS),
    arpReplies: n(L.GNC_ARP_REPLIES),
    echoRequests: n(L.GNC_ECHO_REQUESTS),
    echoReplies: n(L.GNC_ECHO_REPLIES),
    udpEchoed: n(L.GNC_UDP_ECHOED),
    udpSent: n(L.GNC_UDP_SENT),
    txFull: n(L.GNC_TX_FULL),
    noArp: n(L.GNC_NO_ARP),
    rxIgnored: n(L.GNC_RX_IGNORED),
    rxBad: n(L.GNC_RX_BAD),
  };
}

export interface SinkCounters {
  received: number;
  reordered: number;
  duplicates: number;
  /** One past the highest sequence number seen. */
  next: number;
}

function ipWord(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255))
    throw new QingtianError(ErrorCode.InvalidArgument, `guest IPv4 address: expected four numbers 0-255, got '${ip}'`);
  // Network order in memory, read as a little-endian u32 by the guest code.
  return (p[0]! | (p[1]! << 8) | (p[2]! << 16) | (p[3]! << 24)) >>> 0;
}

/**
 * A guest's network stack (assembly/guest/net-stack.ts) on one of its vCPUs, over a virtio-net
 * device's first queue pair: the guest kernel's probe (rings, driver states and buffers laid
 * out in guest RAM, features negotiated, queues handed to the device), then workloads — poll
 * (answer ARP, ping, UDP echo; count the sink), ping, a UDP traffic generator.
 */
export class GuestNet {
  readonly ip: string;
  readonly queueSize: number;
  readonly bufBytes: number;
  private readonly rings: { desc: bigint; driver: bigint; device: bigint; state: bigint }[] = [];
  private readonly stateGpa: bigint;
  private readonly rxBufGpa: bigint;
  private readonly txBufGpa: bigint;
  private features = 0n;
  private ready = false;
  private pingSeq = 0;

  private constructor(
    readonly guest: GuestSpace,
    readonly vcpu: GuestVcpu,
    readonly options: GuestNetOptions,
    drvBytes: number,
    stateBytes: number,
  ) {
    this.ip = options.ip;
    ipWord(options.ip);
    this.queueSize = options.queueSize ?? 256;
    this.bufBytes = options.bufBytes ?? 2048;
    const n = this.queueSize;
    for (let q = 0; q < 2; q++) {
      this.rings.push({
        desc: guest.allocGpa(DESC_BYTES * n, 16),
        driver: guest.allocGpa(splitAvailBytes(n, true), 4),
        device: guest.allocGpa(splitUsedBytes(n, true), 4),
        state: guest.allocGpa(drvBytes, 64),
      });
    }
    this.stateGpa = guest.allocGpa(stateBytes, 64);
    this.rxBufGpa = guest.allocGpa(n * this.bufBytes, 64);
    this.txBufGpa = guest.allocGpa(n * this.bufBytes, 64);
  }

  static async create(guest: GuestSpace, vcpu: GuestVcpu, options: GuestNetOptions): Promise<GuestNet> {
    const n = options.queueSize ?? 256;
    if (!Number.isInteger(n) || n < 2 || n > 32768 || (n & (n - 1)) !== 0)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `GuestNet queueSize: expected a power of two in [2, 32768], got ${n}`,
      );
    const b = options.bufBytes ?? 2048;
    if (!Number.isInteger(b) || b < 128 || b > 65536)
      throw new QingtianError(
        ErrorCode.InvalidArgument,
        `GuestNet bufBytes: expected an integer in [128, 65536], got ${b}`,
      );
    const drvBytes = Number(await vcpu.call('gdrv_bytes', n));
    const stateBytes = Number(await vcpu.call('gnet_state_bytes'));
    return new GuestNet(guest, vcpu, options, drvBytes, stateBytes);
  }

  /** Host address of the stack's state (for stop words and counters). */
  get stateHost(): number {
    return this.guest.host(this.stateGpa);
  }

  /**
   * Probes the device: negotiates (VERSION_1, INDIRECT_DESC, MAC, MTU, STATUS, and CSUM when
   * offloading), hands it the receive and transmit rings, starts the drivers (kicks go to
   * `notify`) and the stack with every receive buffer posted.
   */
  async attach(dev: NetBackendApi, notify: NotifyWords): Promise<void> {
    const want =
      (1n << BigInt(FEAT_VERSION_1)) |
      (1n << BigInt(FEAT_INDIRECT_DESC)) |
      (1n << BigInt(F_MAC)) |
      (1n << BigInt(F_MTU)) |
      (1n << BigInt(F_STATUS)) |
      (this.options.csumOffload === false ? 0n : 1n << BigInt(F_CSUM));
    this.features = want & dev.features();
    dev.negotiate(this.features);
    const n = this.queueSize;
    for (let q = 0; q < 2; q++) {
      const r = this.rings[q]!;
      dev.setQueue(q, { size: n, descGpa: r.desc, driverGpa: r.driver, deviceGpa: r.device });
      const rc = await this.vcpu.call(
        'gdrv_init',
        this.guest.host(r.state),
        0, // split ring, direct descriptors
        n,
        this.guest.ramBase,
        this.guest.ramBytes,
        r.desc,
        r.driver,
        r.device,
        notify.doorbell,
        notify.sleeping,
        dev.queueIrq(q),
        0n,
      );
      if (rc !== 0)
        throw new QingtianError(ErrorCode.DeviceState, `guest ${this.guest.name}: net driver init refused (${rc})`);
    }
    const mac = dev.mac.split(':').map((h) => parseInt(h, 16));
    const macLo = (mac[0]! | (mac[1]! << 8) | (mac[2]! << 16) | (mac[3]! << 24)) >>> 0;
    const macHi = mac[4]! | (mac[5]! << 8);
    const csum = (this.features & (1n << BigInt(F_CSUM))) !== 0n ? L.GNF_CSUM_OFFLOAD : 0;
    const rc = await this.vcpu.call(
      'gnet_init',
      this.stateHost,
      this.guest.host(this.rings[0]!.state),
      this.guest.host(this.rings[1]!.state),
      this.guest.ramBase,
      this.rxBufGpa,
      this.txBufGpa,
      this.bufBytes,
      n,
      macLo,
      macHi,
      ipWord(this.ip),
      csum,
    );
    if (rc !== 0)
      throw new QingtianError(ErrorCode.DeviceState, `guest ${this.guest.name}: net stack init refused (${rc})`);
    this.ready = true;
  }

  /** Turns on the UDP echo server (`echoPort`) and the traffic sink (`sinkPort`); 0 turns one off. */
  async setPorts(echoPort: number, sinkPort: number): Promise<void> {
    this.assertReady();
    await this.vcpu.call('gnet_set_ports', this.stateHost, echoPort, sinkPort);
  }

  /**
   * Runs the stack for `ms` (or until the i32 at host address `stopAddr` turns non-zero):
   * answers ARP, echo requests and UDP echo; counts the sink. Returns frames handled.
   */
  async serve(ms: number, stopAddr?: number): Promise<number> {
    this.assertReady();
    const r = await this.vcpu.loop(
      'gnet_poll',
      [this.stateHost, 64],
      ms,
      stopAddr ? { addr: stopAddr, value: 1 } : undefined,
    );
    return r.completed;
  }

  /**
   * `count` pings to `dst`, one at a time; each waits for its reply up to `timeoutMs`. Returns
   * the round trips in microseconds (NaN for a ping that timed out).
   */
  async ping(dst: string, count: number, timeoutMs = 1000): Promise<number[]> {
    this.assertReady();
    const out: number[] = [];
    const replies = this.stateHost + L.GN_PING_REPLIES;
    for (let i = 0; i < count; i++) {
      const seq = ++this.pingSeq & 0xffff;
      const before = Atomics.load(new Int32Array(this.guest.sharedBuffer), replies >> 2);
      if (i === 0) await this.resolve(dst);
      const t0 = process.hrtime.bigint();
      const sentRc = Number(await this.vcpu.call('gnet_ping', this.stateHost, ipWord(dst), 0x5154, seq, 56));
      const r = await this.vcpu.loop('gnet_poll', [this.stateHost, 64], timeoutMs, {
        addr: replies,
        value: before + 1,
      });
      const got = Atomics.load(new Int32Array(this.guest.sharedBuffer), replies >> 2) - before;
      out.push(sentRc === 1 && got > 0 ? Number(process.hrtime.bigint() - t0) / 1000 : NaN);
      void r;
    }
    return out;
  }

  /**
   * Sends `count` UDP datagrams of `payload` bytes (sequence numbers 0..count-1) from port
   * `opts.srcPort` (default 40000) to `dst:dport`, as fast as the ring allows, for at most `ms`.
   * With `opts.window`, at most that many ahead of what this guest's own sink has received: for a
   * stream sent to an echo server and counted back here (set the sink port to srcPort). Returns
   * datagrams sent.
   */
  async sendUdp(
    dst: string,
    dport: number,
    count: number,
    payload: number,
    opts: { ms?: number; window?: number; srcPort?: number } = {},
  ): Promise<number> {
    this.assertReady();
    const ms = opts.ms ?? 10_000;
    await this.resolve(dst);
    await this.vcpu.call(
      'gnet_gen_setup',
      this.stateHost,
      ipWord(dst),
      dport,
      opts.srcPort ?? 40000,
      payload,
      opts.window ?? 0,
    );
    const r = await this.vcpu.loop('gnet_gen_run', [this.stateHost, 32, count], ms, {
      addr: this.stateHost + L.GN_GEN_SEQ,
      value: count,
    });
    await this.vcpu.loop('gnet_poll', [this.stateHost, 64], 5);
    return r.completed;
  }

  /** Polls the stack until its sink has received `count` datagrams in all, or `ms` pass. Returns the sink. */
  async waitSink(count: number, ms = 10_000): Promise<SinkCounters> {
    this.assertReady();
    await this.vcpu.loop('gnet_poll', [this.stateHost, 64], ms, {
      addr: this.stateHost + L.GN_SINK_RECEIVED,
      value: count | 0,
    });
    return this.sink();
  }

  /** Resolves `dst` by ARP (requests repeated every 5 ms), or throws after `timeoutMs`. */
  async resolve(dst: string, timeoutMs = 2000): Promise<void> {
    this.assertReady();
    const deadline = Date.now() + timeoutMs;
    while ((await this.vcpu.call('gnet_resolve', this.stateHost, ipWord(dst))) !== 1) {
      if (Date.now() > deadline)
        throw new QingtianError(
          ErrorCode.Timeout,
          `guest ${this.guest.name}: no ARP reply for ${dst} within ${timeoutMs} ms`,
        );
      await this.vcpu.loop('gnet_poll', [this.stateHost, 64], 5);
    }
  }

  counters(): NetStackCounters {
    const v = this.guest.ram;
    const at = Number(this.stateGpa) + L.GN_COUNTERS;
    return netStackCounters((i) => Number(v.getBigUint64(at + 8 * i, true)));
  }

  sink(): SinkCounters {
    const v = this.guest.ram;
    const at = Number(this.stateGpa);
    return {
      received: Number(v.getBigUint64(at + L.GN_SINK_RECEIVED, true)),
      reordered: Number(v.getBigUint64(at + L.GN_SINK_REORDERED, true)),
      duplicates: Number(v.getBigUint64(at + L.GN_SINK_DUPLICATES, true)),
      next: v.getUint32(at + L.GN_SINK_NEXT, true),
    };
  }

  private assertReady(): void {
    if (!this.ready)
      throw new QingtianError(ErrorCode.DeviceState, `guest ${this.guest.name}: network not attached yet`);
  }
}
