import { type Channel, channel, type TracingChannel, tracingChannel } from 'node:diagnostics_channel';
import type { BindingAction, BindingProperty } from './binding.js';
import { SessionError, StoreError, StoreTimeoutError } from './errors.js';
import { storageKey } from './id.js';

/**
 * sessionkit's `node:diagnostics_channel` signals: a public API (APM agents, security agents, metrics).
 * Every message names a session by its handle (`sessionHandle(id)`, SHA-256), never by its ID, and no
 * message carries a secret or session data. Nothing is built or wrapped unless a channel has a subscriber.
 */

/** The store operations traced, one `TracingChannel` each: `sessionkit:store:<operation>`. */
export type StoreOperation = 'get' | 'create' | 'update' | 'touch' | 'destroy' | 'destroyByUser';

/** Which store a signal came from: sessionkit's own, one reached through the express-session bridge, or another. */
export type StoreKind =
  | 'memory'
  | 'sqlite'
  | 'postgres'
  | 'mysql'
  | 'redis'
  | 'mongodb'
  | 'express-session'
  | 'custom';

/**
 * How a store call ended: `ok`; `miss` (get found nothing, or create/update/touch answered `false`);
 * `timeout` (no answer within `storeTimeout`); `unavailable` (backend unreachable, or the store announced a
 * disconnect); `error` (any other failure).
 */
export type StoreOutcome = 'ok' | 'miss' | 'timeout' | 'unavailable' | 'error';

/**
 * The context object of every `sessionkit:store:*` tracing event (`start`, `end`, `asyncStart`,
 * `asyncEnd`, `error`). `outcome` is set before `end` (synchronous calls) or `asyncStart` (asynchronous).
 * `result` and `error` are set by Node as for any `TracingChannel`: `result` is `true`/`false` for `get`
 * (found or not), `create`, `update` and `touch` (the store's answer), `undefined` for `destroy` and the
 * number removed for `destroyByUser`; never the record itself. `error` is the typed `SessionError` the
 * request gets (its `code` tells timeouts and outages apart), as a copy without its `cause`: the driver's
 * error, which may quote the session's data, stays with the application.
 */
export interface StoreCallMessage {
  operation: StoreOperation;
  store: StoreKind;
  /** The session's handle; `null` for `destroyByUser`, which names a user. */
  handle: string | null;
  outcome?: StoreOutcome;
  result?: boolean | number | undefined;
  error?: unknown;
}

/** `sessionkit:session:created` (stored for the first time), `…:regenerated`, `…:destroyed`. */
export interface SessionMessage {
  handle: string;
  store: StoreKind;
}

/** `sessionkit:session:login`: `login(userId)` gave the session a new ID (`handle`) and bound the user. */
export interface LoginMessage extends SessionMessage {
  previousHandle: string;
  userId: string;
}

/** `sessionkit:session:logout`: the session `previousHandle` ended; `handle` is its anonymous successor. */
export interface LogoutMessage extends SessionMessage {
  previousHandle: string;
  userId: string | null;
}

/**
 * `sessionkit:session:binding`: a loaded session's request no longer matches the User-Agent or IP the
 * session was bound with (the `binding` option, C33). `handle` is the session's (the one ended, with
 * `action: 'end'`).
 */
export interface BindingMessage extends SessionMessage {
  /** The bound properties whose values changed. */
  changed: BindingProperty[];
  /** `'report'`: the session was kept and bound to the new values; `'end'`: it was ended. */
  action: BindingAction;
  userId: string | null;
}

/** `sessionkit:cookie:invalid`: a session cookie failed its signature or its ID's shape check (forged or stale). */
export interface InvalidCookieMessage {
  reason: 'bad-signature' | 'malformed-id';
  store: StoreKind;
}

