import {
  type Cookie,
  type CookieOptions,
  createCookie,
  createSession,
  isCookie,
  type Session,
  type SessionData,
  type SessionStorage,
} from 'react-router';
import { cappedDeadline } from '../core/cookie.js';
import { CorruptSessionError, InvalidArgumentError, SessionError } from '../core/errors.js';
import { generateId, isWellFormedId } from '../core/id.js';
import { checkDepth, DEFAULT_TTL_MS, stringifyJson, validateRecord } from '../core/serializer.js';
import { MAX_DATE } from '../core/time.js';
import { inTurn } from '../core/turns.js';
import type { SessionRecord } from '../core/types.js';
import {
  type ExpressStoreLike,
  isStoreFailure,
  nativeStore,
  runBounded,
  type SessionStore,
} from '../engine/store-access.js';

export interface SessionkitStorageOptions {
  /** The session ID cookie: a React Router `Cookie`, or options for `createCookie` (`name` default `__session`). */
  cookie?: Cookie | (CookieOptions & { name?: string });
  /** Where sessions live: any sessionkit store, or an express-session store. Default: a MemoryStore. */
  store?: SessionStore | ExpressStoreLike;
  /** Lifetime (ms) of a session whose cookie has neither `maxAge` nor `expires`. Default one day. */
  ttl?: number;
  /** Bound on every store call (ms). Default 5000. */
  storeTimeout?: number;
}

/** What a session held when it was loaded or last committed: its ID and each top-level value as JSON. */
interface Loaded {
  id: string;
  values: Map<string, string>;
}

/**
 * A React Router (and Remix) `SessionStorage` over any sessionkit store, used exactly as
 * `createSessionStorage`'s result (`getSession`, `commitSession`, `destroySession`). Unlike it, a
 * commit writes only the keys this request changed (merged atomically by the store), so two requests
 * that change different keys both keep their change, and a commit never brings back a session that
 * another request destroyed meanwhile: its cookie is cleared instead.
 */
