import { ErrorCode, isQingtianError } from '../common/errors.js';

/** What `qingtian` exits with. Scripts may rely on these; they are stable. */
export const ExitCode = {
  /** It did what was asked. */
  Ok: 0,
  /**
   * It ran to the end but found a problem in what it checked: a volume check or scrub with data
   * lost, a rebuild with stripes lost, a hot swap that lost requests.
   */
  Problem: 1,
  /**
   * Refused before or while doing it: bad arguments, a bad host file, a request the host or
   * daemon refused (stderr: `qingtian: QT_<CODE>: <field>: …`).
   */
  Refused: 2,
  /** `hotswap`: the new version was rolled back. */
  RolledBack: 3,
  /** `up`, `ps`, `down`: no daemon answers on the socket. */
  NoDaemon: 4,
  /** An internal error: a bug (stderr has the stack). */
  Internal: 70,
} as const;

/** The help text of the exit codes (`qingtian --help`). */
export const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0   done',
  '  1   done, but it found a problem (volume check/scrub/rebuild lost data; hotswap lost requests)',
  '  2   refused: bad arguments or input, or the host/daemon refused (stderr: qingtian: QT_<CODE>: …)',
  '  3   hotswap: the new version was rolled back',
  '  4   up/ps/down: no daemon answers on the socket',
  '  70  internal error (a bug)',
].join('\n');

/** The exit code of an error a command threw: a QingtianError is a refusal (or no daemon), anything else a bug. */
export function exitCodeOf(e: unknown): number {
  if (!isQingtianError(e)) return ExitCode.Internal;
  if (e.code === ErrorCode.NotFound && e.details['noDaemon'] === true) return ExitCode.NoDaemon;
  return ExitCode.Refused;
}