/** `sessionkit:session:revoked`: sessions ended from outside their requests (`destroyByUser`, `destroyByHandle`). */
export interface RevokedMessage {
  store: StoreKind;
  scope: 'user' | 'handle';
  /** Sessions the store removed. */
  count: number;
  /** The user whose sessions went (`scope: 'user'`). */
  userId: string | null;
  /** The session that went (`scope: 'handle'`). */
  handle: string | null;
}

/** The names, for `diagnostics_channel.subscribe(name, …)` and `tracingChannel(name)`. */
export const CHANNELS = {
  store: {
    get: 'sessionkit:store:get',
    create: 'sessionkit:store:create',
    update: 'sessionkit:store:update',
    touch: 'sessionkit:store:touch',
    destroy: 'sessionkit:store:destroy',
    destroyByUser: 'sessionkit:store:destroyByUser',
  },
  created: 'sessionkit:session:created',
  regenerated: 'sessionkit:session:regenerated',
  login: 'sessionkit:session:login',
  logout: 'sessionkit:session:logout',
  destroyed: 'sessionkit:session:destroyed',
  /** A correctly signed ID the store does not have: expired, revoked or guessed. Message: `SessionMessage`. */
  unknown: 'sessionkit:cookie:unknown',
  invalid: 'sessionkit:cookie:invalid',
  revoked: 'sessionkit:session:revoked',
  /** A session's User-Agent or IP changed (the `binding` option). Message: `BindingMessage`. */
  binding: 'sessionkit:session:binding',
} as const;

type StoreTracingChannel = TracingChannel<object, StoreCallMessage & object>;

// Held here for the process's life: diagnostics_channel keeps unsubscribed channels only weakly.
const storeChannels: Record<StoreOperation, StoreTracingChannel> = {
  get: tracingChannel(CHANNELS.store.get),
  create: tracingChannel(CHANNELS.store.create),
  update: tracingChannel(CHANNELS.store.update),
  touch: tracingChannel(CHANNELS.store.touch),
  destroy: tracingChannel(CHANNELS.store.destroy),
  destroyByUser: tracingChannel(CHANNELS.store.destroyByUser),
};

const created = channel(CHANNELS.created);
const regenerated = channel(CHANNELS.regenerated);
const login = channel(CHANNELS.login);
const logout = channel(CHANNELS.logout);
const destroyed = channel(CHANNELS.destroyed);
const unknown = channel(CHANNELS.unknown);
const invalid = channel(CHANNELS.invalid);
const revoked = channel(CHANNELS.revoked);
const binding = channel(CHANNELS.binding);

/** The manager's EventEmitter event names, to the channel each also publishes on. */
const BY_EVENT: Record<string, Channel | undefined> = {
  create: created,
  regenerate: regenerated,
  destroy: destroyed,
  unknown,
};

const KNOWN_STORES: Record<string, StoreKind> = {
  MemoryStore: 'memory',
  SQLiteStore: 'sqlite',
  PostgresStore: 'postgres',
  MySQLStore: 'mysql',
  RedisStore: 'redis',
  MongoStore: 'mongodb',
};

/**
 * The kind of a store: `native` false means it is reached through the express-session bridge. Found by
 * class name along the prototype chain (so a subclass of RedisStore is `redis`), without importing any
 * store module: a bundler may suffix a class name with a digit, which is ignored.
 */
export function storeKindOf(store: unknown, native: boolean): StoreKind {
  if (!native) return 'express-session';
  let proto: unknown = typeof store === 'object' && store !== null ? Object.getPrototypeOf(store) : null;
  while (proto !== null && proto !== Object.prototype) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    const kind = typeof name === 'string' ? KNOWN_STORES[name.replace(/\d+$/, '')] : undefined;
    if (kind !== undefined) return kind;
    proto = Object.getPrototypeOf(proto);
  }
  return 'custom';
}

/** Whether a store operation's channel has a subscriber: the one check the hot path pays. */
export function isTraced(operation: string): boolean {
  const traced = storeChannels[operation as StoreOperation];
  return traced !== undefined && hasSubscribers(traced);
}

