import { META_KEY } from '../../core/auth-time.js';
import { CorruptSessionError, describe, NotSupportedError, StoreTimeoutError } from '../../core/errors.js';
import { storageKey } from '../../core/id.js';
import {
  applyDeltaToRecord,
  DEFAULT_TTL_MS,
  fromExpressSession,
  fromStoredExpressSession,
  parseJson,
  toExpressSessionWithMeta,
} from '../../core/serializer.js';
import type {
  CookieData,
  CookiePriority,
  ListOptions,
  ListPage,
  SameSite,
  SessionDelta,
  SessionRecord,
  SessionSummary,
} from '../../core/types.js';
import {
  checkDataBytes,
  checkDelta,
  checkId,
  checkListOptions,
  checkRecord,
  DEFAULT_STORE_TIMEOUT_MS,
  type SessionStore,
} from '../contract.js';
import type { ExpressStoreLike } from './store.js';

function call<T>(fn: (callback: (err: unknown, value?: T) => void) => unknown): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const returned = fn((err, value) => (err ? reject(err) : resolve(value)));
    // A method that returns a promise may fail through it rather than its callback. Its value is not
    // taken: an async method may settle before the callback it hands its answer to.
    if (typeof (returned as PromiseLike<T> | null)?.then === 'function')
      (returned as PromiseLike<T>).then(undefined, reject);
  });
}

/**
 * `sess.cookie` as express-session hands it to a store (its session/cookie.js): the Cookie's own fields,
 * the `expires` and `maxAge` accessors stores derive their TTL from (connect-redis 3 and stores of its
 * time read `maxAge`, later ones `expires`) and some assign (a default expiry for a browser-session
 * cookie, a stored date turned back into a Date), and its JSON shape. That JSON also carries sessionkit's
 * embedded fields (META_KEY), so a stored record keeps its creation time, user and reserved keys.
 */
class StoreCookie {
  declare path?: string;
  _expires: Date | null | undefined;
  originalMaxAge: number | null;
  declare httpOnly?: boolean;
  declare secure?: boolean | 'auto';
  declare domain?: string;
  declare sameSite?: SameSite | 'auto';
  declare priority?: CookiePriority;
  declare partitioned?: boolean;
  declare [META_KEY]?: unknown;

  /** `expires`: the cookie's own expiry, `null` for a browser-session cookie. */
  constructor(cookie: CookieData & { [META_KEY]?: unknown }, expires: Date | null) {
    if (cookie.path !== undefined) this.path = cookie.path;
    this._expires = expires;
    this.originalMaxAge = cookie.originalMaxAge ?? null;
    if (cookie.httpOnly !== undefined) this.httpOnly = cookie.httpOnly;
    if (cookie.secure !== undefined) this.secure = cookie.secure;
    if (cookie.domain !== undefined) this.domain = cookie.domain;
    if (cookie.sameSite !== undefined) this.sameSite = cookie.sameSite;
    if (cookie.priority !== undefined) this.priority = cookie.priority;
    if (cookie.partitioned !== undefined) this.partitioned = cookie.partitioned;
    if (cookie[META_KEY] !== undefined) this[META_KEY] = cookie[META_KEY];
  }

  get expires(): Date | null | undefined {
    return this._expires;
  }

  /** As express-session's Cookie: the lifetime the cookie started with becomes what is left of it now. */
  set expires(date: Date | null | undefined) {
    this._expires = date;
    this.originalMaxAge = this.maxAge;
  }

  /** Milliseconds left, `null` for a browser-session cookie. */
  get maxAge(): number | null {
    return this._expires instanceof Date ? this._expires.valueOf() - Date.now() : (this._expires ?? null);
  }

  /** As express-session's Cookie: a number of milliseconds from now, or a Date, or `null`. */
  set maxAge(ms: number | Date | null) {
    if (ms && typeof ms !== 'number' && !(ms instanceof Date))
      throw new TypeError('maxAge must be a number or Date');
    this.expires = typeof ms === 'number' ? new Date(Date.now() + ms) : ms;
  }

  toJSON(): Record<string, unknown> {
    return {
      originalMaxAge: this.originalMaxAge,
      partitioned: this.partitioned,
      priority: this.priority,
      expires: this._expires,
      secure: this.secure,
      httpOnly: this.httpOnly,
      domain: this.domain,
      path: this.path,
      sameSite: this.sameSite,
      [META_KEY]: this[META_KEY],
    };
  }
}

