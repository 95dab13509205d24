/**
 * express-session compatibility, store side: the ES5 `Store` base every store inherits (so ES5-style
 * express-session stores can inherit it too), and the callback wrappers that let a native sessionkit store
 * serve express-session itself. The opposite direction, an express-session store behind the native
 * contract, is `ExpressStoreBridge` in ./bridge.ts.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { instrumentRevocation } from '../../core/diagnostics.js';
import { OptionsError } from '../../core/errors.js';
import { DEFAULT_TTL_MS, fromExpressSession, toExpressSessionWithMeta } from '../../core/serializer.js';
import { isoString } from '../../core/time.js';
import type { Callback, SessionRecord, StoredSession } from '../../core/types.js';
import {
  allSummaries,
  checkStoreTimeout,
  DEFAULT_STORE_TIMEOUT_MS,
  isNativeStore,
  runBounded,
  type SessionStore,
} from '../contract.js';

/** An express-session store: callback methods, as connect-redis, connect-mongo and friends implement. */
export interface ExpressStoreLike extends EventEmitter {
  get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
  set(sid: string, session: unknown, callback?: (err?: unknown) => void): void;
  destroy(sid: string, callback?: (err?: unknown) => void): void;
  touch?(sid: string, session: unknown, callback?: (err?: unknown) => void): void;
  all?(callback: (err: unknown, sessions?: unknown) => void): void;
  length?(callback: (err: unknown, length?: number) => void): void;
  clear?(callback?: (err?: unknown) => void): void;
}

/**
 * `req.sessionStore`: the store as given, through express-session's callback methods. Every store answers
 * them: an express-session store by its nature, a sessionkit store (a subclass of `Store`) through the
 * bridge its constructor installs. Sessions come in express-session's stored shape.
 */
export interface ExpressSessionStore extends EventEmitter {
  get(sid: string, callback: (err: unknown, session?: StoredSession | null) => void): void;
  /** Stores a session given in express-session's shape (`{ cookie, ...data }`). */
  set(sid: string, session: object, callback?: (err?: unknown) => void): void;
  destroy(sid: string, callback?: (err?: unknown) => void): void;
  touch?(sid: string, session: object, callback?: (err?: unknown) => void): void;
  all?(
    callback: (err: unknown, sessions?: Record<string, StoredSession> | StoredSession[] | null) => void,
  ): void;
  length?(callback: (err: unknown, length?: number) => void): void;
  clear?(callback?: (err?: unknown) => void): void;
}

export interface StoreOptions {
  /** Lifetime of a record whose cookie has no expiry, when written through express-session (ms). */
  ttl?: number;
  /** Every operation fails with ERR_STORE_UNAVAILABLE if the backend does not answer within this (ms). */
  timeout?: number;
}

/** The methods through which express-session talks to a store; wrapped on native stores at construction. */
const EXPRESS_METHODS = ['get', 'set', 'destroy', 'touch', 'all', 'length', 'clear'] as const;

/**
 * Base of every store. Written as a plain constructor function, not a class, so that express-session
 * stores written ES5-style (`Store.call(this)` with `util.inherits`) can inherit from it, as they do from
 * express-session's own `Store`. Native stores (`class X extends Store`, with `create` and `update`) are
 * also usable inside express-session: their `get`/`set`/`destroy`/`touch`/`all`/`length`/`clear` accept
 * express-session's callback calls besides the promise calls of the contract.
 *
 * As a type, `Store` is a whole store, as express-session's abstract `Store` is: the base's members and
 * express-session's store methods, which every store answers with callbacks (an express-session-style
 * subclass implements them so; a sessionkit store's promise methods take the callback besides). So a
 * value typed `Store` is a `store` option. A subclass inherits `StoreBase`, the members the base has.
 */
export interface Store extends StoreBase {
  get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
  set(sid: string, session: unknown, callback?: (err?: unknown) => void): void;
  destroy(sid: string, callback?: (err?: unknown) => void): void;
  all?(callback: (err: unknown, sessions?: unknown) => void): void;
  length?(callback: (err: unknown, length?: number) => void): void;
  clear?(callback?: (err?: unknown) => void): void;
}

/** What a subclass of `Store` inherits from it: the members the base itself implements. */
export interface StoreBase extends EventEmitter {
  /** Lifetime (ms) of records written through express-session whose cookie has no expiry. */
  ttl: number;
  /** Bound on every operation (ms). */
  timeout: number;
  /** Runs a backend call bounded by `timeout`, mapping failures to typed errors. For store authors. */
  run<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /**
   * See SessionStore.checkUserId. The base accepts every user ID (its type and form are checked by the
   * callers, `checkStoreUserId`); stores whose backend has limits override it.
   */
  checkUserId(userId: string): void;
  // express-session's Store helpers, used when this store is plugged into express-session.
  regenerate(req: ExpressSessionRequest, callback: (err?: unknown) => void): void;
  load(sid: string, callback: (err: unknown, session?: unknown) => void): void;
  createSession(req: ExpressSessionRequest, session: Record<string, unknown>): unknown;
}

