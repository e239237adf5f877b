import { ErrorCode, QingtianError } from '../../common/errors.js';
import { intIn, parseArgs } from '../../common/validate.js';
import type { VsockEndpoint } from '../../common/vsock/vsock-endpoint.js';
import * as G from '../../generated/guest.js';
import { RpcClient } from '../../hypervisor/agent/protocol/rpc-client.js';
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

  /** Asks the guest to shut down; resolves with its acknowledgement (its vCPU halts right after). */
  async shutdown(): Promise<void> {
    await this.rpc.call(G.QGA_SHUTDOWN, new Uint8Array(0), 'shutdown');
  }

  close(): void {
    this.rpc.close();
  }
}
