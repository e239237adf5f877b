import { ErrorCode, QingtianError, isQingtianError } from '../../common/errors.js';

/** The JSON body of every refused request: the stable code, a message for people, the field at fault if one is. */
export interface ApiErrorBody {
  /** A {@link ErrorCode} string, e.g. `'QT_INVALID_ARGUMENT'`. */
  code: string;
  /** Names the field, the accepted range and what was received. */
  message: string;
  /** The field at fault (`body.mode`, `params.id`), when the request named one. */
  field?: string;
}

/** The HTTP status a daemon answers a QingtianError with: client faults 4xx, the host's own state 409/503. */
export function httpStatusOf(code: string): number {
  switch (code) {
    case ErrorCode.InvalidArgument:
    case ErrorCode.BadFormat:
    case ErrorCode.KernelRejected:
      return 400;
    case ErrorCode.BadSignature:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.KernelBusy:
    case ErrorCode.JobRejected:
    case ErrorCode.SwapRefused:
    case ErrorCode.SwapFailed:
    case ErrorCode.DeviceState:
    case ErrorCode.InvalidState:
    case ErrorCode.OutOfMemory:
    case ErrorCode.CapacityExceeded:
      return 409;
    case ErrorCode.CoreUnavailable:
    case ErrorCode.Disposed:
      return 503;
    case ErrorCode.Timeout:
      return 504;
    default:
      return 500;
  }
}

/**
 * Turns anything a handler threw into a status and body. Errors from the HTTP layer itself (a
 * body that is not JSON, too large, a wrong content type) carry a 4xx `statusCode` and become
 * `QT_BAD_FORMAT`; anything else that is not a QingtianError is a bug and answers 500.
 */
export function toApiError(e: unknown): { status: number; body: ApiErrorBody } {
  if (isQingtianError(e)) {
    const body: ApiErrorBody = { code: e.code, message: e.message };
    if (typeof e.details['field'] === 'string') body.field = e.details['field'];
    return { status: httpStatusOf(e.code), body };
  }
  const status = (e as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { code: ErrorCode.BadFormat, message: `request: ${(e as Error).message}` } };
  }
  return { status: 500, body: { code: 'QT_INTERNAL', message: e instanceof Error ? e.message : String(e) } };
}

/** QT_NOT_FOUND for a resource id that names nothing. */
export function notFound(what: string, id: string | number): QingtianError {
  return new QingtianError(ErrorCode.NotFound, `${what} ${JSON.stringify(id)} does not exist`, { id });
}
