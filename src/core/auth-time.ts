import { SessionError } from './errors.js';
import { authAge, type Session } from './session.js';

/**
 * When the user last proved who they are (C32): `login()` and `reauthenticated()` record it, and
 * sensitive routes ask how long ago that was. It travels with the session data under a reserved key the
 * application never sees on `req.session` and can never write: a request body merged into the session
 * (`Object.assign(req.session, req.body)`) must not be able to claim a fresh login.
 */
export const AUTH_TIME_KEY = 'sessionkit:authTime';
/** When the session last moved to a new ID by `renewAfter` (epoch ms). */
export const RENEWED_AT_KEY = 'sessionkit:renewedAt';
/** Marks the record an ID left at renewal: for a short grace, its cookie leads to the new ID. */
export const RENEWED_KEY = 'sessionkit:renewed';

/** The record holds a session: it is there, and is not the marker a renewal left under the ID it moved from. */
export function holdsSession<T extends { data: Record<string, unknown> }>(record: T | null): record is T {
  return record !== null && record.data[RENEWED_KEY] === undefined;
}
const RESERVED_PREFIX = 'sessionkit:';
/**
 * Where sessionkit keeps what express-session's shape has no field for (creation time, bound user) inside
 * an express-session record: in the cookie object, never beside the data. express-session copies a stored
 * cookie's fields onto its Cookie, whose JSON (`cookie.data`) names its own fields only, so the key is never
 * session data, in sessionkit or in express-session. Reserved as a data key too, and never read from beside
 * the data (`fromExpressSession`): there it is whatever an application saved.
 */
export const META_KEY = '__sessionkit';

/** Keys sessionkit keeps in the stored data for itself: never on `req.session`, never written from it. */
export function isReservedKey(key: string): boolean {
  return key.startsWith(RESERVED_PREFIX) || key === META_KEY;
}

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
  return storedTime(data, AUTH_TIME_KEY);
}

/** A stored time under `key`, if it is a sane one. */
export function storedTime(data: Record<string, unknown>, key: string): number | null {
  const value = data[key];
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : null;
}

/** `data` without the reserved keys: the same object when it has none, so most loads copy nothing. */
export function withoutReserved(data: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const key of Object.keys(data)) {
    if (!isReservedKey(key)) continue;
    out ??= { ...data };
    delete out[key];
  }
  return out ?? data;
}

/** What any adapter checks: the session authenticated within `maxAgeMs`. */
export function checkRecentAuth(
  session: Session | null | undefined,
  maxAgeMs: number,
): ReauthenticationRequiredError | null {
  const age = authAge(session);
  return age !== null && age <= maxAgeMs ? null : new ReauthenticationRequiredError(age, maxAgeMs);
}