/** How long a process remembers a destroyed ID, per express-session store. */
export const TOMBSTONE_MS = 10 * 60_000;
/** How many destroyed IDs a process remembers at most, per express-session store (the oldest go first). */
export const TOMBSTONE_MAX = 10_000;

/** The writes of one session ID in this process: they run one at a time, in the order they were asked. */
interface Lane {
  /** Settles when the last write queued so far has settled. */
  tail: Promise<unknown>;
  /**
   * When the last write queued so far stops issuing store calls (see `checkInTime`): past it, that write
   * is done or stuck in a call it issued, and the next one stops waiting for it.
   */
  tailDeadline: number;
  /** Writes queued or running. */
  queued: number;
  /** A destroy of this ID was asked for while writes were queued or running. */
  destroyed: boolean;
}

/** A recently destroyed ID. */
interface Tombstone {
  /** Until when it is remembered. */
  until: number;
  /** The store failed its last destroy: the record may still be there, for other servers to serve. */
  failed: boolean;
}

/**
 * What every bridge over one express-session store shares in this process (two `session()` middlewares
 * may serve one store): the write lanes and the recently destroyed IDs.
 */
class SharedState {
  readonly lanes = new Map<string, Lane>();
  /** Destroyed ID → its tombstone; insertion order is age order. */
  private readonly tombstones = new Map<string, Tombstone>();

  remember(id: string, now: number): void {
    this.tombstones.delete(id);
    this.tombstones.set(id, { until: now + TOMBSTONE_MS, failed: false });
    for (const [oldest, { until }] of this.tombstones) {
      if (until > now && this.tombstones.size <= TOMBSTONE_MAX) break;
      this.tombstones.delete(oldest);
    }
  }

  wasDestroyed(id: string): boolean {
    return this.live(id) !== undefined;
  }

  /** Whether the store failed the last destroy of `id`, a destroyed ID still remembered. */
  destroyFailed(id: string): boolean {
    return this.live(id)?.failed === true;
  }

  /** Records how the store answered a destroy of `id`. */
  destroyAnswered(id: string, failed: boolean): void {
    if (!failed) {
      const tombstone = this.tombstones.get(id);
      if (tombstone) tombstone.failed = false;
      return;
    }
    const now = Date.now();
    if (this.live(id) === undefined) this.remember(id, now);
    (this.tombstones.get(id) as Tombstone).failed = true;
  }

  private live(id: string): Tombstone | undefined {
    const tombstone = this.tombstones.get(id);
    if (tombstone === undefined) return undefined;
    if (tombstone.until > Date.now()) return tombstone;
    this.tombstones.delete(id);
    return undefined;
  }
}

const shared = new WeakMap<ExpressStoreLike, SharedState>();

function sharedStateOf(inner: ExpressStoreLike): SharedState {
  let state = shared.get(inner);
  if (!state) {
    state = new SharedState();
    shared.set(inner, state);
  }
  return state;
}

/**
 * Serves an express-session store (connect-redis, connect-mongo, express-mysql-session, …) through the
 * promise contract. Such stores only offer whole-object `get` and `set`, so `update` reads, merges and
 * writes the whole record back; nothing makes that atomic at the store. Within this process the bridge
 * makes up for it: writes to one session ID run one at a time, a destroyed ID is remembered (for
 * `TOMBSTONE_MS`, at most `TOMBSTONE_MAX` of them) and never written again, and a write that a destroy
 * overtook (it waited too long for the write) is followed by a second destroy. Across processes it can be
 * no stronger than the store: a request on another server that read a session before it was destroyed can
 * still write it back, and concurrent requests on different servers can lose one another's keys. Use a
 * sessionkit store (with `legacy` to read the old layout) for guarantees that hold across processes.
 * The store's methods are looked up on every call, so an application may wrap them after `session()`.
 *
 * A write is a chain of store calls (a read, then a `set`). Each write has `timeout` from its start, the
 * bound the middleware puts on it (`storeTimeout`): once that has passed, its caller was told the write
 * failed, so it issues no further store call, and the writes queued behind it stop waiting for it.
 */
export class ExpressStoreBridge implements SessionStore {
  readonly inner: ExpressStoreLike;
  readonly ttl: number;
  /** How long one operation may take (ms), its wait for the writes queued before it included. */
  readonly timeout: number;
  /**
   * Whether a create may meet an ID already in use, and so reads before it writes: true unless every ID
   * comes from sessionkit's own generator (256 random bits, which never repeat), where the read would
   * cost each new session a store round trip for nothing.
   */
  readonly idsMayRepeat: boolean;
  private readonly state: SharedState;

