import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkRecentAuth, type ReauthenticationRequiredError } from '../core/auth-time.js';
import { OptionsError } from '../core/errors.js';
import type { Session } from '../core/session.js';

type Next = (err?: unknown) => void;

/** What to do with a request whose login is too old: answer it yourself (a redirect to a re-login page). */
export type OnStale<Req = IncomingMessage, Res = ServerResponse> = (
  req: Req,
  res: Res,
  next: Next,
  error: ReauthenticationRequiredError,
) => void;

/**
 * Express/Connect middleware for sensitive routes (C32): passes when the session's user authenticated
 * within `maxAgeMs` (`login()` or `reauthenticated()`); otherwise calls `onStale`, or `next(err)` with an
 * `ERR_REAUTHENTICATION_REQUIRED` error whose status is 401. Mount it after `session()`.
 */
export function requireRecentAuth<Req extends IncomingMessage = IncomingMessage, Res = ServerResponse>(
  maxAgeMs: number,
  onStale?: OnStale<Req, Res>,
): (req: Req, res: Res, next: Next) => void {
  if (typeof maxAgeMs !== 'number' || !Number.isFinite(maxAgeMs) || maxAgeMs < 0)
    throw new OptionsError('maxAgeMs', 'must be a finite number of milliseconds ≥ 0');
  if (onStale !== undefined && typeof onStale !== 'function')
    throw new OptionsError('onStale', 'must be a function');
  return (req, res, next) => {
    const error = checkRecentAuth((req as Req & { session?: Session | null }).session, maxAgeMs);
    if (error === null) next();
    else if (onStale) onStale(req, res, next, error);
    else next(error);
  };
}
