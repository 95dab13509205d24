import { isReservedKey } from './auth-time.js';
import { CorruptSessionError, SessionDataError } from './errors.js';
import type { CookieData, SessionDelta, SessionRecord } from './types.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAY_HOLD_FORBIDDEN = /"(?:__proto__|constructor|prototype)"/;

export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

function dropForbidden(this: unknown, key: string, value: unknown): unknown {
  return FORBIDDEN_KEYS.has(key) ? undefined : value;
}

/**
 * JSON.parse that never lets `__proto__`, `constructor` or `prototype` keys through (B17). The reviver
 * costs a lot, so it only runs when the text could hold one of those keys.
 */
export function parseJson(text: string): unknown {
  try {
    return MAY_HOLD_FORBIDDEN.test(text) ? JSON.parse(text, dropForbidden) : JSON.parse(text);
  } catch (error) {
    throw new CorruptSessionError('invalid JSON', error);
  }
}

/** JSON.stringify that reports values JSON cannot hold (BigInt, cycles) as a typed error (B15). */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new SessionDataError(error instanceof Error ? error.message : String(error), error);
  }
}

/** Removes forbidden keys from a value that did not come through `parseJson` (a driver's own decoding). */
export function sanitize<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = sanitize(value[i]);
    return value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) delete (value as Record<string, unknown>)[key];
    else (value as Record<string, unknown>)[key] = sanitize((value as Record<string, unknown>)[key]);
  }
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** The blob format of stores that keep a record in one value (memory, SQLite, MySQL, PostgreSQL data column). */
export function encodeRecord(record: SessionRecord): string {
  return stringifyJson({
    v: 1,
    data: record.data,
    cookie: record.cookie,
    expiresAt: record.expiresAt,
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    userId: record.userId,
  });
}

/** Decodes and validates a stored record. Anything malformed is a CorruptSessionError (B18). */
export function decodeRecord(stored: unknown): SessionRecord {
  return validateRecord(typeof stored === 'string' ? parseJson(stored) : sanitize(stored));
}

const SAME_SITE = new Set<unknown>([true, false, 'lax', 'strict', 'none', 'auto']);
const PRIORITY = new Set<unknown>(['low', 'medium', 'high']);

function optional(value: unknown, type: string): boolean {
  return value === undefined || typeof value === type;
}

/**
 * Checks the shape of a record from any store, the cookie's fields included: a wrongly typed field
 * would otherwise surface later as an Invalid Date or a serializer error on every request that carries
 * the cookie. Anything off is a CorruptSessionError, which the middleware turns into a fresh session.
 */
export function validateRecord(value: unknown): SessionRecord {
  if (!isPlainObject(value)) throw new CorruptSessionError('not an object');
  const { data, cookie, expiresAt, createdAt, lastSeenAt, userId } = value;
  if (!isPlainObject(data)) throw new CorruptSessionError('`data` is not an object');
  if (!isPlainObject(cookie)) throw new CorruptSessionError('`cookie` is not an object');
  if (!isTime(expiresAt) || !isTime(createdAt) || !isTime(lastSeenAt)) {
    throw new CorruptSessionError('timestamps missing or not numbers');
  }
  if (userId !== null && userId !== undefined && typeof userId !== 'string') {
    throw new CorruptSessionError('`userId` is not a string');
  }
  const { originalMaxAge, expires, sameSite, priority, secure } = cookie;
  const cookieOk =
    (originalMaxAge === null || originalMaxAge === undefined || isTime(originalMaxAge)) &&
    (expires === null ||
      expires === undefined ||
      (typeof expires === 'string' && Number.isFinite(Date.parse(expires)))) &&
    (sameSite === undefined || SAME_SITE.has(sameSite)) &&
    (priority === undefined || PRIORITY.has(priority)) &&
    (secure === undefined || typeof secure === 'boolean' || secure === 'auto') &&
    optional(cookie.httpOnly, 'boolean') &&
    optional(cookie.partitioned, 'boolean') &&
    optional(cookie.path, 'string') &&
    optional(cookie.domain, 'string');
  if (!cookieOk) throw new CorruptSessionError('`cookie` has a field of the wrong type');
  return {
    data,
    cookie: cookie as unknown as CookieData,
    expiresAt,
    createdAt,
    lastSeenAt,
    userId: userId ?? null,
  };
}

/** Applies a delta to stored data, returning the new data. Used by stores that merge in the application. */
export function applyDelta(data: Record<string, unknown>, delta: SessionDelta): Record<string, unknown> {
  const next: Record<string, unknown> = delta.replace ? {} : { ...data };
  for (const key of Object.keys(delta.set)) if (!FORBIDDEN_KEYS.has(key)) next[key] = delta.set[key];
  for (const key of delta.unset) delete next[key];
  return next;
}

