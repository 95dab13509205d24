/**
 * How the engine talks to its store, behind one object: which store a request uses (the store itself,
 * or an express-session bridge when the application replaced one of its methods), the bound on every
 * call and the mapping of its failures to typed errors, the synchronous path of sessionkit's own
 * MemoryStore, and the diagnostics_channel trace of each call. No other engine module names a store class.
 */
import { EventEmitter } from 'node:events';
import {
  isTraced,
  type StoreKind,
  type StoreOperation,
  storeKindOf,
  traceStoreCall,
  traceStoreCallSync,
} from '../core/diagnostics.js';
import type { Keyring } from '../core/encryption.js';
import { SessionError } from '../core/errors.js';
import type { SessionRecord } from '../core/types.js';
import {
  checkStoreUserId,
  DEFAULT_STORE_TIMEOUT_MS,
  isConnectionError,
  isNativeStore,
  runBounded,
  type SessionStore,
  toStoreError,
} from '../stores/contract.js';
import { EncryptedStore } from '../stores/encrypted.js';
import { ExpressStoreBridge } from '../stores/express-compat/bridge.js';
import {
  type ExpressSessionStore,
  type ExpressStoreLike,
  Store,
  unbridged,
} from '../stores/express-compat/store.js';
import { MemoryStore } from '../stores/memory.js';
import { type SyncAccess, type SyncOperation, syncTwin } from '../stores/sync.js';

export type { ExpressSessionStore, ExpressStoreLike, SessionStore };
export { isConnectionError, runBounded };

/**
 * The store is down or did not answer in time (a 503, as StoreUnavailableError is), or the connection was
 * lost on the way: what the call did is unknown. Any other error is the application's or the data's.
 */
export function isStoreFailure(error: unknown): boolean {
  return (error instanceof SessionError && error.status === 503) || isConnectionError(error);
}

/** For adapters, which reach stores only through this module. */
export { isNativeStore };

/** What an application may pass as `store`: a sessionkit store or an express-session store. */
export type StoreInput = SessionStore | ExpressStoreLike;

/**
 * express-session's store methods, an application may wrap or replace them on the instance, with the
 * number of parameters express-session calls them with (the callback last).
 */
const EXPRESS_METHODS = [
  ['get', 2],
  ['set', 3],
  ['destroy', 2],
  ['touch', 3],
] as const;

/** An express-session store's error as it reported it, but an unreachable backend, which is a 503 (fail closed). */
function asReported(operation: string, error: unknown): unknown {
  return isConnectionError(error) ? toStoreError(operation, error) : error;
}

/**
 * The store as given, behind the native contract: a MemoryStore when none is given, a bridge for an
 * express-session store. `timeout` is the bound its caller puts on every store call: the bridge issues no
 * store call for an operation past it.
 */
export function nativeStore(
  given: StoreInput | undefined,
  ttl: number,
  timeout = DEFAULT_STORE_TIMEOUT_MS,
  idsMayRepeat = true,
): SessionStore {
  const store = given ?? new MemoryStore();
  return isNativeStore(store) ? store : new ExpressStoreBridge(store, ttl, timeout, idsMayRepeat);
}

export class StoreAccess {
  /** The store every call goes to (encrypted when the options say so). */
  readonly store: SessionStore;
  /** The store as given (what `req.sessionStore` shows). */
  readonly given: StoreInput;
  /** What diagnostics_channel messages and metrics call the store. */
  readonly kind: StoreKind;
  /** The store is sessionkit's own MemoryStore (exactly that class): its own methods settle in-process. */
  private readonly inProcess: boolean;
  /** The store behind a bridge, once the application replaced one of its express-session methods (see `channel`). */
  private expressWay: ExpressStoreBridge | null = null;
  /** The store's express-session methods as `channel` last judged them, and its verdict. */
  private readonly judged: unknown[] = [];
  private judgedWay: SessionStore | null = null;

