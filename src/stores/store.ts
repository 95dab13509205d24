import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import {
  CorruptSessionError,
  describe,
  NotSupportedError,
  SessionError,
  StoreError,
  StoreTimeoutError,
  StoreUnavailableError,
} from '../core/errors.js';
import { DEFAULT_TTL_MS, fromExpressSession, toExpressSessionWithMeta } from '../core/serializer.js';
import { isoString } from '../core/time.js';
import type {
  Callback,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
} from '../core/types.js';

/**
 * The promise-based contract every sessionkit store implements. IDs are the raw session IDs; a store
 * files them under `storageKey(id)` (SHA-256), and listings identify sessions by that `handle` only.
 * Expired records are never returned, whether or not the store has removed them yet.
 */
export interface SessionStore {
  get(id: string): Promise<SessionRecord | null>;
  /** Inserts; resolves `false` (and changes nothing) when a live record with this ID exists. */
  create(id: string, record: SessionRecord): Promise<boolean>;
  /** Merges the delta atomically; resolves `false` when the record is absent or expired. Never creates. */
  update(id: string, delta: SessionDelta): Promise<boolean>;
  /** Whole-object upsert (express-session's `set`, migrations). */
  set(id: string, record: SessionRecord): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Moves the expiry and last-seen time; resolves `false` when the record is absent or expired. */
  touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean>;
  list?(options?: ListOptions): Promise<ListPage>;
  length?(): Promise<number>;
  clear?(): Promise<void>;
  /** Removes expired records now; resolves how many went. */
  prune?(): Promise<number>;
  listByUser?(userId: string): Promise<SessionSummary[]>;
  /** Destroys every session of the user, but the one with ID `except`; resolves how many went. */
  destroyByUser?(userId: string, options?: { except?: string }): Promise<number>;
  getByHandle?(handle: string): Promise<SessionSummary | null>;
  destroyByHandle?(handle: string): Promise<boolean>;
  close?(): Promise<void>;
}

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

export interface StoreOptions {
  /** Lifetime of a record whose cookie has no expiry, when written through express-session (ms). */
  ttl?: number;
  /** Every operation fails with ERR_STORE_UNAVAILABLE if the backend does not answer within this (ms). */
  timeout?: number;
}

export const DEFAULT_STORE_TIMEOUT_MS = 5_000;

/** The methods through which express-session talks to a store; wrapped on native stores at construction. */
const EXPRESS_METHODS = ['get', 'set', 'destroy', 'touch', 'all', 'length', 'clear'] as const;

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTCONN',
  'PROTOCOL_CONNECTION_LOST',
  'ER_SERVER_SHUTDOWN',
  'ERR_SOCKET_CLOSED',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const CONNECTION_ERROR_NAMES = new Set([
  'ClientClosedError',
  'ConnectionTimeoutError',
  'SocketClosedUnexpectedlyError',
  'ClientOfflineError',
  'MaxRetriesPerRequestError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'ConnectionError',
]);

/** True when an error from a driver means the backend is unreachable rather than that the call was wrong. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, name } = error as Error & { code?: unknown };
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  if (CONNECTION_ERROR_NAMES.has(name)) return true;
  const { errors, cause } = error as { errors?: unknown; cause?: unknown };
  if (Array.isArray(errors) && errors.some(isConnectionError)) return true;
  return cause !== undefined && cause !== error && isConnectionError(cause);
}

/** Maps whatever a backend threw to a SessionError: unreachable → ERR_STORE_UNAVAILABLE (503), else ERR_STORE. */
export function toStoreError(operation: string, error: unknown): SessionError {
  if (error instanceof SessionError) return error;
  if (isConnectionError(error)) return new StoreUnavailableError(operation, describe(error), error);
  return new StoreError(operation, error);
}

/** Runs one store operation bounded by `timeoutMs`, with errors mapped by `map` (`toStoreError` by default). */
export function runBounded<T>(
  operation: string,
  timeoutMs: number,
  run: () => Promise<T>,
  map: (operation: string, error: unknown) => unknown = toStoreError,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new StoreTimeoutError(operation, timeoutMs)), timeoutMs);
    timer.unref();
    let pending: Promise<T>;
    try {
      pending = run();
    } catch (error) {
      clearTimeout(timer);
      reject(map(operation, error));
      return;
    }
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(map(operation, error));
      },
    );
  });
}