export function createSessionkitStorage<Data = SessionData, FlashData = Data>(
  options: SessionkitStorageOptions = {},
): SessionStorage<Data, FlashData> {
  const given = options.cookie;
  const cookie = isCookie(given)
    ? given
    : createCookie(given?.name || '__session', { path: '/', sameSite: 'lax', httpOnly: true, ...given });
  const ttl = options.ttl ?? DEFAULT_TTL_MS;
  const timeout = options.storeTimeout ?? 5_000;
  const store: SessionStore = nativeStore(options.store, ttl, timeout);
  const loaded = new WeakMap<object, Loaded>();
  /** Sessions destroyed, here or (as a commit found) by another request: a later commit only clears the cookie. */
  const ended = new WeakSet<object>();

  /**
   * Each session's commits and destroy, one after another: two commits of a new session side by side
   * would each create an ID of their own, one of them named by no cookie.
   */
  const turns = new WeakMap<object, { turn: Promise<void> | null }>();
  const sessionTurn = <T>(session: object, work: () => Promise<T>): Promise<T> => {
    let holder = turns.get(session);
    if (holder === undefined) {
      holder = { turn: null };
      turns.set(session, holder);
    }
    return inTurn(holder, 'turn', work);
  };

  const call = <T>(operation: string, run: () => Promise<T>) => runBounded(operation, timeout, run);

  async function read(id: string): Promise<SessionRecord | null> {
    let record: SessionRecord;
    try {
      // A record the store cannot give back whole (an express-session store's unparsable string, a
      // session without its cookie) is refused by the store itself or by validateRecord: no session, as
      // the other adapters answer it, rather than an error on every request the cookie makes.
      const found = await call('get', () => store.get(id));
      if (found === null || found === undefined) return null;
      record = validateRecord(found);
    } catch (error) {
      if (!(error instanceof CorruptSessionError)) throw error;
      await call('destroy', () => store.destroy(id));
      return null;
    }
    if (record.expiresAt > Date.now()) return record;
    await call('destroy', () => store.destroy(id));
    return null;
  }

  /**
   * When the record dies, as React Router's own storage computes it, or `ttl` from now for a
   * browser-session cookie; at most 400 days from now, as browsers keep the cookie no longer.
   */
  function expiry(serialize?: CookieOptions): number {
    if (serialize?.maxAge != null) return cappedDeadline(Date.now() + serialize.maxAge * 1000);
    const expires = serialize?.expires ?? cookie.expires;
    return expires ? cappedDeadline(expires.valueOf()) : Date.now() + ttl;
  }

  /** The Set-Cookie that makes the browser forget the session. */
  function cleared(serializeOptions?: CookieOptions): Promise<string> {
    return cookie.serialize('', { ...serializeOptions, maxAge: undefined, expires: new Date(0) });
  }

  /** Each top-level value as JSON; a value JSON cannot hold is a typed error (ERR_SESSION_DATA). */
  function jsonValues(data: Record<string, unknown>): Map<string, string> {
    return new Map(Object.entries(data).map(([key, value]) => [key, stringifyJson(value)]));
  }

  return {
    async getSession(cookieHeader, parseOptions) {
      if (cookieHeader != null && typeof cookieHeader !== 'string')
        throw new InvalidArgumentError('getSession', 'cookieHeader', 'a string, null or undefined');
      const id: unknown = cookieHeader ? await cookie.parse(cookieHeader, parseOptions) : null;
      const record = typeof id === 'string' && isWellFormedId(id, false) ? await read(id) : null;
      const session = createSession<Data, FlashData>(
        (record?.data ?? {}) as Data,
        record ? (id as string) : '',
      );
      if (record) loaded.set(session, { id: id as string, values: jsonValues(record.data) });
      return session;
    },

    commitSession(session, serializeOptions) {
      return sessionTurn(session, () => commitNow(session, serializeOptions));
    },

    destroySession(session, serializeOptions) {
      return sessionTurn(session, () => destroyNow(session, serializeOptions));
    },
  };

  async function commitNow(
    session: Session<Data, FlashData>,
    serializeOptions?: CookieOptions,
  ): Promise<string> {
    const data = session.data as Record<string, unknown>;
    // Made before the store call: a value JSON cannot hold is a typed error, and nothing is written.
    const values = jsonValues(data);
    // As the other adapters: data nested deeper than MAX_DEPTH would fail every later request of its session.
    for (const json of values.values()) if (json !== undefined) checkDepth(json, 1);
    const expiresAt = expiry(serializeOptions);
    if (!Number.isFinite(expiresAt) || Math.abs(expiresAt) > MAX_DATE)
      throw new SessionError(
        'ERR_INVALID_COOKIE',
        'sessionkit: the cookie has no valid expiry: maxAge must be a finite number of seconds, expires a valid Date',
      );
    // A destroyed session never comes back, not even under a new ID with its old data.
    if (ended.has(session)) return cleared(serializeOptions);
    const now = Date.now();
    const known = loaded.get(session);
    // A session this storage did not load (another storage over the same store loaded it, or the
    // application made it with `createSession(data, id)`) keeps its ID, written whole as it stands.
    const adopted = known === undefined && isWellFormedId(session.id, false) ? session.id : undefined;
    const id = known?.id ?? adopted ?? generateId();
    // Made before the store call: a cookie option React Router refuses (a fractional maxAge, a bad
    // domain) fails here, with nothing written.
    const header = await cookie.serialize(id, serializeOptions);
    const cookieData = { originalMaxAge: null, expires: new Date(expiresAt).toISOString() };
    if (known === undefined && adopted === undefined) {
      const record: SessionRecord = {
        data,
        cookie: cookieData,
        expiresAt,
        createdAt: now,
        lastSeenAt: now,
        userId: null,
      };
      let created: boolean;
      try {
        created = await call('create', () => store.create(id, record));
      } catch (error) {
        // A create that timed out or lost its connection may still land, with no cookie naming it: its
        // ID is destroyed behind it, without waiting (the store answers it after the create).
        if (isStoreFailure(error)) call('destroy', () => store.destroy(id)).catch(() => undefined);
        throw error;
      }
      if (!created)
        throw new SessionError('ERR_SESSION_EXISTS', 'sessionkit: a session with the generated ID exists');
    } else {
      const set: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(data))
        if (known?.values.get(key) !== values.get(key)) set[key] = value;
      const unset = known ? [...known.values.keys()].filter((key) => !Object.hasOwn(data, key)) : [];
      const updated = await call('update', () =>
        store.update(id, {
          set,
          unset,
          // What this storage never saw loaded it cannot diff: the whole data replaces the stored one.
          replace: known === undefined,
          cookie: cookieData,
          expiresAt,
          lastSeenAt: now,
        }),
      );
      // Destroyed by another request meanwhile: the browser forgets it rather than it coming back.
      if (!updated) {
        loaded.delete(session);
        ended.add(session);
        return cleared(serializeOptions);
      }
    }
    loaded.set(session, { id, values });
    return header;
  }

  async function destroyNow(
    session: Session<Data, FlashData>,
    serializeOptions?: CookieOptions,
  ): Promise<string> {
    const id = loaded.get(session)?.id ?? session.id;
    if (id) await call('destroy', () => store.destroy(id));
    loaded.delete(session);
    ended.add(session);
    return cleared(serializeOptions);
  }
}

export type { Session, SessionStorage };