  constructor(
    given: StoreInput | undefined,
    private readonly ttl: number,
    private readonly timeout: number,
    keyring: Keyring | undefined,
    private readonly warn: (message: string) => void,
    /** An application's `genid` is in use: a new session's ID may be taken already (see ExpressStoreBridge). */
    private readonly idsMayRepeat = true,
  ) {
    this.given = given ?? new MemoryStore();
    const native = nativeStore(this.given, ttl, timeout, idsMayRepeat);
    this.store = keyring ? new EncryptedStore(native, keyring) : native;
    this.inProcess = Object.getPrototypeOf(this.store) === MemoryStore.prototype;
    this.kind = storeKindOf(this.given, native === this.given);
  }

  /** The given store, when it announces express-session's `connect`/`disconnect`/`corrupt` events. */
  emitter(): EventEmitter | null {
    return this.given instanceof EventEmitter ? this.given : null;
  }

  /** Refuses a user ID the store cannot file, before anything changes. */
  checkUserId(operation: string, userId: string): void {
    checkStoreUserId(this.store, operation, userId);
  }

  /** A store that speaks express-session (callbacks): its `ENOENT` means "no such session", its errors pass as reported. */
  isBridged(store: SessionStore): boolean {
    return store instanceof ExpressStoreBridge;
  }

  /** The store is one of ours whose methods the application replaced: it is written and touched as express-session does. */
  isExpressWay(store: SessionStore): boolean {
    return store === this.expressWay;
  }

  /**
   * The store as a request talks to it. express-session looks a store's methods up by name on every call,
   * so applications and test suites wrap or replace `get`/`set`/`destroy`/`touch` on the instance
   * (instrumentation, delays, doubles). When one of sessionkit's own stores has such a method that is not
   * its own, the store is spoken to as express-session would: through the bridge, with callbacks, a whole
   * `set` on save and `touch` on unchanged sessions, and every error it reports honoured.
   */
  channel(): SessionStore {
    const { store } = this;
    const methods = store as unknown as Record<string, unknown>;
    // Per request: the same four methods as last time (nearly always) need no second look.
    const { judged } = this;
    if (
      this.judgedWay !== null &&
      methods.get === judged[0] &&
      methods.set === judged[1] &&
      methods.destroy === judged[2] &&
      methods.touch === judged[3]
    )
      return this.judgedWay;
    judged[0] = methods.get;
    judged[1] = methods.set;
    judged[2] = methods.destroy;
    judged[3] = methods.touch;
    this.judgedWay = this.judgeChannel(store, methods);
    return this.judgedWay;
  }

  private judgeChannel(store: SessionStore, methods: Record<string, unknown>): SessionStore {
    if (!(store instanceof Store)) return store;
    for (const [name, arity] of EXPRESS_METHODS) {
      const method = methods[name];
      // Our own methods are the callback-accepting wrappers the Store base installed (see
      // express-compat/store.ts). A replacement is express-session's kind when it declares express-session's
      // parameters, or is a plain function forwarding whatever it is given
      // (`function () { … apply(this, arguments) }`); one declaring fewer (`(id) => …`) or an async
      // forwarder (instrumentation, proxies) wraps the promise contract and is called as such, keeping the
      // store's atomic merges.
      if (
        typeof method === 'function' &&
        unbridged(method) === method &&
        (method.length >= arity || (method.length === 0 && !isAsync(method)))
      ) {
        this.warn(
          `the store's ${name}() was replaced; it is called as express-session calls it (callbacks, whole-session writes, no atomic merges); wrap it with an async function to keep sessionkit's contract`,
        );
        this.expressWay ??= new ExpressStoreBridge(
          store as unknown as ExpressStoreLike,
          this.ttl,
          this.timeout,
          this.idsMayRepeat,
        );
        return this.expressWay;
      }
    }
    return store;
  }

  /** The synchronous `get` of `store` when it has one (see `storeNow`), else `null`. */
  getNow(store: SessionStore): SyncAccess['get'] | null {
    return store === this.store ? this.storeNow('get') : null;
  }