/** `TracingChannel#hasSubscribers`, which Node 20 has only from 20.13. */
function hasSubscribers(traced: StoreTracingChannel): boolean {
  return (
    traced.start.hasSubscribers ||
    traced.end.hasSubscribers ||
    traced.asyncStart.hasSubscribers ||
    traced.asyncEnd.hasSubscribers ||
    traced.error.hasSubscribers
  );
}

function outcomeOf(value: unknown): StoreOutcome {
  return value === null || value === false ? 'miss' : 'ok';
}

/** Failure outcome of a mapped store error (the manager maps every failure to a SessionError first). */
export function failureOf(error: unknown): StoreOutcome {
  if (error instanceof StoreTimeoutError) return 'timeout';
  return error instanceof SessionError && error.code === 'ERR_STORE_UNAVAILABLE' ? 'unavailable' : 'error';
}

/** What `result` shows: the record of a `get` stays out of every signal. */
function resultOf(operation: StoreOperation, value: unknown): boolean | number | undefined {
  if (operation === 'get') return value !== null && value !== undefined;
  return typeof value === 'boolean' || typeof value === 'number' ? value : undefined;
}

function messageFor(store: StoreKind, operation: StoreOperation, id: string | null): StoreCallMessage {
  return { operation, store, handle: id === null ? null : storageKey(id) };
}

/** Runs an asynchronous store call inside its tracing channel. Call only when `isTraced(operation)`. */
export function traceStoreCall<T>(
  store: StoreKind,
  operation: StoreOperation,
  id: string | null,
  run: () => Promise<T>,
): Promise<T> {
  const message = messageFor(store, operation, id);
  let value: T;
  const failed: { error?: unknown } = {};
  return storeChannels[operation]
    .tracePromise(async () => {
      try {
        value = await run();
      } catch (error) {
        message.outcome = failureOf(error);
        failed.error = error;
        // The channel gets the signal's copy; the caller gets the error itself, below.
        throw signalError(operation, error);
      }
      message.outcome = outcomeOf(value);
      return resultOf(operation, value);
    }, message)
    .then(
      () => value,
      (error: unknown) => Promise.reject('error' in failed ? failed.error : error),
    );
}

/** `traceStoreCall` for the in-process MemoryStore's synchronous calls. */
export function traceStoreCallSync<T>(
  store: StoreKind,
  operation: StoreOperation,
  id: string,
  run: () => T,
): T {
  const message = messageFor(store, operation, id);
  let value: T;
  const failed: { error?: unknown } = {};
  try {
    storeChannels[operation].traceSync(() => {
      try {
        value = run();
      } catch (error) {
        message.outcome = failureOf(error);
        failed.error = error;
        throw signalError(operation, error);
      }
      message.outcome = outcomeOf(value);
      return resultOf(operation, value);
    }, message);
  } catch (error) {
    throw 'error' in failed ? failed.error : error;
  }
  return value!;
}

/**
 * The `error` a store call's message carries: the typed error the request gets (same class, code, status
 * and message), without its `cause`. The driver's error stays the application's: its message, SQL text
 * (mysql2's `sql`), row (PostgreSQL's "Failing row contains (…)" detail) or command arguments (ioredis's
 * `command.args`) may hold the session's data, which a StoreError's message leaves out. An error an
 * express-session store reported as it was is named as a StoreError names it.
 */
function signalError(operation: StoreOperation, error: unknown): SessionError {
  const typed = error instanceof SessionError ? error : new StoreError(operation, error);
  if (typed.cause === undefined) return typed;
  const copy = Object.create(Object.getPrototypeOf(typed) as object) as SessionError;
  const fields = typed as unknown as Record<PropertyKey, unknown>;
  for (const key of Reflect.ownKeys(typed)) {
    if (key === 'cause') continue;
    const enumerable = Object.getOwnPropertyDescriptor(typed, key)?.enumerable ?? false;
    // By value: `stack` may be an accessor that answers only for the error it belongs to.
    Object.defineProperty(copy, key, { value: fields[key], writable: true, enumerable, configurable: true });
  }
  return copy;
}