interface ExpressSessionRequest {
  sessionID?: string;
  session?: unknown;
  sessionStore?: { generate?: (req: unknown) => void };
}

export interface StoreConstructor {
  new (options?: StoreOptions): StoreBase;
  prototype: StoreBase;
}

function StoreImpl(this: Store, options?: StoreOptions): void {
  EventEmitter.call(this);
  this.ttl = options?.ttl ?? DEFAULT_TTL_MS;
  this.timeout = options?.timeout ?? DEFAULT_STORE_TIMEOUT_MS;
  if (isNativeStore(this)) {
    // Checked for sessionkit's own stores only: an express-session store that calls this constructor may
    // keep a `ttl` of its own kind (connect-redis takes a function).
    if (!(Number.isFinite(this.ttl) && this.ttl > 0))
      throw new OptionsError('ttl', 'must be a positive number of milliseconds');
    checkStoreTimeout(this.timeout);
    installExpressBridge(this as unknown as Store & SessionStore);
  }
  instrumentRevocation(this);
}
Object.setPrototypeOf(StoreImpl.prototype, EventEmitter.prototype);
Object.setPrototypeOf(StoreImpl, EventEmitter);

export const Store = StoreImpl as unknown as StoreConstructor;

Store.prototype.run = function run<T>(this: Store, operation: string, fn: () => Promise<T>): Promise<T> {
  return runBounded(operation, this.timeout, fn);
};

Store.prototype.checkUserId = function checkUserId(this: Store, _userId: string): void {};

// The three helpers below mirror express-session's Store so a sessionkit store can serve it.
Store.prototype.regenerate = function regenerate(this: Store, req, callback) {
  (this as unknown as ExpressStoreLike).destroy(req.sessionID as string, (err?: unknown) => {
    req.sessionStore?.generate?.(req);
    callback(err);
  });
} as Store['regenerate'];

Store.prototype.load = function load(this: Store, sid, callback) {
  (this as unknown as ExpressStoreLike).get(sid, (err, session) => {
    if (err) return callback(err);
    if (!session) return callback(undefined, undefined);
    callback(undefined, this.createSession({ sessionID: sid }, session as Record<string, unknown>));
  });
} as Store['load'];

Store.prototype.createSession = function createSession(this: Store, req, session) {
  const { Session, Cookie } = loadExpressSession();
  const cookie = session.cookie as { expires?: unknown; originalMaxAge?: number | null };
  const { expires, originalMaxAge } = cookie;
  session.cookie = new Cookie(cookie);
  if (typeof expires === 'string') (session.cookie as { expires: Date }).expires = new Date(expires);
  (session.cookie as { originalMaxAge?: number | null }).originalMaxAge = originalMaxAge;
  req.session = new Session(req, session);
  return req.session;
} as Store['createSession'];

interface ExpressSessionModule {
  Session: new (req: unknown, data: unknown) => unknown;
  Cookie: new (options: unknown) => unknown;
}

function loadExpressSession(): ExpressSessionModule {
  // Only express-session itself calls createSession, so it is installed beside the application.
  const require = createRequire(`${process.cwd()}/`);
  return require('express-session') as ExpressSessionModule;
}

type AnyFn = (...args: unknown[]) => unknown;

/** Each callback-accepting wrapper `installExpressBridge` made, to the method it wraps. */
const bridged = new WeakMap<AnyFn, AnyFn>();

/** The store method behind an express-session callback wrapper; any other function as it is. */
export function unbridged(method: unknown): unknown {
  return bridged.get(method as AnyFn) ?? method;
}

