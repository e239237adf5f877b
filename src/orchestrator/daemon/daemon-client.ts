import { Agent, request } from 'node:http';

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE']);

/** A kept-alive connection the daemon had closed before the request went out on it. */
class StaleSocket extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/** One answer from the daemon. */
export interface DaemonReply {
  /** The HTTP status. */
  status: number;
  /** Its media type. */
  contentType: string;
  /** The body as text. */
  text: string;
  /** The body parsed, when it is JSON; otherwise undefined. */
  json: unknown;
}

/**
 * A client of a running daemon over its Unix socket (keep-alive, so a benchmark measures the
 * daemon rather than connection setup). Used by `qingtian ps`, the tests and the daemon bench.
 */
export class DaemonClient {
  private readonly agent: Agent;

  /** @param socketPath - the daemon's Unix socket */
  constructor(
    /** The daemon's Unix socket. */
    readonly socketPath: string,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  /**
   * Sends one request; `body` is sent as JSON unless it is a string. An idempotent request
   * (GET, HEAD, PUT, DELETE) that finds its kept-alive connection closed by the daemon (idle
   * past its keep-alive timeout) is sent once more on a new connection.
   */
  async send(method: string, path: string, body?: unknown): Promise<DaemonReply> {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    try {
      return await this.once(method, path, payload);
    } catch (e) {
      if (!(e instanceof StaleSocket)) throw e;
      if (!IDEMPOTENT.has(method.toUpperCase())) throw e.cause;
      return this.once(method, path, payload);
    }
  }

  private once(method: string, path: string, payload: string | undefined): Promise<DaemonReply> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method,
          path,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const contentType = String(res.headers['content-type'] ?? '');
            let json: unknown = undefined;
            if (contentType.startsWith('application/json')) json = JSON.parse(text);
            resolve({ status: res.statusCode ?? 0, contentType, text, json });
          });
          res.on('error', reject);
        },
      );
      req.on('error', (e: NodeJS.ErrnoException) =>
        reject(req.reusedSocket && (e.code === 'ECONNRESET' || e.code === 'EPIPE') ? new StaleSocket(e) : e),
      );
      req.end(payload);
    });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}
