import { EventEmitter } from 'node:events';
import { finished } from 'node:stream';
import {
  holdsSession,
  isReservedKey,
  RENEWED_AT_KEY,
  RENEWED_KEY,
  storedAuthTime,
  storedTime,
  withoutReserved,
} from '../core/auth-time.js';
import { dataOf, takeSnapshot } from '../core/changes.js';
import { type RequestTrace, requestTrace, resolveLogger, type SessionLogger } from '../core/debug.js';
import { publishEvent, publishLogin, publishLogout, type StoreKind } from '../core/diagnostics.js';
import { SessionError, SessionLimitError, SessionNotFoundError } from '../core/errors.js';
import { EXPRESS_SESSION_ID_BYTES, storageKey } from '../core/id.js';
import { keptId, renewedId } from '../core/renewal.js';
import { stringifyJson } from '../core/serializer.js';
import { Session, type SessionClass, type SessionController, type SessionState } from '../core/session.js';
import type { Secret } from '../core/signature.js';
import { inTurn } from '../core/turns.js';
import type { LimitOutcome, SessionRecord } from '../core/types.js';
import {
  commitLate,
  commitSession,
  expectedCookies,
  renew,
  renewalDue,
  retire,
  storeWithinLimit,
  write,
  writeFollowing,
} from './commit.js';
import {
  beforeCookieChange,
  contextFor,
  contextOf,
  type Engine,
  newContext,
  type RequestContext,
  type SessionCarrier,
  type Successors,
} from './context.js';
import {
  clearingCookie,
  cookieOptionsFor,
  frameworkSecure,
  requestSecret,
  sessionCookie,
} from './cookie-policy.js';
import { generate, install, load, openSession } from './load.js';
import {
  type ResolvedOptions,
  resolveOptions,
  type SessionOptions,
  type SessionRequestLike,
} from './options.js';
import type { UserLimitOption } from './session-limit.js';
import { isStoreFailure, type SessionStore, StoreAccess, type StoreInput } from './store-access.js';
import { followStoreEvents } from './store-events.js';

export type { SessionCarrier };

/**
 * Makes `data` the session's data: the data it holds goes, `data`'s keys come, but `cookie` and
 * sessionkit's reserved keys, which the application never writes.
 */
function putData(session: Session, data: Record<string, unknown>): void {
  const target = session as unknown as Record<string, unknown>;
  for (const key of Object.keys(dataOf(session))) delete target[key];
  for (const [key, value] of Object.entries(data))
    if (key !== 'cookie' && !isReservedKey(key)) target[key] = value;
}

/** See `SessionManager.sessionAtEnd`. */
export interface SessionAtEnd {
  session: Session;
  /** The session's data as JSON at the end. */
  json: string;
}

/** Errors of a commit that refused the session itself, before or without the store failing. */
const REFUSALS = new Set(['ERR_INVALID_COOKIE', 'ERR_SESSION_TOO_LARGE', 'ERR_SESSION_DATA']);

/**
 * The framework-agnostic engine: reads the cookie, loads the session, and at the end of the request
 * decides what to write and which Set-Cookie to send. Adapters call `open` and `commit` (and, around a
 * held or streamed response, `expectedCookies`, `commitLate` and `reportLate`); the work is done by
 * load.ts, commit.ts, cookie-policy.ts and store-access.ts.
 *
 * Events: `error` (corrupt records, store failures absorbed by `onStoreError: 'anonymous'`),
 * `create`, `destroy`, `regenerate`, `unknown` (a correctly signed ID the store does not have: expired,
 * revoked or guessed), each with the session's handle, never its ID; `invalid` (a cookie that failed its
 * signature or shape check); `binding` (with the `binding` option: a loaded session's User-Agent or IP
 * changed; `BindingEvent`, by handle).
 */
