import { EventEmitter } from 'node:events';
import { finished } from 'node:stream';
import { ExpressStoreBridge } from '../stores/bridge.js';
import { EncryptedStore } from '../stores/encrypted.js';
import { MemoryStore, type MemoryStoreNow, NOW } from '../stores/memory.js';
import {
  checkStoreUserId,
  type ExpressStoreLike,
  isConnectionError,
  isNativeStore,
  runBounded,
  type SessionStore,
  Store,
  toStoreError,
  unbridged,
} from '../stores/store.js';
import { syncTwin } from '../stores/sync.js';
import {
  AUTH_TIME_KEY,
  RENEWED_AT_KEY,
  RENEWED_KEY,
  storedAuthTime,
  storedTime,
  withoutReserved,
} from './auth-time.js';
import {
  type Changes,
  dataOf,
  diff,
  EMPTY_SNAPSHOT,
  hasData,
  recordWritten,
  takeSnapshot,
} from './changes.js';
import {
  Cookie,
  type CookieOptions,
  cookieShape,
  hasShape,
  readCookieValues,
  restoreCookie,
  serializeClearingCookie,
  serializeSessionCookie,
} from './cookie.js';
import { type RequestTrace, requestTrace, resolveLogger, type SessionLogger, updateReason } from './debug.js';
import {
  isTraced,
  publishEvent,
  publishInvalid,
  publishLogin,
  publishLogout,
  type StoreKind,
  type StoreOperation,
  storeKindOf,
  traceRefusal,
  traceStoreCall,
  traceStoreCallSync,
} from './diagnostics.js';
import {
  CorruptSessionError,
  SecretRequiredError,
  SessionError,
  SessionNotFoundError,
  SessionTooLargeError,
  StoreUnavailableError,
} from './errors.js';
import { generateId, isWellFormedId, storageKey } from './id.js';
import {
  type ResolvedOptions,
  resolveOptions,
  type SessionOptions,
  type SessionRequestLike,
  validateCookie,
} from './options.js';
import { renewedId } from './renewal.js';
import { stringifyJson, validateRecord } from './serializer.js';
import { Session, type SessionController, type SessionState } from './session.js';
import { type Secret, sign, unsign } from './signature.js';
import type { SessionDelta, SessionRecord } from './types.js';

/** What the middleware puts on the request, as express-session does. */
export interface SessionCarrier {
  session?: Session | null;
  sessionID?: string;
  sessionStore?: SessionStore | ExpressStoreLike;
}

interface RequestContext {
  session: Session;
  cookieOptions: CookieOptions;
  /** The ID the request's cookie carried, verified and well-formed (whether or not the store had it). */
  presentedId: string | null;
  /** The cookie was verified by an older secret: the response re-signs it with the newest (C35). */
  resign: boolean;
  /** The store failed and `onStoreError: 'anonymous'`: nothing is stored, no cookie is sent. */
  ephemeral: boolean;
  /** This request destroyed or replaced the session its cookie named. */
  ended: boolean;
  secure: boolean | null;
  /** Session operations still running (a destroy() whose callback the app did not wait for). */
  pending: Set<Promise<unknown>> | null;
  /** The commit's store write while it runs: a save() called meanwhile waits for it instead of racing it. */
  writing: Promise<unknown> | null;
  /** What this request signs and verifies with: the `secret` option, or the request's `req.secret`. */
  secrets: readonly Secret[];
  /** The store as this request talks to it (see `channel`). */
  store: SessionStore;
  /** The commit's write carries nothing the application changed (a touch, a resave, an empty new session). */
  quiet: boolean;
  /** An error of such a write, reported to `next(err)` once the response is out (see `reportLate`). */
  late: unknown;
}

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

/** Longest stale cookie candidates tried per request (duplicate names, B04). */
const MAX_CANDIDATES = 4;
/** Browsers drop cookies over 4096 bytes (name + value + attributes). */
const MAX_COOKIE_BYTES = 4096;

type WriteResult = 'create' | 'update' | 'touch' | 'none' | 'lost';

/**
 * The framework-agnostic core: reads the cookie, loads the session, and at the end of the request
 * decides what to write and which Set-Cookie to send. Adapters call `open` and `commit`.
 *
 * Events: `error` (corrupt records, store failures absorbed by `onStoreError: 'anonymous'`),
 * `create`, `destroy`, `regenerate`, `unknown` (a correctly signed ID the store does not have: expired,
 * revoked or guessed), each with the session's handle, never its ID; `invalid` (a cookie that failed its
 * signature or shape check).
 */
