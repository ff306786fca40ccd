/**
 * The one error class forkover throws, its closed set of codes, and the exit codes the
 * CLI and the launcher use. Codes and exit codes are API; messages are not.
 *
 * Must not: do I/O or import other src/ files.
 */

// Only codes that are raised. A failed start or handoff is not an error thrown to the app:
// the launcher prints it and exits 1, and `upgrade()` resolves to an UpgradeResult.
export type ForkoverErrorCode =
  | 'BAD_OPTION' // a flag or option has a value forkover cannot use
  | 'ALREADY_RUNNING' // the pidfile names a live, verified daemon
  | 'PIDFILE_LOCKED' // another start holds the pidfile lock
  | 'PIDFILE_INVALID' // the pidfile exists but holds no usable PID
  | 'PIDFILE_WRITE' // the pidfile could not be written; the old one is intact
  | 'UNSAFE_PATH' // a directory or link that another user could control
  | 'LISTEN_FAILED' // a listener could not be bound or adopted
  | 'INHERITED_INVALID' // handed-over fds or their metadata make no sense
  | 'PROTOCOL_MISMATCH' // parent and child speak hand-over protocols neither accepts of the other (protocol.ts)
  | 'NOT_READY' // a call that needs ready() came before it
  | 'IDENTITY_UNKNOWN' // /proc could not tell who a PID is
  | 'UNSUPPORTED_PLATFORM';

export interface ErrorDetails {
  pid?: number;
  path?: string;
  flag?: string;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
}

/** Every error forkover raises on purpose. Branch on `code`, not on the message. */
export class ForkoverError extends Error {
  constructor(
    readonly code: ForkoverErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
ForkoverError.prototype.name = 'ForkoverError';

export function isForkoverError(err: unknown, code?: ForkoverErrorCode): err is ForkoverError {
  return err instanceof ForkoverError && (code === undefined || err.code === code);
}

/** LSB exit codes for actions other than `status` (contracts R6.1). */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  BAD_ARGS: 2,
  UNIMPLEMENTED: 3,
  NO_PRIVILEGE: 4,
  NOT_INSTALLED: 5,
  NOT_CONFIGURED: 6,
  NOT_RUNNING: 7,
} as const;

/** LSB exit codes for `status` (contracts R6.2). */
export const STATUS_EXIT = {
  RUNNING: 0,
  DEAD_PIDFILE_EXISTS: 1,
  NOT_RUNNING: 3,
  UNKNOWN: 4,
} as const;

/** The message of any thrown value, for logs. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