/**
 * A store that reported a disconnect is not called at all; the refusal is still traced as a failed call,
 * so an outage shows the same whether the store or the manager noticed it. Returns the error to throw.
 */
export function traceRefusal(store: StoreKind, operation: StoreOperation, id: string, error: Error): Error {
  if (!isTraced(operation)) return error;
  try {
    traceStoreCallSync(store, operation, id, () => {
      throw error;
    });
  } catch {}
  return error;
}

/** Publishes a manager event (`create`, `regenerate`, `destroy`, `unknown`) on its channel. */
export function publishEvent(event: string, id: string, store: StoreKind): void {
  const target = BY_EVENT[event];
  if (target?.hasSubscribers) target.publish({ handle: storageKey(id), store } satisfies SessionMessage);
}

export function publishLogin(store: StoreKind, previousId: string, id: string, userId: string): void {
  if (!login.hasSubscribers) return;
  login.publish({
    handle: storageKey(id),
    previousHandle: storageKey(previousId),
    userId,
    store,
  } satisfies LoginMessage);
}

export function publishLogout(store: StoreKind, previousId: string, id: string, userId: string | null): void {
  if (!logout.hasSubscribers) return;
  logout.publish({
    handle: storageKey(id),
    previousHandle: storageKey(previousId),
    userId,
    store,
  } satisfies LogoutMessage);
}

export function publishInvalid(store: StoreKind, reason: InvalidCookieMessage['reason']): void {
  if (invalid.hasSubscribers) invalid.publish({ reason, store } satisfies InvalidCookieMessage);
}

export function publishBinding(
  store: StoreKind,
  id: string,
  changed: BindingProperty[],
  action: BindingAction,
  userId: string | null,
): void {
  if (!binding.hasSubscribers) return;
  binding.publish({ handle: storageKey(id), store, changed, action, userId } satisfies BindingMessage);
}

type DestroyByUser = (userId: string, options?: { except?: string }) => Promise<number>;
type DestroyByHandle = (handle: string) => Promise<boolean>;

/**
 * Wraps a native store's `destroyByUser` and `destroyByHandle` (called by applications, the CLI and admin
 * tools, never by the middleware) so that they are traced and publish `revoked`. Installed once per store
 * at construction, as own non-enumerable properties; with no subscriber a call goes straight through.
 */
export function instrumentRevocation(store: object): void {
  const methods = store as Record<string, unknown>;
  const byUser = methods.destroyByUser;
  if (typeof byUser === 'function') {
    define(
      store,
      'destroyByUser',
      function destroyByUser(this: object, userId: string, options?: { except?: string }): Promise<number> {
        const call = () => (byUser as DestroyByUser).call(this, userId, options);
        const traced = hasSubscribers(storeChannels.destroyByUser);
        if (!traced && !revoked.hasSubscribers) return call();
        const kind = storeKindOf(this, true);
        const work = traced ? traceStoreCall(kind, 'destroyByUser', null, call) : call();
        return work.then((count) => {
          if (revoked.hasSubscribers && typeof count === 'number') {
            const message: RevokedMessage = { store: kind, scope: 'user', count, userId, handle: null };
            revoked.publish(message);
          }
          return count;
        });
      },
    );
  }
  const byHandle = methods.destroyByHandle;
  if (typeof byHandle === 'function') {
    define(
      store,
      'destroyByHandle',
      function destroyByHandle(this: object, handle: string): Promise<boolean> {
        const work = (byHandle as DestroyByHandle).call(this, handle);
        if (!revoked.hasSubscribers) return work;
        return work.then((existed) => {
          if (existed === true && revoked.hasSubscribers) {
            const kind = storeKindOf(this, true);
            const message: RevokedMessage = { store: kind, scope: 'handle', count: 1, userId: null, handle };
            revoked.publish(message);
          }
          return existed;
        });
      },
    );
  }
}

function define(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: false });
}