/**
 * Base of every store. Written as a plain constructor function, not a class, so that express-session
 * stores written ES5-style (`Store.call(this)` with `util.inherits`) can inherit from it, as they do from
 * express-session's own `Store`. Native stores (`class X extends Store`, with `create` and `update`) are
 * also usable inside express-session: their `get`/`set`/`destroy`/`touch`/`all`/`length`/`clear` accept
 * express-session's callback calls besides the promise calls of the contract.
 */
export interface Store extends EventEmitter {
  /** Lifetime (ms) of records written through express-session whose cookie has no expiry. */
  ttl: number;
  /** Bound on every operation (ms). */
  timeout: number;
  /** Runs a backend call bounded by `timeout`, mapping failures to typed errors. For store authors. */
  run<T>(operation: string, fn: () => Promise<T>): Promise<T>;
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
  new (options?: StoreOptions): Store;
  prototype: Store;
}

function StoreImpl(this: Store, options?: StoreOptions): void {
  EventEmitter.call(this);
  this.ttl = options?.ttl ?? DEFAULT_TTL_MS;
  this.timeout = options?.timeout ?? DEFAULT_STORE_TIMEOUT_MS;
  if (isNativeStore(this)) installExpressBridge(this as unknown as Store & SessionStore);
}
Object.setPrototypeOf(StoreImpl.prototype, EventEmitter.prototype);
Object.setPrototypeOf(StoreImpl, EventEmitter);

export const Store = StoreImpl as unknown as StoreConstructor;

Store.prototype.run = function run<T>(this: Store, operation: string, fn: () => Promise<T>): Promise<T> {
  return runBounded(operation, this.timeout, fn);
};

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

/** A native store implements the promise contract (it has `create` and `update`); others are express-session stores. */
export function isNativeStore(store: unknown): store is SessionStore {
  const candidate = store as Partial<SessionStore> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.create === 'function' &&
    typeof candidate.update === 'function'
  );
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
    const impl = (store as unknown as Record<string, AnyFn | undefined>)[name];
    if (typeof impl !== 'function') continue;
    own[name] = impl;
    const wrapped = function (this: Store & SessionStore, ...args: unknown[]) {
      const last = args[args.length - 1];
      if (typeof last !== 'function') return impl.apply(this, args);
      args.pop();
      expressCall(this, name, impl, args, own).then(
        (value) => (last as Callback<unknown>)(null, value),
        (error) => (last as Callback<unknown>)(error as Error),
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
      const expires = sess?.cookie?.expires ? Date.parse(String(sess.cookie.expires)) : Number.NaN;
      await impl.call(store, args[0], Number.isFinite(expires) ? expires : now + store.ttl, now);
      return undefined;
    }
    case 'all': {
      const sessions: Record<string, unknown> = {};
      for (const summary of await allSummaries(store)) {
        sessions[summary.handle] = toExpressSessionWithMeta({ ...summary, cookie: { originalMaxAge: null } });
      }
      return sessions;
    }
    default:
      return impl.apply(store, args);
  }
}

/** Every live session, page by page. */
export async function allSummaries(store: SessionStore): Promise<SessionSummary[]> {
  if (!store.list) throw new NotSupportedError('list');
  const out: SessionSummary[] = [];
  let cursor: string | null = null;
  do {
    const page: ListPage = await store.list({ cursor, limit: 500 });
    out.push(...page.sessions);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

/**
 * Reports a corrupt record on the store's `corrupt` event (the middleware forwards it to its own `error`
 * event). Stores treat such a record as absent; a separate event name means nobody's process crashes for
 * want of an `error` listener.
 */
export function reportCorrupt(store: EventEmitter, error: unknown): CorruptSessionError {
  const wrapped =
    error instanceof CorruptSessionError ? error : new CorruptSessionError(describe(error), error);
  store.emit('corrupt', wrapped);
  return wrapped;
}
