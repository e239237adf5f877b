import { ErrorCode, QingtianError } from '../../common/errors.js';
import type { VsockEndpoint } from '../../common/vsock/vsock-endpoint.js';
import { GuestAgentClient } from '../agent/guest-agent-client.js';

/** A connection to a VM's guest agent; QT_TIMEOUT if the guest does not take it within `timeoutMs`. */
export async function connectGuestAgent(host: VsockEndpoint, vm: string, timeoutMs: number): Promise<GuestAgentClient> {
  const connecting = GuestAgentClient.connect(host, { timeoutMs });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new QingtianError(ErrorCode.Timeout, `vm ${vm}: the guest agent did not accept within ${timeoutMs} ms`, {
            timeoutMs,
          }),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([connecting, late]);
  } catch (e) {
    // A connection that comes after all is closed at once.
    connecting.then(
      (ga) => ga.close(),
      () => undefined,
    );
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
