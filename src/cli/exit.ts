import { CommanderError } from 'commander';
import { SessionError } from '../core/errors.js';
import { isConnectionError } from '../stores/store.js';

/** The CLI's exit codes. Part of its interface: scripts branch on them, so never renumber. */
export const ExitCode = {
  ok: 0,
  usage: 1,
  notFound: 2,
  unavailable: 3,
  badUrl: 4,
  notSupported: 5,
  storeError: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports as one line and an exit code, without a stack trace. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    readonly code = 'ERR_CLI',
  ) {
    super(message);
  }
}

export interface Classified {
  exitCode: ExitCode;
  code: string;
  message: string;
}

/** Maps anything a command threw to an exit code and a one-line message. */
export function classify(error: unknown): Classified {
  if (error instanceof CliError)
    return { exitCode: error.exitCode, code: error.code, message: error.message };
  if (error instanceof CommanderError) {
    return { exitCode: ExitCode.usage, code: error.code, message: error.message.replace(/^error: /, '') };
  }
  if (error instanceof SessionError) {
    return { exitCode: exitCodeOf(error.code), code: error.code, message: oneLine(error.message) };
  }
  if (isConnectionError(error)) {
    return {
      exitCode: ExitCode.unavailable,
      code: 'ERR_STORE_UNAVAILABLE',
      message: oneLine(messageOf(error)),
    };
  }
  const code = (error as { code?: unknown } | null)?.code;
  // A store URL whose driver is not installed: the URL cannot be used here, as with a bad scheme.
  if (code === 'ERR_MODULE_NOT_FOUND') {
    return { exitCode: ExitCode.badUrl, code: 'ERR_STORE_URL', message: oneLine(messageOf(error)) };
  }
  return {
    exitCode: ExitCode.storeError,
    code: typeof code === 'string' ? code : 'ERR_UNEXPECTED',
    message: oneLine(messageOf(error)),
  };
}

function exitCodeOf(code: string): ExitCode {
  switch (code) {
    case 'ERR_STORE_UNAVAILABLE':
      return ExitCode.unavailable;
    case 'ERR_STORE_URL':
    case 'ERR_INVALID_OPTION':
      return ExitCode.badUrl;
    case 'ERR_NOT_SUPPORTED':
      return ExitCode.notSupported;
    default:
      return ExitCode.storeError;
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