  /**
   * The synchronous twin of a store method, which an in-process store (the MemoryStore, or encryption
   * at rest over it) offers only while the method a caller would run is its own, not wrapped or replaced
   * since. A request on it is then loaded and committed in the same tick, with no promise and no held
   * response.
   */
  private storeNow<K extends SyncOperation>(operation: K): SyncAccess[K] | null {
    return syncTwin(this.store, operation);
  }

  /**
   * Whether the store's `operation` is the in-process MemoryStore's own method, seen through the
   * express-session bridge: not wrapped or replaced, before or after the engine was made (a spy, or a
   * test's hanging stub, is bounded as any other store's method).
   */
  private isOwnMethod(operation: string): boolean {
    if (!this.inProcess) return false;
    const method = (this.store as unknown as Record<string, unknown>)[operation];
    return unbridged(method) === (MemoryStore.prototype as unknown as Record<string, unknown>)[operation];
  }

  /**
   * A store write whose answer `then` interprets: in the same tick on the in-process MemoryStore, else
   * through `call`, bounded and with failures mapped to typed errors either way. `loaded` goes to an
   * update's synchronous twin only (see SyncAccess), never to a store's own method.
   */
  viaStore<K extends 'create' | 'update' | 'touch', R>(
    store: SessionStore,
    operation: K,
    args: Parameters<SessionStore[K]>,
    then: (ok: boolean) => R,
    loaded: SessionRecord | null = null,
  ): R | Promise<R> {
    const now =
      store === this.store ? (this.storeNow(operation) as ((...args: unknown[]) => boolean) | null) : null;
    if (now !== null)
      return then(
        callNow(
          operation,
          () => (operation === 'update' ? now(...args, loaded) : now(...args)),
          this.kind,
          args[0] as string,
        ),
      );
    const method = store[operation] as (...args: unknown[]) => Promise<boolean>;
    return this.call(store, operation, () => method.apply(store, args), args[0] as string).then(then);
  }

  /** One store call: traced, bounded by the store timeout, its failure mapped to a typed error. */
  call<T>(store: SessionStore, operation: string, run: () => Promise<T>, id?: string): Promise<T> {
    if (id !== undefined && isTraced(operation))
      return traceStoreCall(this.kind, operation as StoreOperation, id, () =>
        this.call(store, operation, run),
      );
    // The in-process MemoryStore settles within the same tick and cannot hang: no timer for it, only
    // the same error mapping (a timer set and cleared per store call is measurable on the hot path).
    // A method wrapped or replaced (a spy, a test's hanging stub) is bounded as any other store's.
    if (store === this.store && this.isOwnMethod(operation)) {
      try {
        return run().catch((error: unknown) => Promise.reject(toStoreError(operation, error)));
      } catch (error) {
        return Promise.reject(toStoreError(operation, error));
      }
    }
    // An express-session store's errors reach the application as the store reported them.
    const map = store instanceof ExpressStoreBridge ? asReported : toStoreError;
    return runBounded(operation, this.timeout, run, map);
  }

  /** A synchronous store call (a `getNow` result), traced, its failure mapped as `call` maps one. */
  callNow<T>(operation: string, run: () => T, id: string): T {
    return callNow(operation, run, this.kind, id);
  }
}

/** Runs a synchronous store call, with a failure mapped as `call` maps a rejected one. */
function callNow<T>(operation: string, run: () => T, store?: StoreKind, id?: string): T {
  if (id !== undefined && isTraced(operation))
    return traceStoreCallSync(store as StoreKind, operation as StoreOperation, id, () =>
      callNow(operation, run),
    );
  try {
    return run();
  } catch (error) {
    throw toStoreError(operation, error);
  }
}

function isAsync(fn: unknown): boolean {
  return (fn as { constructor?: { name?: string } }).constructor?.name === 'AsyncFunction';
}