export class SessionManager<Req extends SessionRequestLike = SessionRequestLike>
  extends EventEmitter
  implements SessionController
{
  readonly options: ResolvedOptions<Req>;
  readonly store: SessionStore;
  /** The store as given (what `req.sessionStore` shows). */
  readonly userStore: SessionStore | ExpressStoreLike;
  private storeReady = true;
  /** The store is sessionkit's own MemoryStore (exactly that class): its own methods settle in-process. */
  private readonly inProcess: boolean;
  private readonly warned = new Set<string>();
  /** What diagnostics_channel messages and metrics call the store. */
  readonly storeKind: StoreKind;
  /** The NODE_DEBUG=sessionkit decision trace; `null` when it is off. */
  readonly trace: RequestTrace | null;
  private readonly logger: SessionLogger | null;
  /**
   * Where each request's bookkeeping is kept: a symbol-keyed property on the request, one per manager
   * (invisible to `Object.keys`, `for…in` and JSON). Not a WeakMap: every request would add an entry whose
   * key dies young, and V8 clears such entries only in a full collection, after scanning the whole table
   * at every scavenge before it. Express's requests are in dictionary mode by then (see the adapter), where
   * one more property is a hash insert.
   */
  private readonly contextKey = Symbol('sessionkit.context');
  /**
   * Adapter hook: whether a request arrived over HTTPS when `proxy` is left unset, i.e. by the framework's
   * own proxy trust. Express's `req.secure` by default; an adapter whose requests say it another way
   * (Fastify's `request.protocol` under its `trustProxy`) replaces it once, at setup.
   */
  secureOf: (req: Req) => boolean = frameworkSecure;
  /** The store behind a bridge, once the application replaced one of its express-session methods (see `channel`). */
  private expressWay: ExpressStoreBridge | null = null;
  /** The store's express-session methods as `channel` last judged them, and its verdict. */
  private readonly judged: unknown[] = [];
  private judgedWay: SessionStore | null = null;

  constructor(options: SessionOptions<Req>) {
    super();
    this.options = resolveOptions(options);
    this.logger = resolveLogger(options.logger);
    this.trace = requestTrace(this.logger);
    const given = this.options.store ?? new MemoryStore();
    this.userStore = given;
    const native = isNativeStore(given) ? given : new ExpressStoreBridge(given, this.options.ttl);
    const { keyring } = this.options;
    this.store = keyring ? new EncryptedStore(native, keyring) : native;
    this.inProcess = Object.getPrototypeOf(this.store) === MemoryStore.prototype;
    this.storeKind = storeKindOf(given, this.store === given);
    if (given instanceof EventEmitter) {
      // express-session's contract: a store may announce that it lost or regained its backend.
      given.on('disconnect', () => {
        this.storeReady = false;
      });
      given.on('connect', () => {
        this.storeReady = true;
      });
      given.on('corrupt', (error: unknown) => this.report(error));
    }
    for (const warning of this.options.warnings) this.warnOnce(warning);
  }

  /**
   * Loads the request's session, or makes a fresh one, and puts it on `req.session`. Without a session
   * cookie there is nothing to load: the fresh session is there when this returns, with no promise.
   */
  open(req: Req & SessionCarrier): undefined | null | Promise<void> {
    const cookieOptions = this.cookieOptionsFor(req);
    // Outside the cookie's Path the browser would never send the cookie back: no session at all (`null`),
    // as express-session skips such requests.
    if (this.outsidePath(req, cookieOptions)) return null;
    const context = this.newContext(req, cookieOptions, this.options.secrets ?? requestSecret(req));
    let candidates = readCookieValues(req.headers.cookie, this.options.name);
    if (candidates.length === 0) candidates = this.parsedCookie(req, context);
    if (candidates.length === 0) {
      this.generate(req, context);
      this.trace?.opened(req.url, req.sessionID as string, 'fresh', 'no session cookie');
      return undefined;
    }
    try {
      return this.loadFromCookies(req, context, candidates, 0);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Tries the cookie's candidate IDs from `from` on, in order, and attaches the first the store has. With
   * sessionkit's own MemoryStore the reads are synchronous and so is all of this (`undefined`): no promise,
   * no microtask, and the application runs in the same tick, as without a cookie.
   */
  private loadFromCookies(
    req: Req & SessionCarrier,
    context: RequestContext,
    candidates: string[],
    from: number,
  ): undefined | Promise<void> {
    const last = Math.min(candidates.length, MAX_CANDIDATES);
    for (let i = from; i < last; i++) {
      const id = this.verify(candidates[i] as string, context.secrets);
      if (id === null) continue;
      context.presentedId ??= id.value;
      if (!this.storeReady)
        throw traceRefusal(
          this.storeKind,
          'get',
          id.value,
          new StoreUnavailableError('get', 'the store reported a disconnect'),
        );
      const getNow = context.store === this.store ? this.storeNow('get') : null;
      const loaded = getNow ? this.loadNow(id.value, getNow) : this.load(context.store, id.value);
      if (loaded instanceof Promise) {
        return loaded.then((record) =>
          record
            ? this.adopt(req, context, id, record)
            : this.loadFromCookies(req, context, candidates, i + 1),
        );
      }
      if (loaded !== null) return this.adopt(req, context, id, loaded);
    }
    // A correctly signed ID the store does not have: expired, revoked, or guessed (C30, C34).
    if (context.presentedId !== null) this.emitFor('unknown', context.presentedId);
    this.generate(req, context);
    this.trace?.opened(
      req.url,
      req.sessionID as string,
      'fresh',
      context.presentedId ? 'unknown ID' : 'invalid cookie',
    );
    return undefined;
  }

  private adopt(
    req: Req & SessionCarrier,
    context: RequestContext,
    id: { value: string; secretIndex: number },
    record: SessionRecord,
  ): undefined | Promise<void> {
    if (record.data[RENEWED_KEY] !== undefined) return this.followRenewal(req, context, id.value);
    context.presentedId = id.value;
    context.resign = id.secretIndex > 0;
    this.attach(req, context, id.value, record);
    this.trace?.opened(
      req.url,
      id.value,
      'loaded',
      context.resign ? 'older secret, re-signed' : 'found in store',
    );
    return undefined;
  }

  /**
   * The cookie named an ID that `renewAfter` moved on within the grace: serve the renewed session and
   * send its cookie (as for a cookie signed by an older secret).
   */
  private async followRenewal(
    req: Req & SessionCarrier,
    context: RequestContext,
    oldId: string,
  ): Promise<void> {
    const next = renewedId(this.renewalSecret(), oldId);
    const record = await this.load(context.store, next);
    if (record === null || record.data[RENEWED_KEY] !== undefined) {
      this.emitFor('unknown', oldId);
      this.generate(req, context);
      return;
    }
    this.adopt(req, context, { value: next, secretIndex: 1 }, record);
  }

  /** A fresh session that is never stored: the `onStoreError: 'anonymous'` fallback. */
  openAnonymous(req: Req & SessionCarrier): void {
    const context =
      this.contextFor(req) ??
      this.newContext(req, this.cookieOptionsFor(req), this.options.secrets ?? requestSecret(req));
    context.ephemeral = true;
    this.generate(req, context);
  }

  /** The request's bookkeeping, put on the request with `req.sessionStore` as express-session does. */
  private newContext(
    req: Req & SessionCarrier,
    cookieOptions: CookieOptions,
    secrets: readonly Secret[],
  ): RequestContext {
    const context: RequestContext = {
      session: undefined as unknown as Session,
      cookieOptions,
      presentedId: null,
      resign: false,
      ephemeral: false,
      ended: false,
      secure: null,
      pending: null,
      writing: null,
      secrets,
      store: this.channel(),
      quiet: false,
      late: undefined,
    };
    (req as unknown as Record<symbol, RequestContext>)[this.contextKey] = context;
    req.sessionStore = this.userStore;
    return context;
  }

  /**
   * Writes what the request changed and returns the Set-Cookie values to send. Runs before the response's
   * first byte, so a redirect after login never reaches a server that has not stored the session.
   * A request that needs no store call (most reads, and no-cookie requests that store nothing) gets its
   * answer at once, not as a promise: no microtask, no held response for it.
   */
  commit(req: Req & SessionCarrier): string[] | Promise<string[]> {
    const context = this.contextFor(req);
    if (!context || context.ephemeral) return [];
    // As express-session: an ID the application replaced with a non-string names no session to store.
    if (typeof req.sessionID !== 'string') return [];
    // An app may answer without waiting for destroy()/regenerate(): finish them before the first byte.
    if (context.pending !== null && context.pending.size > 0)
      return Promise.allSettled([...context.pending]).then(() => this.commit(req));
    const session = context.session;
    if (req.session !== session) {
      // The application removed req.session (express-session's `unset`), or destroy() did.
      if (!context.ended && this.options.unset === 'destroy' && req.session == null) {
        return this.endStored(context.store, sessionStateOf(session).id).then(() => {
          context.ended = true;
          return this.commit(req);
        });
      }
      return context.ended && context.presentedId ? [this.clearingCookie(req, context)] : [];
    }
    session.cookie.resetMaxAge();
    const { renewAfter } = this.options;
    if (renewAfter !== undefined) {
      const state = sessionStateOf(session);
      if (!state.isNew && Date.now() - state.renewedAt >= renewAfter)
        return this.renew(req, session).then((result) => this.cookiesAfter(req, context, session, result));
    }
    let wrote = this.write(session, false, context);
    if (typeof wrote === 'string') return this.cookiesAfter(req, context, session, wrote);
    if (context.store instanceof ExpressStoreBridge) wrote = this.lateFailure(context, wrote);
    context.writing = wrote;
    return wrote.then((result) => {
      context.writing = null;
      return this.cookiesAfter(req, context, session, result);
    });
  }

  /**
   * While `commit` waits for its store write: the Set-Cookie values it returns if the write succeeds as
   * expected (a create creates, an update or touch finds the record). The adapter puts them on the held
   * response at the call, so header hooks and `getHeader` see them as with express-session, and corrects
   * the header in the rare other case. `null` when more than the write decides (operations pending).
   */
  expectedCookies(req: Req & SessionCarrier): string[] | null {
    const context = this.contextFor(req);
    if (!context || context.ephemeral || context.writing === null) return null;
    const session = context.session;
    if (req.session !== session) return null;
    const state = sessionStateOf(session);
    if (state.isNew) {
      const header = this.sessionCookie(req, context, session);
      return header ? [header] : [];
    }
    // The write is still in flight, so `dataWritten` is not set yet: what it will write decides.
    const modified = state.userId !== state.storedUserId || diff(session, state.snapshot).changed;
    const updating =
      this.options.resave ||
      modified ||
      state.cookieSnapshot === null ||
      !hasShape(session.cookie, state.cookieSnapshot);
    return this.cookiesAfter(req, context, session, updating ? 'update' : 'touch', modified);
  }

  /**
   * After the response started: stores what the request changed since its first byte (a Server-Sent
   * Events handler, or a change between `write()` and `end()`), as express-session saves at `end()`.
   * Nothing when nothing changed, and `undefined` when done in this tick (the in-process MemoryStore).
   * No cookie can go out any more: a session the browser does not hold yet is not created (warned once).
   */
  commitLate(req: Req & SessionCarrier): undefined | Promise<void> {
    const context = this.contextFor(req);
    if (!context || context.ephemeral) return undefined;
    if (context.pending !== null && context.pending.size > 0)
      return Promise.allSettled([...context.pending]).then(() => this.commitLate(req));
    const session = context.session;
    if (req.session !== session) {
      if (!context.ended && this.options.unset === 'destroy' && req.session == null) {
        context.ended = true;
        return this.destroyStored(context.store, sessionStateOf(session).id);
      }
      return undefined;
    }
    const state = sessionStateOf(session);
    const changed =
      state.touched || state.userId !== state.storedUserId || diff(session, state.snapshot).changed;
    if (!changed) return undefined;
    if (state.isNew) {
      this.warnOnce('a new session was changed after the response started; its cookie could not be sent');
      return undefined;
    }
    const wrote = this.write(session, true, context);
    return typeof wrote === 'string' ? undefined : wrote.then(() => undefined);
  }

  /**
   * Runs a req.session operation so that a commit starting before it settles waits for all of it: an app
   * may call save(), regenerate() or destroy() without waiting and answer at once (express-session
   * finishes them before the response, so a redirect after an un-awaited save still carries the cookie).
   */
  private joined(session: Session, work: Promise<void>): Promise<void> {
    const context = this.contextFor(session.req as SessionCarrier);
    return context === undefined ? work : this.track(context, work);
  }

  /**
   * As express-session: a write to an express-session store that carries nothing the application changed
   * (a touch, a resave, an empty new session) does not hold back the response when it fails; its error is
   * kept for `next(err)` once the response is out. A failed write of a change still fails the response.
   */
  private lateFailure(context: RequestContext, wrote: Promise<WriteResult>): Promise<WriteResult> {
    return wrote.catch((error: unknown) => {
      if (!context.quiet) throw error;
      context.late = error;
      return 'none';
    });
  }

  /**
   * Hands an error kept by `lateFailure` to `next` once the response has gone out (an Express app's error
   * handler sees it as express-session's tests do, on a response already sent).
   */
  reportLate(req: Req & SessionCarrier, res: NodeJS.WritableStream, next: (error: unknown) => void): void {
    const context = this.contextFor(req);
    if (context === undefined || context.late === undefined) return;
    const { late } = context;
    context.late = undefined;
    // As any store failure under `onStoreError: 'anonymous'`: reported, not passed on.
    const absorbed =
      this.options.onStoreError === 'anonymous' &&
      ((late instanceof SessionError && late.status === 503) || isConnectionError(late));
    finished(res, () => (absorbed ? this.report(late) : next(late)));
  }

  /** The Set-Cookie values once `write` did what it did. */
  private cookiesAfter(
    req: Req & SessionCarrier,
    context: RequestContext,
    session: Session,
    wrote: WriteResult,
    modifiedInFlight = false,
  ): string[] {
    const state = sessionStateOf(session);
    const send =
      state.issueCookie ||
      (!state.isNew &&
        wrote !== 'lost' &&
        (this.options.rolling ||
          context.resign ||
          // express-session's rule: a modified session whose cookie has an expiry. A resave or a touch is no
          // modification (re-sending would extend the browser's expiry on every request, as `rolling`).
          ((state.dataWritten || modifiedInFlight) && session.cookie.expires !== null) ||
          // Against what the browser holds, not what the store holds: a write (or an explicit save()) of
          // a changed cookie has already brought the store's snapshot up to date.
          state.browserCookie === null ||
          !hasShape(session.cookie, state.browserCookie)));
    if (send) {
      const header = this.sessionCookie(req, context, session);
      this.trace?.cookie(
        state.id,
        header ? 'sent' : 'not sent',
        header ? `after ${wrote}` : 'Secure cookie on plain HTTP',
      );
      return header ? [header] : [];
    }
    // A request that ended its session and stored no new one tells the browser to forget the cookie (C15).
    if (context.ended && context.presentedId && state.isNew) return [this.clearingCookie(req, context)];
    this.trace?.cookie(state.id, 'not sent', state.isNew ? 'nothing stored' : 'browser has it');
    return [];
  }

  /**
   * Moves a session to its derived new ID (C13): the new record first, with everything the session holds
   * now; then the old record becomes a marker for `renewGrace`. Requests that loaded the old record
   * before the move are due too, find the new record already there, and write their own changes into it
   * as a delta, so none of them is lost or logged out.
   */
  private async renew(req: Req & SessionCarrier, session: Session): Promise<WriteResult> {
    const state = sessionStateOf(session);
    const oldId = state.id;
    const newId = renewedId(this.renewalSecret(), oldId);
    const now = Date.now();
    const data = dataOf(session);
    this.checkSize(data);
    const extra: Record<string, unknown> = { [RENEWED_AT_KEY]: now };
    if (state.authTime !== null) extra[AUTH_TIME_KEY] = state.authTime;
    const cookie = session.cookie.data;
    const { store } = this;
    const created = await this.call(store, 'create', () =>
      store.create(newId, {
        data: { ...data, ...extra },
        cookie,
        expiresAt: this.expiresAt(session, state, now),
        createdAt: state.createdAt,
        lastSeenAt: now,
        userId: state.userId,
      }),
    );
    state.id = newId;
    req.sessionID = newId;
    state.renewedAt = now;
    if (!created) {
      state.issueCookie = true;
      return this.write(session, false, this.contextOf(req));
    }
    // The old record may have ended since this request loaded it (a logout, a revoke-all, or a renewal
    // whose result was then logged out): the new record must not outlive it.
    const old = await this.call(store, 'get', () => store.get(oldId));
    if (old === null || old.data[RENEWED_KEY] !== undefined) {
      await this.destroyStored(store, newId);
      return 'lost';
    }
    state.issueCookie = true;
    this.markSaved(session, state, now, data);
    await this.call(store, 'set', () =>
      store.set(oldId, {
        data: { [RENEWED_KEY]: now },
        cookie,
        expiresAt: now + this.options.renewGrace,
        createdAt: state.createdAt,
        lastSeenAt: now,
        userId: null,
      }),
    );
    this.emitFor('regenerate', newId);
    return 'create';
  }

  // ---- SessionController: what req.session's methods do ----

  regenerate(session: Session, keep: boolean): Promise<void> {
    return this.joined(session, this.regenerateNow(session, keep));
  }

  private async regenerateNow(session: Session, keep: boolean): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = this.contextOf(req);
    const state = sessionStateOf(session);
    await this.track(context, this.endStored(context.store, state.id));
    context.ended = true;
    const next = this.generate(req, context, keep ? dataOf(session) : undefined);
    if (keep) {
      sessionStateOf(next).userId = state.userId;
      sessionStateOf(next).authTime = state.authTime;
    }
    this.emitFor('regenerate', sessionStateOf(next).id);
  }

  destroy(session: Session): Promise<void> {
    return this.joined(session, this.destroyNow(session));
  }

  private async destroyNow(session: Session): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = this.contextOf(req);
    // As express-session: req.session is gone at once, even before the store confirms.
    context.ended = true;
    if (req.session === session) req.session = undefined;
    await this.track(context, this.endStored(context.store, sessionStateOf(session).id));
  }

  private async track<T>(context: RequestContext, work: Promise<T>): Promise<T> {
    // Made on first use: most requests never run a session operation of their own.
    context.pending ??= new Set();
    context.pending.add(work);
    try {
      return await work;
    } finally {
      context.pending?.delete(work);
    }
  }

  async reload(session: Session): Promise<void> {
    const state = sessionStateOf(session);
    const record = await this.load(this.contextOf(session.req as SessionCarrier).store, state.id);
    if (!record) throw new SessionNotFoundError('reload');
    for (const key of Object.keys(session))
      if (key !== 'cookie') delete (session as unknown as Record<string, unknown>)[key];
    const data = withoutReserved(record.data);
    for (const key of Object.keys(data)) {
      if (!(key in session)) (session as unknown as Record<string, unknown>)[key] = data[key];
    }
    state.snapshot = takeSnapshot(data);
    state.userId = state.storedUserId = record.userId;
    state.authTime = state.storedAuthTime = storedAuthTime(record.data);
    state.lastSeenAt = record.lastSeenAt;
  }

  save(session: Session): Promise<void> {
    return this.joined(session, this.saveNow(session));
  }

  private async saveNow(session: Session): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = this.contextOf(req);
    if (context.ephemeral) return;
    // The commit's own write is in flight (the response started): write after it, never beside it.
    if (context.writing !== null) await context.writing.catch(() => undefined);
    const result = await this.write(session, true, context);
    if (result === 'lost') throw new SessionNotFoundError('save');
    sessionStateOf(session).saved = true;
  }

  login(session: Session, userId: string): Promise<void> {
    return this.joined(session, this.loginNow(session, userId));
  }

  private async loginNow(session: Session, userId: string): Promise<void> {
    if (!userId) throw new SessionError('ERR_INVALID_USER', 'sessionkit: login() needs a non-empty user ID');
    // Before the old session is destroyed: a user ID the store refuses leaves the user as they were.
    checkStoreUserId(this.store, 'login', userId);
    await this.regenerate(session, true);
    const req = session.req as Req & SessionCarrier;
    const state = sessionStateOf(this.contextOf(req).session);
    state.userId = userId;
    state.authTime = Date.now();
    publishLogin(this.storeKind, sessionStateOf(session).id, req.sessionID as string, userId);
  }

  async reauthenticate(session: Session): Promise<void> {
    const userId = sessionStateOf(session).userId;
    if (userId === null)
      throw new SessionError('ERR_INVALID_USER', 'sessionkit: reauthenticated() needs a session with a user');
    // A fresh proof of identity is an authentication: the ID moves, as at login, so a copy of the old
    // cookie taken before (a leak, a shared machine) does not inherit the new privilege.
    await this.login(session, userId);
  }

  async logout(session: Session): Promise<void> {
    await this.regenerate(session, false);
    publishLogout(
      this.storeKind,
      session.id,
      (session.req as SessionCarrier).sessionID as string,
      session.currentUserId(),
    );
  }

  // ---- internals ----

  /**
   * Writes the session if the rules say so. `force` is an explicit save(). Says what happened:
   * 'create' | 'update' | 'touch' | 'none', or 'lost' when the store no longer had the session. Decides
   * synchronously: 'none' comes back at once, a store call as a promise.
   */
  private write(
    session: Session,
    force: boolean,
    context: RequestContext,
  ): WriteResult | Promise<WriteResult> {
    const state = sessionStateOf(session);
    const { store } = context;
    const now = Date.now();
    const expiresAt = this.expiresAt(session, state, now);
    const userChanged = state.userId !== state.storedUserId;
    const authChanged = state.authTime !== state.storedAuthTime;
    if (state.isNew) {
      if (!force && !this.options.saveUninitialized && state.userId === null && !hasData(session)) {
        this.trace?.write(state.id, 'none', 'new and uninitialized (saveUninitialized: false)');
        return 'none';
      }
      this.trace?.write(state.id, 'create', force ? 'save() called' : 'new session');
      const data = dataOf(session);
      this.checkSize(data);
      context.quiet = !force && state.userId === null && !hasData(session);
      return this.createStored(store, session, state, {
        data: state.authTime === null ? data : { ...data, [AUTH_TIME_KEY]: state.authTime },
        cookie: session.cookie.data,
        expiresAt,
        createdAt: state.createdAt,
        lastSeenAt: now,
        userId: state.userId,
      });
    }
    const { resave } = this.options;
    // Also under resave, which writes the whole session anyway: whether the data changed decides the cookie.
    const changes = diff(session, state.snapshot);
    const cookieChanged = state.cookieSnapshot === null || !hasShape(session.cookie, state.cookieSnapshot);
    // As express-session: resave writes a session the application did not save itself during the request.
    if ((resave && !state.saved) || force || changes.changed || cookieChanged || userChanged || authChanged) {
      context.quiet = !force && !changes.changed && !cookieChanged && !userChanged && !authChanged;
      // resave: express-session's whole-object write; otherwise only the keys this request changed.
      let delta: SessionDelta;
      if (resave) {
        const data = dataOf(session);
        this.checkSize(data);
        delta = {
          set: data,
          unset: [],
          replace: true,
          cookie: session.cookie.data,
          expiresAt,
          lastSeenAt: now,
        };
      } else {
        // The exact size needs the whole data as JSON: only worth making when the bound says it might be over.
        if (changes.boundBytes > this.options.maxSessionBytes) this.checkSize(dataOf(session));
        delta = {
          set: changes.set,
          unset: changes.unset,
          cookie: session.cookie.data,
          expiresAt,
          lastSeenAt: now,
          // Checked again by the store on the merged data: concurrent requests cannot add up past it.
          maxBytes: this.options.maxSessionBytes,
        };
      }
      if (userChanged) delta.userId = state.userId;
      if (resave ? state.authTime !== null : authChanged) {
        // A new object: `changes.set` is what the snapshot records, and the snapshot never holds this key.
        if (state.authTime !== null) delta.set = { ...delta.set, [AUTH_TIME_KEY]: state.authTime };
        else delta.unset = [...delta.unset, AUTH_TIME_KEY];
      }
      if (resave && state.renewedAt !== state.createdAt)
        delta.set = { ...delta.set, [RENEWED_AT_KEY]: state.renewedAt };
      this.trace?.write(state.id, 'update', updateReason(resave, force, changes, cookieChanged, userChanged));
      return this.updateStored(
        store,
        session,
        state,
        delta,
        resave ? null : changes,
        now,
        changes.changed || userChanged,
      );
    }
    // A store whose express-session methods the application replaced is touched as express-session touches:
    // on every request that does not save (its `touch` may be a test's double that counts or fails).
    if (state.touched || store === this.expressWay || now - state.lastSeenAt >= this.touchAfter(session)) {
      context.quiet = true;
      this.trace?.write(state.id, 'touch', state.touched ? 'touch() called' : 'touchAfter passed');
      return this.touchStored(store, state, expiresAt, now);
    }
    this.trace?.write(state.id, 'none', 'unchanged, touched recently');
    return 'none';
  }

  private createStored(
    store: SessionStore,
    session: Session,
    state: SessionState,
    record: SessionRecord,
  ): WriteResult | Promise<WriteResult> {
    // The answers are handed over as anonymous functions: the build keeps names (keepNames) by naming each
    // named function when it is made, which would cost a call per request here.
    return this.viaStore(store, 'create', [state.id, record], (ok: boolean): WriteResult => {
      if (!ok)
        throw new SessionError('ERR_SESSION_EXISTS', 'sessionkit: a session with the generated ID exists');
      this.markSaved(session, state, record.lastSeenAt, record.data);
      state.isNew = false;
      state.issueCookie = true;
      this.emitFor('create', state.id);
      return 'create';
    });
  }

  private updateStored(
    store: SessionStore,
    session: Session,
    state: SessionState,
    delta: SessionDelta,
    changes: Changes | null,
    now: number,
    modified: boolean,
  ): WriteResult | Promise<WriteResult> {
    if (store === this.expressWay) {
      // express-session saves by writing the whole session (`set`), which its doubles count and fail.
      const record: SessionRecord = {
        data: dataOf(session),
        cookie: session.cookie.data,
        expiresAt: delta.expiresAt,
        createdAt: state.createdAt,
        lastSeenAt: now,
        userId: state.userId,
      };
      return this.call(store, 'set', () => store.set(state.id, record)).then(() =>
        this.updated(true, session, state, delta, changes, now, modified),
      );
    }
    return this.viaStore(store, 'update', [state.id, delta], (ok: boolean) =>
      this.updated(ok, session, state, delta, changes, now, modified),
    );
  }

  private updated(
    ok: boolean,
    session: Session,
    state: SessionState,
    delta: SessionDelta,
    changes: Changes | null,
    now: number,
    modified: boolean,
  ): WriteResult {
    if (!ok) return 'lost';
    if (modified) state.dataWritten = true;
    if (changes !== null) {
      recordWritten(state.snapshot, changes);
      this.markSaved(session, state, now, null);
    } else {
      this.markSaved(session, state, now, delta.set);
    }
    return 'update';
  }

  private touchStored(
    store: SessionStore,
    state: SessionState,
    expiresAt: number,
    now: number,
  ): WriteResult | Promise<WriteResult> {
    return this.viaStore(store, 'touch', [state.id, expiresAt, now], (ok: boolean): WriteResult => {
      if (!ok) return 'lost';
      state.lastSeenAt = now;
      state.touched = false;
      return 'touch';
    });
  }

  /** Records what the store now holds; `data: null` when the snapshot was already brought up to date. */
  private markSaved(
    session: Session,
    state: SessionState,
    now: number,
    data: Record<string, unknown> | null = dataOf(session),
  ): void {
    if (data !== null) state.snapshot = takeSnapshot(data);
    state.cookieSnapshot = cookieShape(session.cookie);
    state.storedUserId = state.userId;
    state.storedAuthTime = state.authTime;
    state.lastSeenAt = now;
    state.touched = false;
  }

  private checkSize(data: Record<string, unknown>): void {
    const bytes = Buffer.byteLength(stringifyJson(data));
    if (bytes > this.options.maxSessionBytes)
      throw new SessionTooLargeError(bytes, this.options.maxSessionBytes);
  }

  /** The idle deadline (cookie expiry, or now + ttl for browser-session cookies), capped by the absolute timeout. */
  private expiresAt(session: Session, state: SessionState, now: number): number {
    const idle = session.cookie.expires ? session.cookie.expires.valueOf() : now + this.options.ttl;
    const { absoluteTimeout } = this.options;
    return absoluteTimeout === undefined ? idle : Math.min(idle, state.createdAt + absoluteTimeout);
  }

  private touchAfter(session: Session): number {
    if (this.options.touchAfter !== undefined) return this.options.touchAfter;
    const lifetime = session.cookie.originalMaxAge ?? this.options.ttl;
    return Math.min(60_000, lifetime / 10);
  }

  private verify(raw: string, secrets: readonly Secret[]): { value: string; secretIndex: number } | null {
    // express-session's format: "s:" + signed ID. An unsigned value is never adopted (C03, B07).
    const unsigned = raw.startsWith('s:') ? unsign(raw.slice(2), secrets) : null;
    if (!unsigned || !isWellFormedId(unsigned.value, this.options.genid !== undefined)) {
      if (this.listenerCount('invalid') > 0)
        this.emit('invalid', { reason: unsigned ? 'malformed-id' : 'bad-signature' });
      publishInvalid(this.storeKind, unsigned ? 'malformed-id' : 'bad-signature');
      return null;
    }
    return unsigned;
  }

  /** Reads a record; corrupt or past the absolute timeout counts as absent (and is removed). */
  private async load(store: SessionStore, id: string): Promise<SessionRecord | null> {
    let verdict: ReturnType<typeof this.judge>;
    try {
      verdict = this.judge(await this.call(store, 'get', () => store.get(id), id));
    } catch (error) {
      // express-session reads an express-session store's ENOENT as "no such session".
      if (store instanceof ExpressStoreBridge && (error as { code?: unknown } | null)?.code === 'ENOENT')
        verdict = null;
      else verdict = this.corrupt(error);
    }
    if (verdict === 'corrupt') await this.destroyStored(store, id).catch(() => undefined);
    else if (verdict === 'expired') await this.destroyStored(store, id);
    return typeof verdict === 'string' ? null : verdict;
  }

  /**
   * The synchronous twin of a store method: only on sessionkit's own MemoryStore whose method is its own
   * (behind the express-session bridge every store gets), not wrapped or replaced since. A request on it
   * is then loaded and committed in the same tick, with no promise and no held response.
   */
  private storeNow<K extends keyof MemoryStoreNow>(operation: K): MemoryStoreNow[K] | null {
    if (this.isOwnMethod(operation)) return (this.store as MemoryStore)[NOW][operation];
    // A store over an in-process one (encryption at rest) may offer the same twins itself.
    return syncTwin(this.store, operation);
  }

  /**
   * Whether the store's `operation` is the in-process MemoryStore's own method, seen through the
   * express-session bridge: not wrapped or replaced, before or after this manager was made (a spy, or a
   * test's hanging stub, is bounded as any other store's method).
   */
  private isOwnMethod(operation: string): boolean {
    if (!this.inProcess) return false;
    const method = (this.store as unknown as Record<string, unknown>)[operation];
    return unbridged(method) === (MemoryStore.prototype as unknown as Record<string, unknown>)[operation];
  }

  /**
   * A store write whose answer `then` interprets: in the same tick on the in-process MemoryStore, else
   * through `call`, bounded and with failures mapped to typed errors either way.
   */
  private viaStore<K extends 'create' | 'update' | 'touch', R>(
    store: SessionStore,
    operation: K,
    args: Parameters<MemoryStoreNow[K]>,
    then: (ok: boolean) => R,
  ): R | Promise<R> {
    const now =
      store === this.store ? (this.storeNow(operation) as ((...args: unknown[]) => boolean) | null) : null;
    if (now !== null) return then(callNow(operation, () => now(...args), this.storeKind, args[0] as string));
    const method = store[operation] as (...args: unknown[]) => Promise<boolean>;
    return this.call(store, operation, () => method.apply(store, args), args[0] as string).then(then);
  }

  /** A CorruptSessionError (from the store or from `validateRecord`) is reported and means 'corrupt'; any other error is rethrown. */
  private corrupt(error: unknown): 'corrupt' {
    if (!(error instanceof CorruptSessionError)) throw error;
    this.report(error);
    return 'corrupt';
  }

  /** `load` for the in-process MemoryStore: the same checks, synchronously. */
  private loadNow(id: string, get: MemoryStoreNow['get']): SessionRecord | null {
    const found = callNow('get', () => get(id), this.storeKind, id);
    const verdict = this.judge(found);
    // Its destroy runs to completion before returning; only the `destroy` event waits for a microtask.
    if (typeof verdict === 'string')
      this.destroyStored(this.store, id).catch((error: unknown) => this.report(error));
    return typeof verdict === 'string' ? null : verdict;
  }

  /**
   * What a store's answer means: the record, `null` when it had none, or a record to remove because it is
   * corrupt (reported; any store, ours or a bridged one, may hand back a malformed record, B18) or past
   * its deadline or the absolute timeout.
   */
  private judge(found: unknown): SessionRecord | null | 'corrupt' | 'expired' {
    if (found === null || found === undefined) return null;
    let record: SessionRecord;
    try {
      record = validateRecord(found);
    } catch (error) {
      return this.corrupt(error);
    }
    const now = Date.now();
    const { absoluteTimeout } = this.options;
    if (
      record.expiresAt <= now ||
      (absoluteTimeout !== undefined && record.createdAt + absoluteTimeout <= now)
    ) {
      return 'expired';
    }
    return record;
  }

  private attach(
    req: Req & SessionCarrier,
    context: RequestContext,
    id: string,
    record: SessionRecord,
  ): void {
    const cookie = restoreCookie(record.cookie, record.expiresAt);
    const shape = cookieShape(cookie);
    const authTime = storedAuthTime(record.data);
    const state: SessionState = {
      id,
      isNew: false,
      snapshot: takeSnapshot(record.data),
      cookieSnapshot: shape,
      browserCookie: shape,
      userId: record.userId,
      storedUserId: record.userId,
      authTime,
      storedAuthTime: authTime,
      renewedAt: storedTime(record.data, RENEWED_AT_KEY) ?? record.createdAt,
      createdAt: record.createdAt,
      lastSeenAt: record.lastSeenAt,
      touched: false,
      issueCookie: false,
      dataWritten: false,
      saved: false,
    };
    this.install(req, context, new Session(this, req, state, cookie, withoutReserved(record.data)));
  }

  private generate(
    req: Req & SessionCarrier,
    context: RequestContext,
    data?: Record<string, unknown>,
  ): Session {
    const id = this.options.genid ? this.options.genid(req) : generateId();
    if (typeof id !== 'string' || !isWellFormedId(id, this.options.genid !== undefined)) {
      throw new SessionError(
        'ERR_INVALID_ID',
        'sessionkit: genid() must return a cookie-safe string of 1–256 characters',
      );
    }
    const cookie = this.newCookie(req, context);
    const now = Date.now();
    // Neither the store nor the browser has this session: nothing to compare its cookie with until it is
    // stored (which takes its snapshot), and the cookie goes out whenever it is.
    const state: SessionState = {
      id,
      isNew: true,
      snapshot: EMPTY_SNAPSHOT,
      cookieSnapshot: null,
      browserCookie: null,
      userId: null,
      storedUserId: null,
      authTime: null,
      storedAuthTime: null,
      renewedAt: now,
      createdAt: now,
      lastSeenAt: now,
      touched: false,
      issueCookie: false,
      dataWritten: false,
      saved: false,
    };
    const session = new Session(this, req, state, cookie, data);
    this.install(req, context, session);
    return session;
  }

  private install(req: Req & SessionCarrier, context: RequestContext, session: Session): void {
    context.session = session;
    req.session = session;
    req.sessionID = sessionStateOf(session).id;
  }

  private sessionCookie(req: Req & SessionCarrier, context: RequestContext, session: Session): string | null {
    // Only a Secure cookie needs to know whether the request was secure (Express's req.secure is not free).
    if (session.cookie.secure === true && !this.isSecure(req, context)) {
      // express-session silently sends nothing here; say why once (anchors pain 12).
      this.warnOnce(
        'a Secure cookie was not sent on a plain-HTTP request; behind a proxy set `proxy: true` or Express\'s "trust proxy"',
      );
      return null;
    }
    const value = `s:${sign(sessionStateOf(session).id, context.secrets[0] as Secret)}`;
    const header = serializeSessionCookie(this.options.name, value, session.cookie, false);
    if (header.length > MAX_COOKIE_BYTES)
      this.warnOnce('the session cookie is over 4096 bytes; browsers will drop it');
    return header;
  }

  private clearingCookie(req: Req & SessionCarrier, context: RequestContext): string {
    return serializeClearingCookie(this.options.name, this.newCookie(req, context).data, false);
  }

  /** A cookie from this request's options, with `'auto'` resolved and SameSite=Lax unless told otherwise. */
  private newCookie(req: Req & SessionCarrier, context: RequestContext): Cookie {
    const cookie = new Cookie(context.cookieOptions);
    if (cookie.secure === 'auto') cookie.secure = this.isSecure(req, context);
    if (cookie.sameSite === 'auto') cookie.sameSite = this.isSecure(req, context) ? 'none' : 'lax';
    else if (cookie.sameSite === undefined) cookie.sameSite = 'lax';
    return cookie;
  }

  private isSecure(req: Req, context: RequestContext): boolean {
    if (context.secure !== null) return context.secure;
    let secure: boolean;
    if (req.socket?.encrypted || req.connection?.encrypted) secure = true;
    else if (this.options.proxy === false) secure = false;
    else if (this.options.proxy !== true) secure = this.secureOf(req);
    else {
      const header = req.headers['x-forwarded-proto'];
      const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim().toLowerCase();
      secure = first === 'https';
    }
    context.secure = secure;
    return secure;
  }

  private cookieOptionsFor(req: Req): CookieOptions {
    const { cookie } = this.options;
    if (typeof cookie !== 'function') return cookie;
    const options = { ...cookie(req) };
    const warnings: string[] = [];
    validateCookie(this.options.name, options, warnings);
    for (const warning of warnings) this.warnOnce(warning);
    return options;
  }

  /**
   * Ends a session the application ended (destroy, regenerate, login, logout). With `renewAfter`, also
   * the ID a renewal would move it to: a request that loaded this session before the end and renews it
   * after must not bring it back under the new ID (C16).
   */
  /** The newest signing secret: renewal derives the new ID with it (options refuse renewAfter without one). */
  private renewalSecret(): Secret {
    return (this.options.secrets as Secret[])[0] as Secret;
  }

  private async endStored(store: SessionStore, id: string): Promise<void> {
    await this.destroyStored(store, id);
    if (this.options.renewAfter !== undefined)
      await this.destroyStored(store, renewedId(this.renewalSecret(), id));
  }

  private async destroyStored(store: SessionStore, id: string): Promise<void> {
    await this.call(store, 'destroy', () => store.destroy(id), id);
    this.emitFor('destroy', id);
  }

  /**
   * The store as a request talks to it. express-session looks a store's methods up by name on every call,
   * so applications and test suites wrap or replace `get`/`set`/`destroy`/`touch` on the instance
   * (instrumentation, delays, doubles). When one of sessionkit's own stores has such a method that is not
   * its own, the store is spoken to as express-session would: through the bridge, with callbacks, a whole
   * `set` on save and `touch` on unchanged sessions, and every error it reports honoured.
   */
  private channel(): SessionStore {
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
      // Our own methods are the callback-accepting wrappers the Store base installed (see store.ts). A
      // replacement is express-session's kind when it declares express-session's parameters, or is a plain
      // function forwarding whatever it is given (`function () { … apply(this, arguments) }`); one
      // declaring fewer (`(id) => …`) or an async forwarder (instrumentation, proxies) wraps the promise
      // contract and is called as such, keeping the store's atomic merges.
      if (
        typeof method === 'function' &&
        unbridged(method) === method &&
        (method.length >= arity || (method.length === 0 && !isAsync(method)))
      ) {
        this.warnOnce(
          `the store's ${name}() was replaced; it is called as express-session calls it (callbacks, whole-session writes, no atomic merges); wrap it with an async function to keep sessionkit's contract`,
        );
        this.expressWay ??= new ExpressStoreBridge(store as unknown as ExpressStoreLike, this.options.ttl);
        return this.expressWay;
      }
    }
    return store;
  }

  /** Requests outside the cookie's Path (express-session compares the original URL's path with it). */
  private outsidePath(req: Req, cookieOptions: CookieOptions): boolean {
    const path =
      this.options.cookiePath ?? (typeof this.options.cookie === 'function' ? cookieOptions.path : undefined);
    if (path === undefined || path === null || path === '/') return false;
    return !pathnameOf(req.originalUrl ?? req.url ?? '').startsWith(path);
  }

  /**
   * The session cookie as a cookie parser that ran before left it, when the Cookie header no longer has
   * it (express-session's `getcookie`): `req.signedCookies[name]`, already verified by cookie-parser, is
   * signed again for `verify`; `req.cookies[name]` must carry our own signature.
   */
  private parsedCookie(req: Req, context: RequestContext): string[] {
    const { name } = this.options;
    const signed = req.signedCookies?.[name];
    if (typeof signed === 'string' && signed !== '')
      return [`s:${sign(signed, context.secrets[0] as Secret)}`];
    const plain = req.cookies?.[name];
    return typeof plain === 'string' && plain !== '' ? [plain] : [];
  }

  private call<T>(store: SessionStore, operation: string, run: () => Promise<T>, id?: string): Promise<T> {
    if (id !== undefined && isTraced(operation))
      return traceStoreCall(this.storeKind, operation as StoreOperation, id, () =>
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
    return runBounded(operation, this.options.storeTimeout, run, map);
  }

  private contextFor(req: SessionCarrier): RequestContext | undefined {
    return (req as unknown as Record<symbol, RequestContext | undefined>)[this.contextKey];
  }

  private contextOf(req: SessionCarrier): RequestContext {
    const context = this.contextFor(req);
    if (!context) throw new SessionError('ERR_NO_SESSION', 'sessionkit: this request has no session context');
    return context;
  }

  private emitFor(event: string, id: string): void {
    if (this.listenerCount(event) > 0) this.emit(event, { handle: storageKey(id) });
    publishEvent(event, id, this.storeKind);
  }

  /** Reports an absorbed failure on `error` when someone listens; never throws for want of a listener. */
  report(error: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.logger?.error?.(error);
  }

  warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    if (this.logger !== null) this.logger.warn(`sessionkit: ${message}`);
    else process.emitWarning(`sessionkit: ${message}`, { code: 'SESSIONKIT' });
  }
}

function frameworkSecure(req: SessionRequestLike): boolean {
  return req.secure === true;
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

/** The request's `req.secret` (cookie-parser's) as the only secret, when `session()` was given none. */
function requestSecret(req: { secret?: unknown }): Secret[] {
  const { secret } = req;
  if ((typeof secret === 'string' || Buffer.isBuffer(secret)) && secret.length > 0) return [secret];
  throw new SecretRequiredError();
}

/** The path of a request URL: `/a/b` of `/a/b?x`, of `http://host/a/b`, `/` when there is none. */
function pathnameOf(url: string): string {
  let start = 0;
  if (!url.startsWith('/')) {
    const scheme = url.indexOf('://');
    if (scheme === -1) return '/';
    start = url.indexOf('/', scheme + 3);
    if (start === -1) return '/';
  }
  let end = url.length;
  for (const stop of ['?', '#']) {
    const at = url.indexOf(stop, start);
    if (at !== -1 && at < end) end = at;
  }
  return url.slice(start, end) || '/';
}

function sessionStateOf(session: Session): SessionState {
  return Session.stateOf(session);
}