  constructor(
    inner: ExpressStoreLike,
    ttl = DEFAULT_TTL_MS,
    timeout = DEFAULT_STORE_TIMEOUT_MS,
    idsMayRepeat = true,
  ) {
    this.inner = inner;
    this.ttl = ttl;
    this.timeout = timeout;
    this.idsMayRepeat = idsMayRepeat;
    this.state = sharedStateOf(inner);
  }

  async get(id: string): Promise<SessionRecord | null> {
    checkId('get', id);
    // Destroyed here, maybe not yet at the store: it is gone for this process already. When the store
    // failed that destroy, the record may still be there for other servers: it is sent again first, as a
    // retried logout expects (a failure fails this read, as it failed the logout).
    if (this.state.wasDestroyed(id)) {
      if (this.state.destroyFailed(id)) await this.destroy(id);
      return null;
    }
    return this.read(id, 'get', this.deadline());
  }

  async create(id: string, record: SessionRecord): Promise<boolean> {
    checkId('create', id);
    checkRecord(this, 'create', record);
    const deadline = this.deadline();
    // express-session stores have no insert-only write, and a `genid` of the application's may repeat an
    // ID: a live session there is refused (the middleware's ERR_SESSION_EXISTS), as sessionkit's stores
    // refuse it, rather than overwritten and handed to another user. The lane makes the read and the write
    // one step within this process only: a create on another server can still come between them.
    return this.inLane(id, deadline, async (lane) => {
      if (this.destroyed(id, lane)) return false;
      if (this.idsMayRepeat && (await this.taken(id, deadline))) return false;
      // A destroy asked for while this was reading wins, as in `update`.
      if (this.destroyed(id, lane)) return false;
      await this.write('create', id, record, deadline);
      await this.undoIfOvertaken(id, lane);
      return true;
    });
  }

  async update(id: string, delta: SessionDelta): Promise<boolean> {
    checkId('update', id);
    checkDelta(this, 'update', delta);
    const deadline = this.deadline();
    return this.inLane(id, deadline, async (lane) => {
      if (this.destroyed(id, lane)) return false;
      const current = await this.read(id, 'update', deadline);
      // A destroy asked for while this was reading wins: nothing is written back.
      if (!current || this.destroyed(id, lane)) return false;
      const next = applyDeltaToRecord(current, delta);
      if (delta.maxBytes !== undefined) checkDataBytes(next.data, delta.maxBytes);
      await this.write('update', id, next, deadline);
      await this.undoIfOvertaken(id, lane);
      return true;
    });
  }

  /** Whole-object upsert; an ID this process destroyed recently is not written again. */
  async set(id: string, record: SessionRecord): Promise<void> {
    checkId('set', id);
    checkRecord(this, 'set', record);
    const deadline = this.deadline();
    await this.inLane(id, deadline, async (lane) => {
      if (this.destroyed(id, lane)) return;
      await this.write('set', id, record, deadline);
      await this.undoIfOvertaken(id, lane);
    });
  }

  async destroy(id: string): Promise<void> {
    checkId('destroy', id);
    // Marked at once, before waiting for the writes ahead of it: a write that has not written yet sees
    // the mark and writes nothing.
    this.state.remember(id, Date.now());
    const lane = this.state.lanes.get(id);
    if (lane) lane.destroyed = true;
    // A destroy is sent whenever its turn comes, however late: it is what its caller asked for.
    const done = this.inLane(id, this.deadline(), () => this.destroyInner(id));
    // Writes queued behind this destroy see it even once the ID has left the tombstones, or the store
    // failed the destroy.
    (this.state.lanes.get(id) as Lane).destroyed = true;
    await done;
  }

