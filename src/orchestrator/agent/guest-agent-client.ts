import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { VsockEndpoint } from '../../common/vsock/vsock-endpoint.js';
import * as G from '../../generated/guest.js';
import { RpcClient } from '../../hypervisor/agent/protocol/rpc-client.js';
import { netStackCounters, type NetStackCounters } from '../../hypervisor/guest/virtio/net-guest.js';
import { z } from 'zod';

/** What a guest agent reports about its guest. */
export interface GuestInfo {
  /** Guest agent protocol version. */
  version: number;
  /** The vCPU the agent runs on. */
  vcpu: number;
  /** Nanoseconds since the agent started, by the guest's injected clock. */
  uptimeNs: bigint;
  /** Requests the agent has answered (this one included). */
  requests: bigint;
  /** Payload bytes its vsock endpoint received. */
  rxBytes: bigint;
  /** Payload bytes its vsock endpoint sent. */
  txBytes: bigint;
  /** Rounds of its poll loop. */
  polls: bigint;
}

/**
 * The counters of a guest's network stack, run by the guest's own vCPU 0 (a VM with
 * `guest.program: 'drivers'`), and of the program that runs it.
 */
export interface GuestNetCounters extends NetStackCounters {
  /** Pings sent since the last `netPing`. */
  pingsSent: number;
  /** Replies to them received. */
  pingReplies: number;
  /** Steps vCPU 0's program has run. */
  steps: number;
  /** Steps after which it slept on its interrupt word (nothing to do). */
  sleeps: number;
}

/** Where a guest's checked block job is (`blkStatus`). */
export type GuestBlkPhase = 'idle' | 'write' | 'flush' | 'read' | 'done' | 'failed';

/** A guest's checked block job: write, flush, read back, verify, on its own vCPU 0. */
export interface GuestBlkStatus {
  /** 'done': every block read back as written; 'failed': a request failed or a block differed. */
  phase: GuestBlkPhase;
  /** Runs started since boot (each writes a new version of every block). */
  run: number;
  /** Writes completed in this run. */
  writes: number;
  /** Reads completed (each checked word by word). */
  reads: number;
  /** Flushes completed. */
  flushes: number;
  /** Failed requests and blocks that read back wrong (known once the run ends). */
  errors: number;
  /** Nanoseconds the run took (so far, while it runs), by the guest's clock. */
  elapsedNs: number;
}

const BLK_PHASES: readonly GuestBlkPhase[] = ['idle', 'write', 'flush', 'read', 'done', 'failed'];

const optionsSchema = z.strictObject({
  port: intIn(0, 0xfffffffe).optional(),
  timeoutMs: intIn(1, 600_000).optional(),
});

/**
 * The control plane's handle on an agent inside a guest (like qemu-guest-agent, over the
 * guest's own vsock device): ping, info (uptime and counters), shutdown (the guest acknowledges,
 * then halts). Bodies are binary (the agent is Wasm); frames are the agent frames.
 */
export class GuestAgentClient {
  private constructor(private readonly rpc: RpcClient) {}

  static async connect(
    endpoint: VsockEndpoint,
    options: { port?: number; timeoutMs?: number } = {},
  ): Promise<GuestAgentClient> {
    const o = parseArgs(optionsSchema, options, 'GuestAgentClient options');
    const socket = await endpoint.connect(o.port ?? G.QGA_PORT);
    return new GuestAgentClient(
      new RpcClient(socket, { maxBody: G.QGA_MAX_BODY, timeoutMs: o.timeoutMs ?? 5_000, name: 'guest agent' }),
    );
  }

  async ping(): Promise<void> {
    await this.rpc.call(G.QGA_PING, new Uint8Array(0), 'ping');
  }

  async info(): Promise<GuestInfo> {
    const f = await this.rpc.call(G.QGA_INFO, new Uint8Array(0), 'info');
    if (f.body.length !== G.QGA_INFO_BYTES)
      throw new QingtianError(
        ErrorCode.AgentProtocol,
        `guest agent info: expected ${G.QGA_INFO_BYTES} bytes, got ${f.body.length}`,
      );
    const v = new DataView(f.body.buffer, f.body.byteOffset, f.body.byteLength);
    return {
      version: v.getUint32(0, true),
      vcpu: v.getUint32(4, true),
      uptimeNs: v.getBigUint64(8, true),
      requests: v.getBigUint64(16, true),
      rxBytes: v.getBigUint64(24, true),
      txBytes: v.getBigUint64(32, true),
      polls: v.getBigUint64(40, true),
    };
  }

  /**
   * The counters of the guest's own network stack (QT_NOT_FOUND: no NIC; QT_INVALID_STATE: the
   * guest runs no drivers).
   */
  async netCounters(): Promise<GuestNetCounters> {
    const f = await this.rpc.call(G.QGA_NET_STATS, new Uint8Array(0), 'net stats');
    const v = this.body(f.body, G.QGA_NET_STATS_BYTES, 'net stats');
    const n = (i: number): number => Number(v.getBigUint64(8 * i, true));
    // The body starts with a copy of the stack's counter block (12 of them), then the program's four.
    return {
      ...netStackCounters(n),
      pingsSent: n(12),
      pingReplies: n(13),
      steps: n(14),
      sleeps: n(15),
    };
  }

  /**
   * Has the guest ping `dst` (an IPv4 address in network order as a little-endian word: see
   * `vm.guestPing`) `count` times, one at a time; resolves once the guest took the request.
   */
  async netPing(dstWord: number, count: number): Promise<void> {
    const b = new DataView(new ArrayBuffer(8));
    b.setUint32(0, dstWord >>> 0, true);
    b.setUint32(4, count, true);
    await this.rpc.call(G.QGA_NET_PING, new Uint8Array(b.buffer), 'net ping');
  }

  /** Starts the guest's checked block job over blocks [base, base + count), `depth` in flight. */
  async blkCheck(base: number, count: number, depth: number): Promise<void> {
    const b = new DataView(new ArrayBuffer(12));
    b.setUint32(0, base, true);
    b.setUint32(4, count, true);
    b.setUint32(8, depth, true);
    await this.rpc.call(G.QGA_BLK_CHECK, new Uint8Array(b.buffer), 'blk check');
  }

  /** Where the guest's checked block job is. */
  async blkStatus(): Promise<GuestBlkStatus> {
    const f = await this.rpc.call(G.QGA_BLK_STATUS, new Uint8Array(0), 'blk status');
    const v = this.body(f.body, G.QGA_BLK_STATUS_BYTES, 'blk status');
    const n = (o: number): number => Number(v.getBigUint64(o, true));
    return {
      phase: BLK_PHASES[v.getUint32(0, true)] ?? 'failed',
      run: v.getUint32(4, true),
      writes: n(8),
      reads: n(16),
      flushes: n(24),
      errors: n(32),
      elapsedNs: n(40),
    };
  }

  private body(b: Uint8Array, bytes: number, what: string): DataView {
    if (b.length !== bytes)
      throw new QingtianError(ErrorCode.AgentProtocol, `guest agent ${what}: expected ${bytes} bytes, got ${b.length}`);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** Asks the guest to shut down; resolves with its acknowledgement (its vCPU halts right after). */
  async shutdown(): Promise<void> {
    await this.rpc.call(G.QGA_SHUTDOWN, new Uint8Array(0), 'shutdown');
  }

  close(): void {
    this.rpc.close();
  }
}
