import { serialize } from 'cookie';
import { isReservedKey, META_KEY } from './auth-time.js';
import { attributeCase, MAX_COOKIE_ATTRIBUTE_BYTES } from './cookie.js';
import { CorruptSessionError, SessionDataError } from './errors.js';
import type { CookieData, SessionDelta, SessionRecord } from './types.js';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAY_HOLD_FORBIDDEN = /"(?:__proto__|constructor|prototype)"/;

export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

/**
 * JSON.parse that never lets `__proto__`, `constructor` or `prototype` keys through (B17). JSON.parse
 * makes such a key an own property, never a prototype; the walk that removes them only runs when the
 * text could hold one. Not a reviver: V8 runs one recursively, and a stack overflow here would read a
 * stored session as corrupt and destroy it.
 */
export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CorruptSessionError('invalid JSON', error);
  }
  return MAY_HOLD_FORBIDDEN.test(text) ? sanitize(value) : value;
}

/** JSON.stringify that reports values JSON cannot hold (BigInt, cycles) as a typed error (B15). */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new SessionDataError(error instanceof Error ? error.message : String(error), error);
  }
}

/**
 * The most arrays and objects session data may hold one inside another (B16). JSON.stringify has no limit
 * but the call stack, and a commit can have more of it than the load that must read the data back: data
 * nested close to V8's limit could be stored and then fail every later request of its session. Far deeper
 * than any application's data, far below the stack.
 */
export const MAX_DEPTH = 1000;

/**
 * Refuses JSON text nested deeper than MAX_DEPTH with ERR_SESSION_DATA, before it is stored; `outer` is how
 * deep the text sits (1 for a value of the data object). Text too short to nest that deep (each level takes
 * two brackets) is not read.
 */
export function checkDepth(json: string, outer = 0): void {
  if (json.length <= 2 * (MAX_DEPTH - outer)) return;
  let depth = outer;
  for (let i = 0; i < json.length; i++) {
    const code = json.charCodeAt(i);
    if (code === 0x22) {
      // A string: brackets inside it do not count. Its end is the first quote no backslash escapes.
      for (i++; i < json.length && json.charCodeAt(i) !== 0x22; i++) if (json.charCodeAt(i) === 0x5c) i++;
    } else if (code === 0x5b || code === 0x7b) {
      if (++depth > MAX_DEPTH) throw new SessionDataError(`it is nested more than ${MAX_DEPTH} levels deep`);
    } else if (code === 0x5d || code === 0x7d) depth--;
  }
}

/**
 * Removes forbidden keys, in place, from the plain objects and arrays of a parsed value or of a driver's
 * own decoding; other objects (a Date, an ObjectId, a Buffer) are left as they are. A loop over a stack
 * of its own rather than recursion, so no depth that could be stored overflows the call stack.
 */
export function sanitize<T>(value: T): T {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (item === null || typeof item !== 'object') continue;
    if (Array.isArray(item)) {
      for (const element of item) if (element !== null && typeof element === 'object') pending.push(element);
      continue;
    }
    const proto = Object.getPrototypeOf(item);
    if (proto !== Object.prototype && proto !== null) continue;
    const fields = item as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      const inner = fields[key];
      if (FORBIDDEN_KEYS.has(key)) delete fields[key];
      else if (inner !== null && typeof inner === 'object') pending.push(inner);
    }
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

/** An attribute left unset: absent, or `null` as express-session's Cookie keeps one set to null. */
function optional(value: unknown, type: string): boolean {
  return value === undefined || value === null || typeof value === type;
}

/** Case-insensitive, as in a Set-Cookie (records written before values were lower-cased hold `'Strict'`). */
function oneOf(values: Set<unknown>, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  return values.has(attributeCase(value));
}

/**
 * The cookie's attributes as a Set-Cookie can carry them. express-session stores what the application set,
 * as it set it (`cookie: { secure: process.env.COOKIE_SECURE }` is stored as `"secure": "true"`) and sends
 * each flag by its truthiness: such a flag is read the same way here, and an attribute no cookie can carry
 * (an unknown SameSite, a Path that is no string) is left unset, so the session still loads. The same
 * object when nothing needs changing.
 */
function readableAttributes(cookie: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  const set = (key: string, value: unknown) => {
    out ??= { ...cookie };
    if (value === undefined) delete out[key];
    else out[key] = value;
  };
  for (const flag of ['secure', 'httpOnly', 'partitioned']) {
    const value = cookie[flag];
    if (!optional(value, 'boolean') && !(flag === 'secure' && value === 'auto')) set(flag, Boolean(value));
  }
  if (!oneOf(SAME_SITE, cookie.sameSite)) set('sameSite', undefined);
  if (!oneOf(PRIORITY, cookie.priority)) set('priority', undefined);
  for (const text of ['path', 'domain']) if (!sendableText(text, cookie[text])) set(text, undefined);
  return out ?? cookie;
}

/**
 * A stored Path or Domain a Set-Cookie can carry as it is: unset, or a string the `cookie` package takes
 * and browsers keep (a Path starting with "/"; an empty or null Path would let the browser re-scope the
 * cookie to the request's directory). Anything else is left unset on load: sent, it would fail every
 * response of the session (B18).
 */