  async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    checkId('touch', id);
    const touch = this.inner.touch;
    if (typeof touch !== 'function') {
      // Without touch, extending means rewriting the whole record.
      return this.update(id, { set: {}, unset: [], expiresAt, lastSeenAt });
    }
    const deadline = this.deadline();
    return this.inLane(id, deadline, async (lane) => {
      if (this.destroyed(id, lane)) return false;
      // express-session touches with the whole session, and stores derive the TTL from it (connect-redis's
      // `ttl` may be a function of the data); the contract gives no data, so it is read first.
      const stored = await this.readAsStored(id, 'touch', deadline);
      if (!stored || this.destroyed(id, lane)) return false;
      const sess = this.sessionOf({ ...stored.record, expiresAt, lastSeenAt });
      // Values of the store's own that are no JSON (connect-mongo's `lastModified` Date, which its touch
      // reads with getTime()) go back as the store gave them, as express-session hands back what it loaded.
      if (typeof stored.raw === 'object' && stored.raw !== null)
        for (const [key, value] of Object.entries(stored.raw as Record<string, unknown>))
          if (value instanceof Date && key !== 'cookie') sess[key] = value;
      this.checkInTime('touch', deadline);
      await call((cb) => touch.call(this.inner, id, sess, cb));
      await this.undoIfOvertaken(id, lane);
      return true;
    });
  }
  async length(): Promise<number> {
    const length = this.inner.length;
    if (typeof length !== 'function') throw new NotSupportedError('length');
    return (await call<number>((cb) => length.call(this.inner, cb))) ?? 0;
  }

  async clear(): Promise<void> {
    const clear = this.inner.clear;
    if (typeof clear !== 'function') throw new NotSupportedError('clear');
    await call((cb) => clear.call(this.inner, cb));
  }

  /**
   * Pages through the store's `all()`. Sessions are listed by handle (SHA-256 of the ID), never by ID; a
   * store that returns sessions without their IDs (an array with no `id`) gives them an empty handle.
   */
  async list(options: ListOptions = {}): Promise<ListPage> {
    checkListOptions('list', options);
    const all = this.inner.all;
    if (typeof all !== 'function') throw new NotSupportedError('list');
    const found = (await call<unknown>((cb) => all.call(this.inner, cb))) ?? {};
    const entries: [string | null, unknown][] = Array.isArray(found)
      ? found.map((sess) => {
          // connect-redis puts the raw ID into each session it lists: it must not reach `data`.
          const { id, ...rest } = (sess ?? {}) as { id?: unknown };
          return [typeof id === 'string' ? id : null, rest];
        })
      : Object.entries(found as Record<string, unknown>);
    const now = Date.now();
    const sessions: SessionSummary[] = [];
    for (const [id, sess] of entries) {
      if (id !== null && this.state.wasDestroyed(id)) continue;
      const record = fromExpressSession(JSON.parse(JSON.stringify(sess ?? {})), now, this.ttl);
      sessions.push({
        handle: id === null ? '' : storageKey(id),
        userId: record.userId,
        createdAt: record.createdAt,
        lastSeenAt: record.lastSeenAt,
        expiresAt: record.expiresAt,
        data: record.data,
      });
    }
    const start = options.cursor ? Number(options.cursor) : 0;
    const limit = options.limit ?? 100;
    return {
      sessions: sessions.slice(start, start + limit),
      cursor: start + limit < sessions.length ? String(start + limit) : null,
    };
  }

  // ---- internals ----

  private deadline(): number {
    return Date.now() + this.timeout;
  }

  /**
   * Refuses to issue a store call of `operation` once its `deadline` has passed: its caller has been told
   * it failed (ERR_STORE_UNAVAILABLE), and a user who retries would have the change twice.
   */
  private checkInTime(operation: string, deadline: number): void {
    if (Date.now() >= deadline) throw new StoreTimeoutError(operation, this.timeout);
  }

  /**
   * Whether a live session holds `id`. A record that cannot be read counts as none, as the middleware
   * treats it when loading (a fresh session, B18): its data is lost either way.
   */
  private async taken(id: string, deadline: number): Promise<boolean> {
    try {
      return (await this.read(id, 'create', deadline)) !== null;
    } catch (error) {
      if (error instanceof CorruptSessionError) return false;
      throw error;
    }
  }

  private async read(id: string, operation: string, deadline: number): Promise<SessionRecord | null> {
    return (await this.readAsStored(id, operation, deadline))?.record ?? null;
  }

  /**
   * The record, and the session as the store gave it (`raw`), whose own values a touch hands back. A
   * session that cannot be read (a string that is no JSON, a value JSON cannot hold, no `cookie` object)
   * is a CorruptSessionError: the middleware answers a fresh session and reports it (B18).
   */
  private async readAsStored(
    id: string,
    operation: string,
    deadline: number,
  ): Promise<{ record: SessionRecord; raw: unknown } | null> {
    this.checkInTime(operation, deadline);
    const sess = await call<unknown>((cb) => this.inner.get(id, cb));
    if (!sess) return null;
    let raw: unknown;
    let record: SessionRecord | null;
    try {
      raw = typeof sess === 'string' ? parseJson(sess) : sess;
      record = this.recordOf(raw);
    } catch (error) {
      throw error instanceof CorruptSessionError ? error : new CorruptSessionError(describe(error), error);
    }
    return record ? { record, raw } : null;
  }

  private recordOf(raw: unknown): SessionRecord | null {
    const now = Date.now();
    const record = fromStoredExpressSession(JSON.parse(JSON.stringify(raw)), now, this.ttl);
    if (record.expiresAt > now) return record;
    // The stored expiry has passed, yet the store still answers. A store's `touch` moves its own deadline
    // and leaves the stored session as it was (connect-redis runs EXPIRE, the SQL stores update their
    // expiry column), so a session kept alive by touches reads as expired; express-session loads what the
    // store returns, and so does the bridge. Without `touch`, the bridge extends a session by rewriting it,
    // so the stored expiry is the store's own and a passed one means expired.
    if (typeof this.inner.touch !== 'function') return null;
    const { originalMaxAge } = record.cookie;
    // Its real deadline is the store's, unknown here: as the last touch would have set it, at most.
    record.expiresAt =
      now + (typeof originalMaxAge === 'number' && originalMaxAge > 0 ? originalMaxAge : this.ttl);
    return record;
  }

  private async write(operation: string, id: string, record: SessionRecord, deadline: number): Promise<void> {
    this.checkInTime(operation, deadline);
    await call((cb) => this.inner.set(id, this.sessionOf(record), cb));
  }
  /**
   * The session as express-session hands it to a store: the data, and a cookie shaped like its Cookie
   * (sessionkit's own fields ride inside it, where no application looks for data). Its `expires` is the
   * cookie's own: a persistent cookie's moves with the record's deadline; a browser-session cookie has
   * none, so the store's own TTL (connect-redis `ttl`, connect-pg-simple `ttl`, express-mysql-session
   * `expiration`) rules the record, as under express-session, and it reads back as a browser-session
   * cookie.
   */
  private sessionOf(record: SessionRecord): Record<string, unknown> {
    const sess = toExpressSessionWithMeta(record);
    const embedded = sess.cookie as CookieData & { [META_KEY]?: { lastSeenAt?: number } };
    // Read back by fromExpressSession (see its EmbeddedMeta).
    if (embedded[META_KEY]) embedded[META_KEY].lastSeenAt = record.lastSeenAt;
    const { cookie } = record;
    const persistent = typeof cookie.originalMaxAge === 'number' || (cookie.expires ?? null) !== null;
    sess.cookie = new StoreCookie(embedded, persistent ? new Date(record.expiresAt) : null);
    return sess;
  }

  private async destroyInner(id: string): Promise<void> {
    try {
      await call((cb) => this.inner.destroy(id, cb));
    } catch (error) {
      // The record may still be stored, while this process answers "no session" for it: the next `get`
      // or `destroy` of the ID sends the destroy again.
      this.state.destroyAnswered(id, true);
      throw error;
    }
    this.state.destroyAnswered(id, false);
  }

  private destroyed(id: string, lane: Lane): boolean {
    return lane.destroyed || this.state.wasDestroyed(id);
  }

  /**
   * A destroy asked for while this write was running has stopped waiting for it (see `inLane`) and may
   * have reached the store first: destroy again, after the write.
   */
  private async undoIfOvertaken(id: string, lane: Lane): Promise<void> {
    if (this.destroyed(id, lane)) await this.destroyInner(id);
  }

  /**
   * Runs `work` after the writes already queued for `id` have settled, or once the last of them is past
   * its deadline (it is then stuck in a store call it issued, whose outcome is unknown; `undoIfOvertaken`
   * covers a destroy it races), or once this one's own `deadline` has passed. An ID with nothing queued
   * runs at once, with no timer.
   */
  private inLane<T>(id: string, deadline: number, work: (lane: Lane) => Promise<T>): Promise<T> {
    const lanes = this.state.lanes;
    let lane = lanes.get(id);
    let run: Promise<T>;
    if (!lane) {
      lane = { tail: Promise.resolve(), tailDeadline: deadline, queued: 0, destroyed: false };
      lanes.set(id, lane);
      run = work(lane);
    } else {
      const current = lane;
      const waitUntil = Math.min(lane.tailDeadline, deadline);
      run = waitAtMost(lane.tail, waitUntil - Date.now()).then(() => work(current));
    }
    const own = lane;
    own.queued++;
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    own.tail = settled;
    own.tailDeadline = deadline;
    void settled.then(() => {
      own.queued--;
      if (own.queued === 0 && lanes.get(id) === own) lanes.delete(id);
    });
    return run;
  }
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
function waitAtMost(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(ms, 0));
    timer.unref();
    promise.then(
      () => {
        clearTimeout(timer);
        resolve();
      },
      () => {
        clearTimeout(timer);
        resolve();
      },
    );
  });
}
