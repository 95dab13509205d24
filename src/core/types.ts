/**
 * The data an application keeps in a session. Augment it once to type `req.session` everywhere:
 *
 *   declare module 'sessionkit' { interface SessionData { views: number; user: { id: string } } }
 *
 * or pass your own type to `session<MyData>()` and annotate handlers with `SessionRequest<MyData>`.
 * As express-session's, it has the session's `cookie` beside the data (what `req.session.cookie` is).
 */
export interface SessionData {
  // A type-only import, which no module loads: cookie.ts imports this module's types.
  cookie: import('./cookie.js').Cookie;
}

/**
 * A session as express-session's store methods hand it over (`store.get(sid, cb)`, `store.all(cb)`): the
 * data's keys, and the cookie as stored (`expires` an ISO string, or `null` for a browser-session cookie).
 */
export interface StoredSession {
  cookie: CookieData;
  [key: string]: unknown;
}

export type SameSite = boolean | 'lax' | 'strict' | 'none';
export type CookiePriority = 'low' | 'medium' | 'high';

/** The cookie as express-session stores it beside the data (`{ cookie: {...}, ...data }`). */
export interface CookieData {
  originalMaxAge: number | null;
  expires?: string | null;
  secure?: boolean | 'auto';
  httpOnly?: boolean;
  path?: string;
  domain?: string;
  sameSite?: SameSite | 'auto';
  partitioned?: boolean;
  priority?: CookiePriority;
}

/** One stored session, as every sessionkit store reads and writes it. Times are epoch milliseconds. */
export interface SessionRecord {
  /** The application's top-level keys; never holds `cookie`. */
  data: Record<string, unknown>;
  cookie: CookieData;
  /** The record is dead at and after this instant, whether or not the store has removed it yet. */
  expiresAt: number;
  createdAt: number;
  lastSeenAt: number;
  userId: string | null;
}

/**
 * What one request changed. Stores merge it atomically with what they hold, so two requests that change
 * different keys both keep their change. `update` with a delta never creates a record.
 */
export interface SessionDelta {
  /** Top-level keys to write. With `replace`, the whole data: keys missing here are dropped. */
  set: Record<string, unknown>;
  /** Top-level keys to delete. */
  unset: string[];
  /** express-session's `resave: true`: whole-object semantics. */
  replace?: boolean;
  cookie?: CookieData;
  expiresAt: number;
  lastSeenAt: number;
  /** `undefined` leaves the bound user as it is; `null` unbinds. */
  userId?: string | null;
  /**
   * The most bytes the data may take as JSON once merged (`maxSessionBytes`). The store checks it inside
   * its atomic merge, so concurrent writes cannot add up past it, and refuses a write that would cross it
   * with SessionTooLargeError, changing nothing.
   */
  maxBytes?: number;
}

/** What `maxSessionsPerUser` does at a login that would go over it. */
export type OnLimit = 'evict-oldest' | 'refuse';

/** The per-user session limit a login asks the store to apply (C31); see `SessionStore.createWithinLimit`. */
export interface UserLimit {
  /** The most live sessions the user may have once the new one is in. */
  max: number;
  onLimit: OnLimit;
  /**
   * The session this login replaces (the one the request came with), by ID: not counted, since the
   * login ends it, so signing in again from a session never counts that session twice.
   */
  replaces?: string;
}

/**
 * What `createWithinLimit` did: `created` (with the handles of the sessions it evicted to make room),
 * `exists` (a live record with this ID is there; nothing changed) or `refused` (the user is at the limit
 * under `onLimit: 'refuse'`; nothing changed).
 */
export type LimitOutcome =
  | { result: 'created'; evicted: string[] }
  | { result: 'exists' | 'refused'; evicted: [] };

/** A session as listings show it. `handle` is the store key (SHA-256 of the ID), never the ID itself. */
export interface SessionSummary {
  handle: string;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  data: Record<string, unknown>;
}

export interface ListOptions {
  /** Opaque cursor from the previous page; omit for the first page. */
  cursor?: string | null;
  /** The page's size at most: a positive integer (anything else is `ERR_INVALID_ARGUMENT`). */
  limit?: number;
}

export interface ListPage {
  sessions: SessionSummary[];
  /** `null` on the last page. */
  cursor: string | null;
}

export type Callback<T = void> = (err: Error | null | undefined, value?: T) => void;
