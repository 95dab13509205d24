import { SessionError } from './errors.js';

/**
 * When the user last proved who they are (C32): `login()` and `reauthenticated()` record it, and
 * sensitive routes ask how long ago that was. It travels with the session data under a reserved key the
 * application never sees on `req.session` and can never write: a request body merged into the session
 * (`Object.assign(req.session, req.body)`) must not be able to claim a fresh login.
 */
export const AUTH_TIME_KEY = 'sessionkit:authTime';

/** A session whose `authTime` is missing or older than the route allows. Answered 401 by default. */
export class ReauthenticationRequiredError extends SessionError {
  /** Milliseconds since the last authentication, or `null` when the session never authenticated. */
  readonly authAge: number | null;
  readonly maxAgeMs: number;
  constructor(authAge: number | null, maxAgeMs: number) {
    super(
      'ERR_REAUTHENTICATION_REQUIRED',
      authAge === null
        ? 'sessionkit: this action needs a login'
        : `sessionkit: this action needs a login within the last ${maxAgeMs} ms`,
      { status: 401 },
    );
    this.authAge = authAge;
    this.maxAgeMs = maxAgeMs;
  }
}

/** The stored authentication time in `data`, if it is a sane one. */
export function storedAuthTime(data: Record<string, unknown>): number | null {
  const value = data[AUTH_TIME_KEY];
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

/** `data` without the reserved key: the same object when it has none, so most loads copy nothing. */
export function withoutAuthTime(data: Record<string, unknown>): Record<string, unknown> {
  if (!Object.hasOwn(data, AUTH_TIME_KEY)) return data;
  const { [AUTH_TIME_KEY]: _dropped, ...rest } = data;
  return rest;
}

/** What any adapter checks: the session authenticated within `maxAgeMs`. */
export function checkRecentAuth(
  session: { authAge(): number | null } | null | undefined,
  maxAgeMs: number,
): ReauthenticationRequiredError | null {
  const age = session ? session.authAge() : null;
  return age !== null && age <= maxAgeMs ? null : new ReauthenticationRequiredError(age, maxAgeMs);
}
