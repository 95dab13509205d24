import { CommanderError } from 'commander';
import { SessionError, StoreError, StoreUnavailableError } from '../core/errors.js';
import { isConnectionError } from '../stores/contract.js';

/** The CLI's exit codes. Part of its interface: scripts branch on them, so never renumber. */
export const ExitCode = {
  ok: 0,
  usage: 1,
  notFound: 2,
  unavailable: 3,
  badUrl: 4,
  notSupported: 5,
  storeError: 6,
  keys: 7,
  interrupted: 8,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * Every error code the CLI prints (`{"error":{"code"}}`, and the exit code that goes with it). Also part
 * of its interface, and documented in docs/demo-and-cli.md: whatever a driver or a library throws is
 * mapped onto one of these.
 */
export const ERROR_CODES = {
  ERR_USAGE: ExitCode.usage,
  ERR_NOT_FOUND: ExitCode.notFound,
  ERR_NO_DATABASE: ExitCode.notFound,
  ERR_STORE_UNAVAILABLE: ExitCode.unavailable,
  ERR_STORE_URL: ExitCode.badUrl,
  ERR_NOT_SUPPORTED: ExitCode.notSupported,
  ERR_STORE: ExitCode.storeError,
  ERR_KEYS: ExitCode.keys,
  ERR_INTERRUPTED: ExitCode.interrupted,
} as const satisfies Record<string, ExitCode>;
export type ErrorCode = keyof typeof ERROR_CODES;

/** A failure the CLI reports as one line and an exit code, without a stack trace. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The command already printed its result (`--json` included): only the stderr line is left. */
    readonly reported = false,
  ) {
    super(message);
    this.exitCode = ERROR_CODES[code];
  }
}

export interface Classified {
  exitCode: ExitCode;
  code: ErrorCode;
  message: string;
  reported?: boolean;
}

function as(code: ErrorCode, message: string): Classified {
  return { exitCode: ERROR_CODES[code], code, message };
}

/** Maps anything a command threw to one of ERROR_CODES and a one-line message. */
export function classify(error: unknown): Classified {
  if (error instanceof CliError)
    return { ...as(error.code, oneLine(error.message)), reported: error.reported };
  if (error instanceof CommanderError) return as('ERR_USAGE', oneLine(error.message.replace(/^error: /, '')));
  // A StoreError or StoreUnavailableError names the driver's error by class and code only (its message may
  // quote session data, or name the host and port that failed, neither of which may reach an app's logs
  // or pages); the operator at this terminal can read the store anyway.
  if ((error instanceof StoreError || error instanceof StoreUnavailableError) && error.cause !== undefined)
    return as(codeOf(error.code), oneLine(`${error.message}: ${messageOf(error.cause)}`));
  if (error instanceof SessionError) return as(codeOf(error.code), oneLine(error.message));
  if (isConnectionError(error)) return as('ERR_STORE_UNAVAILABLE', oneLine(messageOf(error)));
  const code = (error as { code?: unknown } | null)?.code;
  // A driver that fails to load: the URL cannot be used here, as with a bad scheme.
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
    return as('ERR_STORE_URL', oneLine(messageOf(error)));
  // A malformed argument reaches here only as an ERR_INVALID_* SessionError (above). A bare TypeError or
  // RangeError is no usage error: a reply the driver did not expect, or a limit of the runtime (a string or
  // a stack too big), and exit 1 would send the operator to --help for a command line that was right.
  return as('ERR_STORE', oneLine(messageOf(error)));
}

/**
 * A failure after the command printed part of its result (a listing written page by page): what was
 * printed stays, cut short, and the error goes to stderr only, never appended to a JSON document it would
 * not fit in.
 */
export function failedAfterOutput(error: unknown): CliError {
  const { code, message } = classify(error);
  return new CliError(code, message, true);
}

function codeOf(code: string): ErrorCode {
  switch (code) {
    case 'ERR_STORE_UNAVAILABLE':
      return 'ERR_STORE_UNAVAILABLE';
    case 'ERR_STORE_URL':
    case 'ERR_INVALID_OPTION': // the CLI's store options come from the URL
      return 'ERR_STORE_URL';
    case 'ERR_NOT_SUPPORTED':
      return 'ERR_NOT_SUPPORTED';
    default:
      // Node's convention, which sessionkit follows: ERR_INVALID_* is a bad argument, here one from the
      // command line (a user ID the store cannot hold, say).
      return code.startsWith('ERR_INVALID_') ? 'ERR_USAGE' : 'ERR_STORE';
  }
}

function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return messageOf(error.errors[0]);
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** Our errors start with "sessionkit: "; the CLI prints its own prefix, and never a multi-line driver dump. */
function oneLine(message: string): string {
  const line = message.replace(/^sessionkit: /, '').split('\n')[0] ?? '';
  return line.trim() || 'unknown error';
}
