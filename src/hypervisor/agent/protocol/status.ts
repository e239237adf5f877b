import { ErrorCode, QingtianError } from '../../../common/errors.js';
import * as F from '../../../generated/guest.js';

/** Response statuses of the agent protocols, by stable name. */
export const AgentStatus = {
  ok: F.AFS_OK,
  'bad-frame': F.AFS_BAD_FRAME,
  'unsupported-version': F.AFS_UNSUPPORTED_VERSION,
  'unknown-type': F.AFS_UNKNOWN_TYPE,
  'bad-request': F.AFS_BAD_REQUEST,
  'not-found': F.AFS_NOT_FOUND,
  'bad-state': F.AFS_BAD_STATE,
  exists: F.AFS_EXISTS,
  'no-resources': F.AFS_NO_RESOURCES,
  timeout: F.AFS_TIMEOUT,
  internal: F.AFS_INTERNAL,
} as const;
export type AgentStatusName = keyof typeof AgentStatus;

const NAMES = new Map<number, AgentStatusName>(
  (Object.entries(AgentStatus) as [AgentStatusName, number][]).map(([k, v]) => [v, k]),
);

export function statusName(status: number): AgentStatusName | 'unknown' {
  return NAMES.get(status) ?? 'unknown';
}

/**
 * A refusal an agent sends back: its status travels in the frame, its message in the body. An
 * agent's handlers throw it; the client turns it back into a QingtianError (statusError).
 */
export class AgentError extends Error {
  constructor(
    readonly status: Exclude<AgentStatusName, 'ok'>,
    message: string,
  ) {
    super(message);
  }
}

/** The QingtianError code a client throws for each status. */
const CODES: Record<Exclude<AgentStatusName, 'ok'> | 'unknown', ErrorCode> = {
  'bad-frame': ErrorCode.AgentProtocol,
  'unsupported-version': ErrorCode.AgentProtocol,
  'unknown-type': ErrorCode.AgentProtocol,
  'bad-request': ErrorCode.InvalidArgument,
  'not-found': ErrorCode.NotFound,
  'bad-state': ErrorCode.InvalidState,
  exists: ErrorCode.InvalidArgument,
  'no-resources': ErrorCode.OutOfMemory,
  timeout: ErrorCode.Timeout,
  internal: ErrorCode.AgentProtocol,
  unknown: ErrorCode.AgentProtocol,
};

/** The error a client raises for a non-ok response to `what`. */
export function statusError(status: number, what: string, message: string): QingtianError {
  const name = statusName(status);
  const code = CODES[name === 'ok' ? 'unknown' : name];
  return new QingtianError(code, `${what}: ${message || name}`, { status: name });
}
