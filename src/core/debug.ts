import { debuglog } from 'node:util';
import { OptionsError } from './errors.js';
import { storageKey } from './id.js';

/**
 * An application's logger (pino, winston, bunyan, console, …): sessionkit calls each method with one string
 * (or, for `error`, the error itself). `warn` replaces `process.emitWarning`; `error` hears failures the
 * middleware absorbed when nothing listens on the `error` event; `debug` receives the NODE_DEBUG trace.
 */
export interface SessionLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn(message: string): void;
  error?(error: unknown): void;
}

/** Checks the `logger` option at `session()` time. */
export function resolveLogger(logger: unknown): SessionLogger | null {
  if (logger === undefined || logger === null) return null;
  const candidate = logger as Record<string, unknown>;
  if (typeof logger !== 'object' && typeof logger !== 'function')
    throw new OptionsError('logger', 'must be an object with a warn() method (pino, console, …)');
  if (typeof candidate.warn !== 'function') throw new OptionsError('logger', 'must have a warn() method');
  for (const method of ['debug', 'info', 'error'] as const) {
    if (candidate[method] !== undefined && typeof candidate[method] !== 'function')
      throw new OptionsError('logger', `has a ${method} that is not a function`);
  }
  return logger as SessionLogger;
}

const log = debuglog('sessionkit');
/**
 * NODE_DEBUG is read once, when this module loads: a disabled trace costs the hot path one test of a
 * field that is `null`, and no argument is evaluated.
 */
export const DEBUG_ENABLED = log.enabled;

/** Why a request wrote what it wrote: the manager's own words for its decision. */
export type WriteDecision = 'create' | 'update' | 'touch' | 'none';

/**
 * The per-request decision trace of `NODE_DEBUG=sessionkit`: what was loaded, written and sent, and why.
 * Sessions are named by handle (SHA-256 of the ID), never by ID; paths without their query; no data values.
 */
export class RequestTrace {
  private readonly line: (message: string) => void;

  constructor(logger: SessionLogger | null) {
    const sink = logger?.debug;
    this.line =
      sink !== undefined && logger !== null
        ? (message) => sink.call(logger, `sessionkit ${message}`)
        : (message) => log('%s', message);
  }

  /** The request passed by without session work (the `skip` option, or a session already attached). */
  skipped(url: string | undefined, why: string): void {
    this.line(`${pathOf(url)} skipped: ${why}`);
  }

  /** The session the request got: `loaded` from the store, or `fresh` with the reason. */
  opened(url: string | undefined, id: string, how: 'loaded' | 'fresh', why: string): void {
    this.line(`${pathOf(url)} ${how} ${short(id)}: ${why}`);
  }

  /** A loaded session's bound User-Agent or IP changed (the `binding` option), and what was done. */
  binding(id: string, changed: readonly string[], action: 'report' | 'end'): void {
    const done = action === 'end' ? 'session ended' : 'session kept, bound to the new values';
    this.line(`${short(id)} binding changed (${changed.join(', ')}): ${done}`);
  }

  /** The write decision, before the store call. */
  write(id: string, decision: WriteDecision, why: string): void {
    this.line(`${short(id)} write ${decision}: ${why}`);
  }

  /** Whether the response carries the session cookie. */
  cookie(id: string, what: 'sent' | 'not sent' | 'cleared', why: string): void {
    this.line(`${short(id)} cookie ${what}: ${why}`);
  }
}

/** The trace a manager uses: `null` (nothing to do) unless NODE_DEBUG names sessionkit. */
export function requestTrace(logger: SessionLogger | null): RequestTrace | null {
  return DEBUG_ENABLED ? new RequestTrace(logger) : null;
}

/** The handle: what the CLI's `show` and `revoke` take. */
function short(id: string): string {
  return storageKey(id);
}

/** The path only: a query string may carry tokens of the application's. */
function pathOf(url: string | undefined): string {
  if (url === undefined) return '?';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The reason for an update, in the order the manager checks them. */
export function updateReason(
  resave: boolean,
  force: boolean,
  changed: { set: Record<string, unknown>; unset: string[] } | null,
  cookieChanged: boolean,
  userChanged: boolean,
  rebound = false,
): string {
  const reasons: string[] = [];
  if (resave) reasons.push('resave: true (whole object)');
  if (force) reasons.push('save() called');
  if (changed !== null) {
    const keys = [...Object.keys(changed.set), ...changed.unset.map((key) => `-${key}`)];
    if (keys.length > 0) reasons.push(`changed keys ${keys.join(', ')}`);
  }
  if (cookieChanged) reasons.push('cookie attributes changed');
  if (userChanged) reasons.push('user changed');
  if (rebound) reasons.push('binding fingerprint recorded');
  return reasons.join('; ') || 'unchanged';
}