function installExpressBridge(store: Store & SessionStore): void {
  // The store's own methods: an application may replace the public ones (store.get = …) with functions
  // that take express-session's callbacks only, which this store's own work must not call.
  const own: Partial<Record<string, AnyFn>> = {};
  for (const name of EXPRESS_METHODS) {
    const found = (store as unknown as Record<string, AnyFn | undefined>)[name];
    // express-session's `all`, for stores whose own contract lists sessions by page instead.
    const impl = found ?? (name === 'all' && typeof store.list === 'function' ? listAll : undefined);
    if (typeof impl !== 'function') continue;
    own[name] = impl;
    const wrapped = function (this: Store & SessionStore, ...args: unknown[]) {
      const last = args[args.length - 1];
      const callback = typeof last === 'function' ? (last as Callback<unknown>) : null;
      if (callback === null && !expressShaped(name, args)) return impl.apply(this, args);
      if (callback !== null) args.pop();
      const call = () => expressCall(this, name, impl, args, own);
      const result = ORDERED.has(name) ? inIssueOrder(this, args[0], call) : call();
      if (callback === null) {
        // express-session's stores take the callback as optional: a failure nobody asked to hear about
        // must not end the process as an unhandled rejection. A caller that awaits still gets it.
        result.catch(() => undefined);
        return result;
      }
      result.then(
        (value) => callback(null, value),
        (error) => callback(error as Error),
      );
      return undefined;
    };
    bridged.set(wrapped, impl);
    Object.defineProperty(store, name, {
      value: wrapped,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
}

/** `all` for a store without its own: what express-session's `all` gives, from the store's listing. */
function listAll(this: Store & SessionStore): Promise<unknown> {
  return expressCall(this, 'all', listAll, [], {});
}

/**
 * A call in express-session's shape made without its optional callback: `set(sid, session)` with an
 * object that is no record (a record has a `data` object and an `expiresAt` number), or
 * `touch(sid, session)`: an object, and nothing after it, where the contract takes two times.
 */
function expressShaped(name: string, args: unknown[]): boolean {
  const second = args[1] as Record<string, unknown> | null | undefined;
  if (typeof second !== 'object' || second === null) return false;
  if (name === 'touch') return args.length === 2;
  if (name !== 'set') return false;
  return !(typeof second.data === 'object' && second.data !== null && typeof second.expiresAt === 'number');
}

/** The writes express-session issues for one session ID, applied in the order it issued them. */
const ORDERED = new Set<string>(['set', 'destroy', 'touch']);
/** Per store, per session ID: the last ordered call issued, settled either way. */
const lanes = new WeakMap<object, Map<unknown, Promise<unknown>>>();

/**
 * express-session issues a save and a destroy of one session in the same tick (a route that answers, then
 * calls `req.session.destroy()`: the save runs at `end()`), and a store on one connection applies them in
 * that order. A callback `set` here reads the record before it writes it (for what express-session's shape
 * has no field for), so a destroy issued after it would land first and the set would write the ended
 * session back: a logout undone. Each call waits for the one issued before it on the same ID.
 */
function inIssueOrder(store: object, sid: unknown, call: () => Promise<unknown>): Promise<unknown> {
  let ids = lanes.get(store);
  if (ids === undefined) {
    ids = new Map();
    lanes.set(store, ids);
  }
  const previous = ids.get(sid);
  const result = previous === undefined ? call() : previous.then(call);
  const settled = result.then(
    () => undefined,
    () => undefined,
  );
  ids.set(sid, settled);
  const lane = ids;
  void settled.then(() => {
    if (lane.get(sid) === settled) lane.delete(sid);
  });
  return result;
}

async function expressCall(
  store: Store & SessionStore,
  name: (typeof EXPRESS_METHODS)[number],
  impl: AnyFn,
  args: unknown[],
  own: Partial<Record<string, AnyFn>>,
): Promise<unknown> {
  const now = Date.now();
  switch (name) {
    case 'get': {
      const record = (await impl.call(store, args[0])) as SessionRecord | null;
      if (!record) return undefined;
      const sess = toExpressSessionWithMeta(record);
      // The deadline moved with every touch; a cookie with a maxAge expires then, as the middleware says.
      const cookie = sess.cookie as { originalMaxAge?: unknown; expires?: unknown };
      if (typeof cookie.originalMaxAge === 'number') cookie.expires = isoString(record.expiresAt);
      return sess;
    }
    case 'set': {
      const sid = args[0] as string;
      const plain = JSON.parse(JSON.stringify(args[1] ?? {})) as Record<string, unknown>;
      const existing = (await (own.get ?? store.get).call(store, sid)) as SessionRecord | null;
      // What the record says of itself (a sessionkit bridge embeds it) first, then what the store had.
      const record = fromExpressSession(plain, now, store.ttl, {
        createdAt: existing?.createdAt,
        userId: existing?.userId,
      });
      return impl.call(store, sid, record);
    }
    case 'touch': {
      const sess = args[1] as { cookie?: { expires?: unknown } } | undefined;
      const given = sess?.cookie?.expires;
      // A Date to the millisecond: its string form has whole seconds only.
      const expires =
        given instanceof Date ? given.getTime() : given ? Date.parse(String(given)) : Number.NaN;
      await impl.call(store, args[0], Number.isFinite(expires) ? expires : now + store.ttl, now);
      return undefined;
    }
    case 'all': {
      const sessions: Record<string, unknown> = {};
      for (const summary of await allSummaries(store)) {
        // A listing holds no cookie; its deadline is the session's real one, which an admin page shows.
        const cookie = { originalMaxAge: null, expires: isoString(summary.expiresAt) };
        sessions[summary.handle] = toExpressSessionWithMeta({ ...summary, cookie });
      }
      return sessions;
    }
    default:
      return impl.apply(store, args);
  }
}