/** The record after a delta, for stores that rewrite the whole record inside a transaction or a lock. */
export function applyDeltaToRecord(record: SessionRecord, delta: SessionDelta): SessionRecord {
  return {
    data: applyDelta(record.data, delta),
    cookie: delta.cookie ?? record.cookie,
    expiresAt: delta.expiresAt,
    createdAt: record.createdAt,
    lastSeenAt: delta.lastSeenAt,
    userId: delta.userId === undefined ? record.userId : delta.userId,
  };
}

/** express-session's stored shape: `{ cookie, ...data }`. */
export function toExpressSession(record: SessionRecord): Record<string, unknown> {
  return { ...record.data, cookie: { ...record.cookie } };
}

/**
 * Where sessionkit keeps what express-session's shape has no field for (creation time, bound user) inside
 * an express-session record: in the cookie object, never beside the data. express-session copies a stored
 * cookie's fields onto its Cookie, whose JSON (`cookie.data`) names its own fields only, so the key is never
 * session data, in sessionkit or in express-session. Records written before kept it at the top level;
 * `fromExpressSession` reads both places.
 */
export const META_KEY = '__sessionkit';

interface EmbeddedMeta {
  createdAt?: number;
  userId?: string | null;
  /** sessionkit's reserved data keys (`sessionkit:authTime`, …), which express-session must not show as data. */
  reserved?: Record<string, unknown>;
}

/** `toExpressSession` with sessionkit's own fields embedded (see META_KEY), reserved data keys included. */
export function toExpressSessionWithMeta(record: SessionRecord): Record<string, unknown> {
  const sess = toExpressSession(record);
  const meta: EmbeddedMeta = { createdAt: record.createdAt, userId: record.userId };
  for (const key of Object.keys(sess)) {
    if (!isReservedKey(key)) continue;
    meta.reserved ??= {};
    meta.reserved[key] = sess[key];
    delete sess[key];
  }
  (sess.cookie as Record<string, unknown>)[META_KEY] = meta;
  return sess;
}

/** Default lifetime of a record whose cookie has no expiry (a browser-session cookie): one day, as connect-redis. */
export const DEFAULT_TTL_MS = 86_400_000;

/**
 * Reads express-session's stored shape (`{ cookie: { originalMaxAge, expires, … }, …data }`, as written by
 * express-session and every connect-* store) into a record. Unknown creation time counts from `now`.
 */
export function fromExpressSession(
  sess: unknown,
  now: number,
  ttlMs: number = DEFAULT_TTL_MS,
  meta?: Partial<Pick<SessionRecord, 'createdAt' | 'lastSeenAt' | 'userId'>>,
): SessionRecord {
  const value = typeof sess === 'string' ? parseJson(sess) : sanitize(sess);
  if (!isPlainObject(value)) throw new CorruptSessionError('express-session payload is not an object');
  const { cookie, [META_KEY]: oldMeta, ...rest } = value;
  const cookieData: CookieData = isPlainObject(cookie)
    ? (JSON.parse(JSON.stringify(cookie)) as CookieData)
    : { originalMaxAge: null };
  const inCookie = (cookieData as unknown as Record<string, unknown>)[META_KEY];
  delete (cookieData as unknown as Record<string, unknown>)[META_KEY];
  const embedded = isPlainObject(inCookie) ? inCookie : isPlainObject(oldMeta) ? oldMeta : {};
  // What sessionkit wrote into the record wins; the caller's values (its store's own columns) are fallbacks.
  const createdAt = isTime(embedded.createdAt) ? embedded.createdAt : meta?.createdAt;
  const userId =
    typeof embedded.userId === 'string' || embedded.userId === null ? embedded.userId : meta?.userId;
  // Some stores wrote the private `_expires` field of express-session's Cookie.
  const rawExpires = cookieData.expires ?? (cookieData as { _expires?: string | null })._expires ?? null;
  delete (cookieData as { _expires?: unknown })._expires;
  const expiresMs = rawExpires ? Date.parse(String(rawExpires)) : Number.NaN;
  if (rawExpires) cookieData.expires = Number.isFinite(expiresMs) ? new Date(expiresMs).toISOString() : null;
  if (cookieData.originalMaxAge === undefined) cookieData.originalMaxAge = null;
  const reserved = isPlainObject(embedded.reserved) ? embedded.reserved : null;
  if (reserved !== null)
    for (const [key, stored] of Object.entries(reserved)) if (isReservedKey(key)) rest[key] = stored;
  return {
    data: rest,
    cookie: cookieData,
    expiresAt: Number.isFinite(expiresMs) ? expiresMs : now + ttlMs,
    createdAt: createdAt ?? now,
    lastSeenAt: meta?.lastSeenAt ?? now,
    userId: userId ?? null,
  };
}