function sendableText(attribute: string, value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value !== 'string' || value.length > MAX_COOKIE_ATTRIBUTE_BYTES) return false;
  if (attribute === 'path') {
    if (value === '/') return true;
    if (!value.startsWith('/')) return false;
  }
  try {
    serialize('n', 'v', { [attribute]: value });
    return true;
  } catch {
    return false;
  }
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
  const { originalMaxAge, expires } = cookie;
  const lifetimeOk =
    (originalMaxAge === null || originalMaxAge === undefined || isTime(originalMaxAge)) &&
    (expires === null ||
      expires === undefined ||
      (typeof expires === 'string' && Number.isFinite(Date.parse(expires))));
  if (!lifetimeOk) throw new CorruptSessionError('`cookie` has an expiry of the wrong type');
  return {
    data,
    cookie: readableAttributes(cookie) as unknown as CookieData,
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

interface EmbeddedMeta {
  createdAt?: number;
  /**
   * When the express-session store bridge last wrote the session: express-session's layout has none, and
   * without it every read would say "seen just now", so `touchAfter` would never let an unchanged session
   * be touched there. Not written for express-session itself, whose writes are its requests' own.
   */
  lastSeenAt?: number;
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
  meta?: StoredMeta,
): SessionRecord {
  return recordOf(payloadOf(sess), now, ttlMs, meta);
}

/**
 * A session as an express-session store gave it back, read as `fromExpressSession` reads it, but one
 * without a `cookie` object is corrupt (B18): express-session itself cannot load such a record, and one
 * that another program wrote (a user ID and nothing else) must not be served as a session.
 */
export function fromStoredExpressSession(
  sess: unknown,
  now: number,
  ttlMs: number = DEFAULT_TTL_MS,
  meta?: StoredMeta,
): SessionRecord {
  const value = payloadOf(sess);
  if (!isPlainObject(value.cookie))
    throw new CorruptSessionError('express-session payload has no `cookie` object');
  return recordOf(value, now, ttlMs, meta);
}

type StoredMeta = Partial<Pick<SessionRecord, 'createdAt' | 'lastSeenAt' | 'userId'>>;

/** The stored session as a plain object, parsed and cleared of forbidden keys once. */
function payloadOf(sess: unknown): Record<string, unknown> {
  const value = typeof sess === 'string' ? parseJson(sess) : sanitize(sess);
  if (!isPlainObject(value)) throw new CorruptSessionError('express-session payload is not an object');
  return value;
}

function recordOf(
  value: Record<string, unknown>,
  now: number,
  ttlMs: number,
  meta?: StoredMeta,
): SessionRecord {
  // Beside the data, sessionkit's fields are whatever an application wrote there: an express-session
  // app sharing the store saves any key its code sets (`Object.assign(req.session, body)`), so a
  // top-level META_KEY or reserved key would bind a user or forge an authentication time. Only the
  // copy inside the cookie object, which express-session never writes, is sessionkit's.
  const { cookie, [META_KEY]: _untrusted, ...rest } = value;
  for (const key of Object.keys(rest)) if (isReservedKey(key)) delete rest[key];
  const cookieData: CookieData = isPlainObject(cookie)
    ? (JSON.parse(JSON.stringify(cookie)) as CookieData)
    : { originalMaxAge: null };
  const inCookie = (cookieData as unknown as Record<string, unknown>)[META_KEY];
  delete (cookieData as unknown as Record<string, unknown>)[META_KEY];
  const embedded = isPlainObject(inCookie) ? inCookie : {};
  // What sessionkit wrote into the record wins; the caller's values (its store's own columns) are fallbacks.
  const createdAt = isTime(embedded.createdAt) ? embedded.createdAt : meta?.createdAt;
  // A store's touch leaves the stored session as it was, so this may be older than the last touch: the
  // session is then touched again, never left untouched too long. Never later than now.
  const lastSeenAt = isTime(embedded.lastSeenAt) ? Math.min(embedded.lastSeenAt, now) : meta?.lastSeenAt;
  const userId =
    typeof embedded.userId === 'string' || embedded.userId === null ? embedded.userId : meta?.userId;
  // Some stores wrote the private `_expires` field of express-session's Cookie.
  // A browser-session cookie set with express-session's `expires = false` (or `maxAge = false`) is stored
  // with `false` for both.
  if ((cookieData.expires as unknown) === false) cookieData.expires = null;
  if ((cookieData.originalMaxAge as unknown) === false) cookieData.originalMaxAge = null;
  const rawExpires = cookieData.expires ?? (cookieData as { _expires?: string | null })._expires ?? null;
  delete (cookieData as { _expires?: unknown })._expires;
  const expiresMs = rawExpires ? Date.parse(String(rawExpires)) : Number.NaN;
  if (rawExpires) cookieData.expires = Number.isFinite(expiresMs) ? new Date(expiresMs).toISOString() : null;
  if (cookieData.originalMaxAge === undefined) cookieData.originalMaxAge = null;
  const reserved = isPlainObject(embedded.reserved) ? embedded.reserved : null;
  if (reserved !== null)
    for (const [key, stored] of Object.entries(reserved)) if (isReservedKey(key)) rest[key] = stored;
  // Unknown for a record only express-session wrote: the cookie it last saved or touched says when, its
  // `expires` being that moment plus `originalMaxAge`. A browser-session cookie says nothing, so the
  // session counts as seen `ttlMs` ago. Taken as now, a session only read would never be touched, and its
  // store's own lifetime would run out under an active user.
  const derived =
    Number.isFinite(expiresMs) && isTime(cookieData.originalMaxAge)
      ? expiresMs - cookieData.originalMaxAge
      : now - ttlMs;
  return {
    data: rest,
    cookie: cookieData,
    expiresAt: Number.isFinite(expiresMs) ? expiresMs : now + ttlMs,
    createdAt: createdAt ?? now,
    lastSeenAt: Math.min(lastSeenAt ?? derived, now),
    userId: userId ?? null,
  };
}