export class SessionManager<Req extends SessionRequestLike = SessionRequestLike>
  extends EventEmitter
  implements SessionController, Engine<Req>
{
  readonly options: ResolvedOptions<Req>;
  /** @internal Every store call goes through it (see store-access.ts). */
  readonly access: StoreAccess;
  readonly store: SessionStore;
  /** The store as given (what `req.sessionStore` shows). */
  readonly userStore: StoreInput;
  /** @internal `false` while the store reports its backend disconnected. */
  storeReady = true;
  private readonly warned = new Set<string>();
  /** What diagnostics_channel messages and metrics call the store. */
  readonly storeKind: StoreKind;
  /** The NODE_DEBUG=sessionkit decision trace; `null` when it is off. */
  readonly trace: RequestTrace | null;
  private readonly logger: SessionLogger | null;
  /**
   * @internal Where each request's bookkeeping is kept: a symbol-keyed property on the request, one per
   * manager (invisible to `Object.keys`, `for…in` and JSON). Not a WeakMap: every request would add an
   * entry whose key dies young, and V8 clears such entries only in a full collection, after scanning the
   * whole table at every scavenge before it. Express's requests are in dictionary mode by then (see the
   * adapter), where one more property is a hash insert.
   */
  readonly contextKey = Symbol('sessionkit.context');
  /**
   * Adapter hook: whether a request arrived over HTTPS when `proxy` is left unset, i.e. by the framework's
   * own proxy trust. Express's `req.secure` by default; an adapter whose requests say it another way
   * (Fastify's `request.protocol` under its `trustProxy`) replaces it once, at setup.
   */
  secureOf: (req: Req) => boolean = frameworkSecure;
  /**
   * Adapter hook: the class sessions are made as. An adapter that gives its sessions its framework's
   * methods besides (Fastify's `get`/`set`) sets its subclass once, at setup; the others keep Session,
   * whose data may use those names.
   */
  sessionClass: SessionClass = Session;

  constructor(options: SessionOptions<Req> = {}) {
    super();
    this.options = resolveOptions(options);
    this.logger = resolveLogger(options.logger);
    this.trace = requestTrace(this.logger);
    const { store, ttl, storeTimeout, keyring } = this.options;
    this.access = new StoreAccess(
      store,
      ttl,
      storeTimeout,
      keyring,
      (message) => this.warnOnce(message),
      this.options.genid !== undefined,
    );
    this.store = this.access.store;
    this.userStore = this.access.given;
    this.storeKind = this.access.kind;
    const emitter = this.access.emitter();
    if (emitter !== null) followStoreEvents(emitter, this);
    for (const warning of this.options.warnings) this.warnOnce(warning);
  }

  /**
   * Loads the request's session, or makes a fresh one, and puts it on `req.session`. Without a session
   * cookie there is nothing to load: the fresh session is there when this returns, with no promise. With
   * sessionkit's own MemoryStore a cookie's session is loaded in this tick too (`undefined`). `null`: the
   * request is outside the cookie's Path and has no session.
   */
  open(req: Req & SessionCarrier): undefined | null | Promise<void> {
    return openSession(this, req);
  }

  /** A fresh session that is never stored: the `onStoreError: 'anonymous'` fallback. */
  openAnonymous(req: Req & SessionCarrier): void {
    const context =
      contextFor(this, req) ??
      newContext(this, req, cookieOptionsFor(this, req), this.options.secrets ?? requestSecret(req));
    context.ephemeral = true;
    generate(this, req, context);
  }

  /**
   * Whether `onStoreError: 'anonymous'` lets the request go on after `error`: a store that is down or did
   * not answer (503), or a connection lost on the way. Any other error is the application's or the data's.
   */
  absorbs(error: unknown): boolean {
    return this.options.onStoreError === 'anonymous' && isStoreFailure(error);
  }

  /**
   * A store failure at the commit that `onStoreError: 'anonymous'` lets the response survive: reported, and
   * nothing more is stored for the request, as for a stand-in session. An adapter that commits again at
   * the response's end (Express, after a streamed response's first byte) would otherwise wait for the
   * store that just failed, and cut the response when it fails again.
   */
  absorb(req: Req & SessionCarrier, error: unknown): void {
    this.report(error);
    const context = contextFor(this, req);
    if (context !== undefined) context.ephemeral = true;
  }

  /**
   * Writes what the request changed and returns the Set-Cookie values to send. Runs before the response's
   * first byte, so a redirect after login never reaches a server that has not stored the session.
   * A request that needs no store call (most reads, and no-cookie requests that store nothing) gets its
   * answer at once, not as a promise: no microtask, no held response for it.
   */
  commit(req: Req & SessionCarrier): string[] | Promise<string[]> {
    const context = contextFor(this, req);
    // Only a request's first commit can leave a record no cookie names when it fails: a later one (Koa's
    // manual commits, a response ended while held) follows one that already gave the cookie.
    if (context === undefined || context.committed) return commitSession(this, req);
    let committed: string[] | Promise<string[]>;
    try {
      committed = commitSession(this, req);
    } catch (error) {
      return this.refused(req, error);
    }
    if (Array.isArray(committed)) return committed;
    return committed.catch((error: unknown) => this.refused(req, error));
  }

  /**
   * A first commit that failed sends no cookie of ours. When sessionkit refused the session (an invalid
   * cookie, data over `maxSessionBytes` or that JSON cannot hold), what a session operation of this
   * request stored for that cookie (a kept regenerate, a login under `maxSessionsPerUser`) is ended: the
   * operation had ended the old one. Not after a store's failure: its writes may still land, and an end
   * would wait on that store too.
   */
  private async refused(req: Req & SessionCarrier, error: unknown): Promise<never> {
    if (error instanceof SessionError && REFUSALS.has(error.code)) await this.abandon(req, true);
    throw error;
  }

  /**
   * Koa's `ctx.session = { … }`, koa-session's way to replace the data: the request's session takes it
   * back, keeps its ID and cookie, and holds the given data instead of its own. Keys the application can
   * never write (`cookie`, sessionkit's reserved keys) are left out.
   */
  replaceData(req: Req & SessionCarrier, data: Record<string, unknown>): void {
    const context = contextFor(this, req);
    if (!context || context.ephemeral) return;
    req.session = context.session;
    putData(context.session, data);
  }

  /**
   * What the session holds now, when the application ends a response whose first write is still held
   * (the Express adapter's hold): the commit the release makes then stores this, as express-session saves
   * at `end()`, and not what the application changes after the end while the store answers. `null`
   * without a session of this request.
   */
  sessionAtEnd(req: Req & SessionCarrier): SessionAtEnd | null {
    const context = contextFor(this, req);
    if (!context || context.ephemeral || req.session !== context.session) return null;
    return { session: context.session, json: stringifyJson(dataOf(context.session)) };
  }

  /**
   * `commit`, with the session showing for it what it held at `atEnd`; the application's later values are
   * put back as soon as the commit has taken what it writes (it does, synchronously, before its store
   * call). A session replaced, or an operation still running (a destroy or regenerate after the end,
   * which the commit waits for), is committed as it is.
   */
  commitAsAtEnd(req: Req & SessionCarrier, atEnd: SessionAtEnd | null): string[] | Promise<string[]> {
    const context = contextFor(this, req);
    if (
      atEnd === null ||
      !context ||
      req.session !== atEnd.session ||
      (context.pending !== null && context.pending.size > 0)
    )
      return this.commit(req);
    const { session } = atEnd;
    const later = dataOf(session);
    if (stringifyJson(later) === atEnd.json) return this.commit(req);
    putData(session, JSON.parse(atEnd.json) as Record<string, unknown>);
    try {
      return this.commit(req);
    } finally {
      putData(session, later);
    }
  }

  /**
   * @internal The request failed and its response will carry no cookie of ours (SvelteKit's and Koa's error
   * responses): a session this request stored for a cookie it was to send (a kept regenerate, a login
   * under `maxSessionsPerUser`, a new session's `save()`) is ended, as nobody could reach or log it out.
   * Operations still running are waited for first. A store failure here is reported, not thrown: the
   * request's own error is the one to answer.
   */
  async abandon(req: Req & SessionCarrier, commitFailed = false): Promise<void> {
    const context = contextFor(this, req);
    if (!context || context.ephemeral || (context.committed && !commitFailed)) return;
    if (context.pending !== null) await Promise.allSettled([...context.pending]);
    const state = sessionStateOf(context.session);
    if (!state.issueCookie) return;
    try {
      await this.destroyStored(context.store, state.id);
    } catch (error) {
      this.report(error);
    }
    state.issueCookie = false;
    context.moved = null;
  }

  /**
   * While `commit` waits for its store write: the Set-Cookie values it returns if the write succeeds as
   * expected (a create creates, an update or touch finds the record). The adapter puts them on the held
   * response at the call, so header hooks and `getHeader` see them as with express-session, and corrects
   * the header in the rare other case. `null` when more than the write decides (operations pending).
   */
  expectedCookies(req: Req & SessionCarrier): string[] | null {
    return expectedCookies(this, req);
  }

  /**
   * A Set-Cookie that leaves the browser as it is: the stored session's cookie as a touch sends it, or,
   * for a session not stored yet, one that clears the name. An adapter that can only learn by trying
   * whether its response may set cookies (Next.js) tries with this; a later Set-Cookie of the commit
   * replaces it.
   */
  unchangedCookie(req: Req & SessionCarrier): string {
    const context = contextOf(this, req);
    const { session } = context;
    const header = sessionStateOf(session).isNew ? null : sessionCookie(this, req, context, session);
    return header ?? clearingCookie(this, req, context);
  }

  /**
   * After the response started: stores what the request changed since its first byte (a Server-Sent
   * Events handler, or a change between `write()` and `end()`), as express-session saves at `end()`.
   * Nothing when nothing changed, and `undefined` when done in this tick (the in-process MemoryStore).
   * No cookie can go out any more: a session the browser does not hold yet is not created (warned once).
   */
  commitLate(req: Req & SessionCarrier): undefined | Promise<void> {
    return commitLate(this, req);
  }

  /**
   * `commitLate` for a response already out, which a failure can no longer fail: the failure is reported
   * (the `error` event, else the logger) and the promise never rejects.
   */
  async commitAfterResponse(req: Req & SessionCarrier): Promise<void> {
    try {
      await commitLate(this, req);
    } catch (error) {
      this.report(error);
    }
  }

  /**
   * Hands an error kept from a quiet write to an express-session store (see commit.ts) to `next` once the
   * response has gone out (an Express app's error handler sees it as express-session's tests do, on a
   * response already sent); at once when there is no response to wait for (`null`).
   */
  reportLate(
    req: Req & SessionCarrier,
    res: NodeJS.WritableStream | null,
    next: (error: unknown) => void,
  ): void {
    const context = contextFor(this, req);
    if (context === undefined || context.late === undefined) return;
    const { late } = context;
    context.late = undefined;
    // As any store failure under `onStoreError: 'anonymous'`: reported, not passed on.
    const absorbed = this.absorbs(late);
    const settle = (): void => (absorbed ? this.report(late) : next(late));
    if (res === null) settle();
    else finished(res, settle);
  }

  // ---- SessionController: what req.session's methods do ----

  /**
   * Runs a req.session operation so that a commit starting before it settles waits for all of it: an app
   * may call save(), regenerate() or destroy() without waiting and answer at once (express-session
   * finishes them before the response, so a redirect after an un-awaited save still carries the cookie).
   */
  private joined(session: Session, work: Promise<void>): Promise<void> {
    const context = contextFor(this, session.req as SessionCarrier);
    return context === undefined ? work : this.track(context, work);
  }

  /**
   * `regenerate({ keep: true })` continues the session under a new ID: its creation time, which
   * `absoluteTimeout` counts from, goes with it. A login starts a new session (`restart`).
   */
  regenerate(session: Session, keep: boolean, clock: 'continue' | 'restart' = 'continue'): Promise<void> {
    return this.joined(session, this.regenerateNow(session, keep, clock));
  }

  private async regenerateNow(session: Session, keep: boolean, clock: 'continue' | 'restart'): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = contextOf(this, req);
    const state = sessionStateOf(session);
    beforeCookieChange(req);
    const secret = this.options.secrets?.[0];
    // A login replaces the session rather than ending it: a move another request makes of it meanwhile
    // holds what the session held before the login (no user of this login), under an ID only the secret
    // gives, so only a renewal's successor, which the old cookie leads to, is ended with it.
    const ending = clock === 'restart' ? 'renewed' : 'all';
    let successors: Successors = state.isNew ? 'none' : ending;
    const moving = keep && clock === 'continue';
    if (
      moving &&
      secret !== undefined &&
      !state.isNew &&
      !context.ephemeral &&
      context.session === session &&
      // An express-session store's create cannot say an ID is taken, which a derived ID needs.
      !this.access.isBridged(context.store) &&
      // After the first byte no cookie can follow the move: the plain path warns and stores nothing.
      !context.committed
    ) {
      if (await this.moveKept(session, req, context, keptId(secret, state.id))) return;
      // Another request's move to the derived ID was cut off: this one moves the session as before, and
      // leaves whatever that move made to a logout of the old ID or to its own expiry.
      successors = 'renewed';
    }
    // A kept regenerate from a cookie whose session is gone ends nothing of it: that is a double submit
    // arriving after the first one's move, which must not end where that move went.
    await this.track(
      context,
      this.endRequestSession(context, state.id, successors, moving ? 'none' : ending),
    );
    // A kept regenerate of a session this request made ended nothing: from a cookie whose session was
    // gone, the browser is not told to forget it (that cookie may be the first submit's move by now).
    if (!(moving && state.isNew)) context.ended = true;
    const next = keep
      ? generate(this, req, context, dataOf(session), undefined, session.cookie)
      : generate(this, req, context);
    if (keep) {
      sessionStateOf(next).userId = state.userId;
      sessionStateOf(next).authTime = state.authTime;
      if (clock === 'continue') sessionStateOf(next).createdAt = state.createdAt;
    }
    this.emitFor('regenerate', sessionStateOf(next).id);
  }

  /**
   * `regenerate({ keep: true })` of a stored session: the session moves to an ID derived from its own,
   * created before the old record ends and kept only if the old record is still there after. A logout or
   * "log out everywhere" elsewhere then either ended the old record before that check (the move is undone
   * and the request goes on with a fresh, empty session) or comes after it, and ends the new ID too: a
   * logout ends the IDs derived from the one it names (see endStored), a revoke-all every session of the
   * user, the new one included (C16). When the derived ID is taken, another request is moving the same
   * session (a double submit): see afterOtherMove.
   */
  private async moveKept(
    session: Session,
    req: Req & SessionCarrier,
    context: RequestContext,
    newId: string,
    followed = false,
    first: Session | null = null,
  ): Promise<boolean> {
    const state = sessionStateOf(session);
    const oldId = state.id;
    const { store } = context;
    const next = generate(this, req, context, dataOf(session), newId, session.cookie);
    const moved = sessionStateOf(next);
    moved.userId = state.userId;
    moved.authTime = state.authTime;
    moved.createdAt = state.createdAt;
    try {
      await this.track(context, Promise.resolve(write(this, next, true, context)));
    } catch (error) {
      install(req, context, session);
      if (error instanceof SessionError && error.code === 'ERR_SESSION_EXISTS')
        return this.afterOtherMove(context, oldId);
      // A create that failed may still land (a timeout): it must not stay, unreachable, signed in.
      if (isStoreFailure(error)) await this.destroyStored(store, newId).catch(() => undefined);
      throw error;
    }
    let old: SessionRecord | null;
    try {
      old = await this.track(context, load(this, store, oldId));
      if (old !== null && !holdsSession(old) && !followed) {
        // Another request renewed the session meanwhile: the move starts again from the renewed ID.
        await this.track(context, this.destroyStored(store, newId));
        state.id = this.renewedIdOf(oldId);
        install(req, context, session);
        return this.moveKept(session, req, context, keptId(this.renewalSecret(), state.id), true);
      }
      if (holdsSession(old)) await this.track(context, this.destroyStored(store, oldId));
    } catch (error) {
      await this.destroyStored(store, newId).catch(() => undefined);
      install(req, context, session);
      throw error;
    }
    context.ended = true;
    if (!holdsSession(old)) {
      if (first !== null) {
        // Following a renewal that has since undone itself (it found the old record gone): the first
        // move, whose record is still there, stands.
        install(req, context, first);
        context.moved = sessionStateOf(first).id;
        await this.track(context, this.destroyStored(store, newId));
        return true;
      }
      // Fresh before the destroy: should that fail, the request must not go on signed in.
      generate(this, req, context);
      await this.track(context, this.destroyStored(store, newId));
      return true;
    }
    context.moved = newId;
    this.emitFor('regenerate', newId);
    if (this.options.renewAfter === undefined) return true;
    // The old record is gone and the move stands: a failure from here on is reported, not a reason to
    // undo it (the old record cannot come back).
    const renewedTo = this.renewedIdOf(oldId);
    let follow = false;
    try {
      follow = !followed && holdsSession(await this.track(context, load(this, store, renewedTo)));
      if (!follow) await this.track(context, this.destroyStored(store, renewedTo));
    } catch (error) {
      this.report(error);
      return true;
    }
    if (!follow) return true;
    // A renewal that read the old record alive too made the renewed ID, and its response names it: the
    // move goes on from there, so that a logout through that cookie ends it. This move's record stays
    // until that one stands (the renewal may yet undo itself, finding the old record gone).
    context.moved = null;
    state.id = renewedTo;
    install(req, context, session);
    try {
      await this.moveKept(session, req, context, keptId(this.renewalSecret(), renewedTo), true, next);
    } catch (error) {
      install(req, context, next);
      context.moved = newId;
      this.report(error);
      return true;
    }
    // Moved on: this move's record becomes a marker that names nothing, so that the other submit of a
    // double submit still finds its ID taken (and waits, rather than take the old record for a logout).
    if (context.session !== next)
      await this.track(context, retire(this, newId, next.cookie.data, moved.createdAt, Date.now())).catch(
        (error: unknown) => this.report(error),
      );
    return true;
  }

  /**
   * Another request is moving this session to the derived ID. Once its old record is gone (moved, or ended
   * by a logout the move found, or renewed, which that move follows), this request keeps its copy as it
   * is, and its response writes none of it (not even a renewal, which would race that move) and sends no
   * cookie: the browser keeps the one the move sent. It takes no ID of its own: adopting the other's
   * would let a request made with a fixed (known) cookie share the session it moved to. Says false when
   * the old record is still there after `storeTimeout` (the other move was cut off); this request then
   * moves the session itself.
   */
  private async afterOtherMove(context: RequestContext, oldId: string): Promise<boolean> {
    // A duration on this process's monotonic clock: a step of the wall clock neither stretches nor skips it.
    const deadline = performance.now() + this.options.storeTimeout;
    for (let pause = 5; ; pause *= 2) {
      // Gone, or a renewal's marker: the other move went on from there (see moveKept).
      if (!holdsSession(await this.track(context, load(this, context.store, oldId)))) {
        context.superseded = context.session;
        return true;
      }
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
    }
  }

  destroy(session: Session): Promise<void> {
    return this.joined(session, this.destroyNow(session));
  }

  private async destroyNow(session: Session): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = contextOf(this, req);
    beforeCookieChange(req);
    // As express-session: req.session is gone at once, even before the store confirms.
    context.ended = true;
    // Ended here: the commit must not end a kept regenerate's record a second time (see unsetEnds).
    context.moved = null;
    if (req.session === session) req.session = undefined;
    try {
      const state = sessionStateOf(session);
      await this.track(
        context,
        this.endRequestSession(context, state.id, state.isNew ? 'none' : 'all', 'all'),
      );
    } catch (error) {
      context.endFailed = true;
      throw error;
    }
  }

  /**
   * Ends the session this request stands for. Under `onStoreError: 'anonymous'` after a failed load,
   * that is the one its cookie named, not the stand-in that is never stored: a logout must end the real
   * session or fail, never answer as if it had.
   */
  private async endRequestSession(
    context: RequestContext,
    id: string,
    successors: Successors,
    presentedSuccessors: Successors,
  ): Promise<void> {
    const { store, presentedId } = context;
    if (context.ephemeral) {
      if (presentedId !== null) await this.endStored(store, presentedId);
      return;
    }
    // An ID this request made and never stored ('none') has no record, nor any a move could have made.
    await this.endStored(store, id, successors);
    // The cookie named a session this request did not find: another request may have just moved it (a
    // renewal, a regenerate({ keep: true })), after this one looked. The logout ends where it went.
    if (
      successors === 'none' &&
      presentedSuccessors !== 'none' &&
      presentedId !== null &&
      presentedId !== '' &&
      presentedId !== id
    )
      await this.endSuccessors(store, presentedId, presentedSuccessors);
  }

  /**
   * @internal Next.js: a `save()` is a commit, yet its response takes cookies until it is sent. What runs
   * after it (a login under `maxSessionsPerUser`, a kept regenerate, the next save) is treated as before
   * the response's first byte, as on every other framework, not as a write after the response.
   */
  reopen(req: Req & SessionCarrier): void {
    const context = contextFor(this, req);
    if (context !== undefined) context.committed = false;
  }

  /**
   * @internal Whether the request's session is gone from it though no session operation ended it: the
   * application set it to `undefined` (Koa refuses that, as koa-session does, rather than log out).
   */
  removedByApplication(req: Req & SessionCarrier): boolean {
    const context = contextFor(this, req);
    return context !== undefined && !context.ended && req.session === undefined;
  }

  /**
   * @internal The application removed `req.session` (express-session's `unset`): under `'destroy'` the
   * session is ended as destroy() ends it, and so is the record a kept regenerate of this request made,
   * under either setting: its cookie was never sent, so nobody could reach it or log it out.
   */
  unsetEnds(context: RequestContext): boolean {
    return (
      (!context.ended && this.options.unset === 'destroy') ||
      (context.moved !== null && context.moved === sessionStateOf(context.session).id)
    );
  }

  /** @internal See unsetEnds. */
  async endUnset(context: RequestContext): Promise<void> {
    const state = sessionStateOf(context.session);
    await this.endRequestSession(context, state.id, state.isNew ? 'none' : 'all', 'all');
    context.ended = true;
    context.moved = null;
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
    const req = session.req as Req & SessionCarrier;
    const { store } = contextOf(this, req);
    let record = await load(this, store, state.id);
    if (record !== null && record.data[RENEWED_KEY] !== undefined) {
      // Another request moved the session to its renewed ID meanwhile: the marker holds none of it.
      const next = this.renewedIdOf(state.id);
      record = await load(this, store, next);
      if (holdsSession(record)) {
        state.id = next;
        req.sessionID = next;
        state.renewedAt = storedTime(record.data, RENEWED_AT_KEY) ?? record.createdAt;
        state.issueCookie = true;
      } else record = null;
    }
    if (!record) throw new SessionNotFoundError('reload');
    for (const key of Object.keys(session))
      if (key !== 'cookie') delete (session as unknown as Record<string, unknown>)[key];
    const data = withoutReserved(record.data);
    for (const key of Object.keys(data)) {
      if (!(key in session)) (session as unknown as Record<string, unknown>)[key] = data[key];
    }
    state.snapshot = takeSnapshot(data);
    state.loaded = null;
    state.userId = state.storedUserId = record.userId;
    state.authTime = state.storedAuthTime = storedAuthTime(record.data);
    state.lastSeenAt = record.lastSeenAt;
  }

  save(session: Session): Promise<void> {
    return this.joined(session, this.saveNow(session));
  }

  private async saveNow(session: Session): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = contextOf(this, req);
    if (context.ephemeral || context.superseded === session) return;
    // A new session this request then replaced (regenerate, login) or destroyed: stored now, it would be a
    // record no cookie names. A loaded one is already safe: its write finds the record gone.
    if (
      sessionStateOf(session).isNew &&
      req.session !== session &&
      (context.session !== session || context.ended)
    )
      return;
    // A save() not awaited before this one is still writing: write after it, never beside it (a new
    // session's second create would find the first one's record).
    await inTurn(context, 'saving', () => this.saveInTurn(session, req, context));
  }

  private async saveInTurn(
    session: Session,
    req: Req & SessionCarrier,
    context: RequestContext,
  ): Promise<void> {
    // The commit's own write is in flight (the response started): write after it, never beside it.
    if (context.writing !== null) await context.writing.catch(() => undefined);
    // A session due for renewal is moved first, as the commit would: written under its old ID, the change
    // could land in the marker another request's renewal left there (lost, and keeping the old ID alive).
    const result = !renewalDue(this, session)
      ? await write(this, session, true, context)
      : context.committed
        ? await writeFollowing(this, req, session, true, context)
        : await renew(this, req, session);
    // Another request ended the session meanwhile (a logout, the first of a double-submitted logout): it is
    // neither written nor brought back, as by the response's own write, and the save succeeds, as with
    // express-session (which writes it back whole). Rejecting would fail a logout racing another, since
    // passport's logout saves the session before it regenerates it.
    if (result === 'lost') return;
    sessionStateOf(session).saved = true;
  }

  login(session: Session, userId: string): Promise<void> {
    return this.joined(session, this.loginNow(session, userId));
  }

  private async loginNow(session: Session, userId: string): Promise<void> {
    if (!userId) throw new SessionError('ERR_INVALID_USER', 'sessionkit: login() needs a non-empty user ID');
    // Before the old session is destroyed: a user ID the store refuses leaves the user as they were.
    this.access.checkUserId('login', userId);
    const req = session.req as Req & SessionCarrier;
    const { userLimit } = this.options;
    await this.forgetEndedData(session, req);
    // A stand-in session (onStoreError: 'anonymous') is never stored, so it takes none of the user's places;
    // nor does a login after the response started (a handler that outlived its reply), whose cookie can no
    // longer go out: it would store a session no browser holds, evicting one the user does hold.
    const context = contextOf(this, req);
    if (userLimit !== undefined && !context.ephemeral && !context.committed)
      await this.loginWithinLimit(session, userId, userLimit);
    else {
      await this.regenerate(session, true, 'restart');
      const state = sessionStateOf(contextOf(this, req).session);
      state.userId = userId;
      state.authTime = Date.now();
    }
    publishLogin(this.storeKind, sessionStateOf(session).id, req.sessionID as string, userId);
  }

  /**
   * A login carries the session's data to its new ID. If another request ended the session since this
   * one loaded it (a logout, a "log out everywhere"), that data goes with it: the login, a new proof of
   * identity, goes on as a later login would, from an empty session, and no flag of the ended session
   * (a step-up, a cart) comes back under the new ID.
   */
  private async forgetEndedData(session: Session, req: Req & SessionCarrier): Promise<void> {
    const context = contextOf(this, req);
    const state = sessionStateOf(session);
    // A session object this request already replaced (a second login on it) was ended by this request.
    if (state.isNew || context.ephemeral || context.session !== session) return;
    const stored = await this.track(context, load(this, context.store, state.id));
    if (stored === null) putData(session, {});
  }

  /**
   * login() under maxSessionsPerUser (C31): the store creates the new session and applies the limit in
   * one atomic step, before the old session ends, so a refusal leaves the request's session as it was.
   */
  private async loginWithinLimit(session: Session, userId: string, limit: UserLimitOption): Promise<void> {
    const req = session.req as Req & SessionCarrier;
    const context = contextOf(this, req);
    // Another request may have moved a session this old to its renewed ID already; the limit must not
    // count that ID as one more session of the user. Moving it here makes it the one the login replaces.
    if (renewalDue(this, session)) await this.track(context, renew(this, req, session));
    const oldId = sessionStateOf(session).id;
    beforeCookieChange(req);
    const next = generate(this, req, context, dataOf(session), undefined, session.cookie);
    const state = sessionStateOf(next);
    state.userId = userId;
    state.authTime = state.createdAt;
    let outcome: LimitOutcome;
    try {
      outcome = await this.track(
        context,
        storeWithinLimit(this, this.store, next, { ...limit, replaces: oldId }),
      );
    } catch (error) {
      // A call that failed may still have created the session (a timeout): it must not stay, unreachable,
      // counted against the user.
      const { store } = this;
      await this.access
        .call(store, 'destroy', () => store.destroy(state.id), state.id)
        .catch(() => undefined);
      install(req, context, session);
      throw error;
    }
    if (outcome.result !== 'created') {
      install(req, context, session);
      if (outcome.result === 'refused') throw new SessionLimitError(limit.max);
      throw new SessionError('ERR_SESSION_EXISTS', 'sessionkit: a session with the generated ID exists');
    }
    this.emitFor('create', state.id);
    try {
      await this.track(context, this.endStored(context.store, oldId, 'renewed'));
    } catch (error) {
      // The login fails, so its new session goes too (where the store still answers): no second live
      // session of the user whose cookie nobody was given.
      await this.destroyStored(this.store, state.id).catch(() => undefined);
      install(req, context, session);
      throw error;
    }
    context.ended = true;
    this.emitFor('regenerate', state.id);
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
      sessionStateOf(session).userId,
    );
  }

  // ---- what the engine's modules share ----

  /** @internal The newest signing secret: renewal derives the new ID with it (options refuse renewAfter without one). */
  renewalSecret(): Secret {
    return (this.options.secrets as Secret[])[0] as Secret;
  }

  /**
   * @internal The ID `renewAfter` moves the session at `oldId` to, derived with the newest secret: as long
   * as a generated ID, so express-session's on its stores (their ID columns are sized for it; see generate).
   */
  renewedIdOf(oldId: string): string {
    const bytes = this.access.kind === 'express-session' ? EXPRESS_SESSION_ID_BYTES : undefined;
    return renewedId(this.renewalSecret(), oldId, bytes);
  }

  /**
   * @internal Ends a session the application ended (destroy, regenerate, login, logout), then the IDs a
   * request that loaded it before the end may be moving it to: a renewal's (with `renewAfter`) and a
   * `regenerate({ keep: true })`'s. Such a move checks the old record after making the new one, so it
   * either finds the record gone or made its new record before this ends it (C16). `successors`: which of
   * those IDs to end as well; a move's own end leaves its new ID alone.
   */
  async endStored(store: SessionStore, id: string, successors: Successors = 'all'): Promise<void> {
    await this.destroyStored(store, id);
    if (successors !== 'none') await this.endSuccessors(store, id, successors);
  }

  /** Ends the IDs a renewal (`'renewed'`) or also a kept regenerate (`'all'`) of `id` moves a session to. */
  private async endSuccessors(
    store: SessionStore,
    id: string,
    which: Exclude<Successors, 'none'>,
  ): Promise<void> {
    const secret = this.options.secrets?.[0];
    const ends: Promise<void>[] = [];
    if (this.options.renewAfter !== undefined) ends.push(this.destroyStored(store, this.renewedIdOf(id)));
    if (which === 'all' && secret !== undefined) {
      const moved = keptId(secret, id);
      // No `destroy` event: a move is in flight at that instant or never, so there is almost never a
      // session here, and listeners and metrics count sessions that ended.
      ends.push(this.access.call(store, 'destroy', () => store.destroy(moved), moved));
    }
    await Promise.all(ends);
  }

  /** @internal */
  async destroyStored(store: SessionStore, id: string): Promise<void> {
    await this.access.call(store, 'destroy', () => store.destroy(id), id);
    this.emitFor('destroy', id);
  }

  /** @internal An event with the session's handle, and its diagnostics_channel message. */
  emitFor(event: string, id: string): void {
    if (this.listenerCount(event) > 0) this.emit(event, { handle: storageKey(id) });
    publishEvent(event, id, this.storeKind);
  }

  /**
   * Reports an absorbed failure on `error` when someone listens, else to `logger.error`. Never throws: it
   * runs inside requests that must survive the failure (`onStoreError: 'anonymous'`) and in callbacks after
   * the response, where a throw would be an unhandled rejection or an uncaught exception. A throwing
   * listener or logger (a pino method passed unbound) is turned into a process warning. A listener's
   * exception is not rethrown on a later tick as EventEmitter would leave it: that would end the process
   * over a failure the application asked to have absorbed, while the warning still shows the bug.
   */
  report(error: unknown): void {
    const listened = this.listenerCount('error') > 0;
    try {
      if (listened) this.emit('error', error);
      else this.logger?.error?.(error);
    } catch (failure) {
      const where = listened ? "an 'error' listener" : 'logger.error()';
      emitSessionWarning(`${where} threw (${describe(failure)}) reporting: ${describe(error)}`);
    }
  }

  /** A warning, once per message, to `logger.warn` or else the process; never throws (see `report`). */
  warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    if (this.logger === null) {
      emitSessionWarning(message);
      return;
    }
    try {
      this.logger.warn(`sessionkit: ${message}`);
    } catch (failure) {
      emitSessionWarning(`${message} (logger.warn() threw: ${describe(failure)})`);
    }
  }
}

function emitSessionWarning(message: string): void {
  process.emitWarning(`sessionkit: ${message}`, { code: 'SESSIONKIT' });
}

/** One line for a warning: an error's name and message, or the value thrown (which may not convert). */
function describe(value: unknown): string {
  try {
    return value instanceof Error ? `${value.name}: ${value.message}` : String(value);
  } catch {
    return typeof value;
  }
}

function sessionStateOf(session: Session): SessionState {
  return Session.stateOf(session);
}
