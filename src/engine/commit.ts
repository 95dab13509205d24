/**
 * The end of a request: the write decision (create, update, touch, nothing, or the session was lost),
 * the size bound, what the store then holds (`markSaved`), renewal, and the Set-Cookie values to send.
 * Decides synchronously; only a store call that cannot settle in this tick makes a promise.
 */
import {
  AUTH_TIME_KEY,
  holdsSession,
  RENEWED_AT_KEY,
  RENEWED_KEY,
  withoutReserved,
} from '../core/auth-time.js';
import { BINDING_KEY } from '../core/binding.js';
import { type Changes, dataOf, diff, hasData, recordWritten, takeSnapshot } from '../core/changes.js';
import { Cookie, cookieShape, hasShape } from '../core/cookie.js';
import { updateReason } from '../core/debug.js';
import { NotSupportedError, SessionError, SessionTooLargeError } from '../core/errors.js';
import { renewalWindow } from '../core/renewal.js';
import { checkDepth, stringifyJson } from '../core/serializer.js';
import { Session, type SessionState } from '../core/session.js';
import type { LimitOutcome, SessionDelta, SessionRecord, UserLimit } from '../core/types.js';
import { requestFingerprint, withFingerprint } from './binding.js';
import {
  beforeCookieChange,
  contextFor,
  contextOf,
  type Engine,
  type EngineRequest,
  type RequestContext,
} from './context.js';
import { checkSendable, clearingCookie, sessionCookie } from './cookie-policy.js';
import { load } from './load.js';
import type { SessionRequestLike } from './options.js';
import { isStoreFailure, type SessionStore } from './store-access.js';

export type WriteResult = 'create' | 'update' | 'touch' | 'none' | 'lost';

/**
 * The request ended the session its cookie named, and the store confirmed it: the browser is told to
 * forget the cookie (C15). After a failed destroy() the session may live on, and the cookie stays so the
 * logout can be tried again.
 */
function forgetsCookie(context: RequestContext): boolean {
  return context.ended && !context.endFailed && context.presentedId !== null && context.presentedId !== '';
}

/** See SessionManager.commit. */
export function commitSession<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
): string[] | Promise<string[]> {
  const context = contextFor(engine, req);
  if (!context) return [];
  // A stand-in session is never stored; if the request ended the real one, the browser forgets it.
  if (context.ephemeral) return forgetsCookie(context) ? [clearingCookie(engine, req, context)] : [];
  // As express-session: an ID the application replaced with a non-string names no session to store.
  if (typeof req.sessionID !== 'string') return [];
  // An app may answer without waiting for destroy()/regenerate(): finish them before the first byte.
  if (context.pending !== null && context.pending.size > 0)
    return afterPending(context).then(() => commitSession(engine, req));
  const session = context.session;
  if (context.superseded === session) return [];
  if (req.session !== session) {
    // The application removed req.session (express-session's `unset`), or destroy() did.
    if (req.session == null && engine.unsetEnds(context))
      return engine.endUnset(context).then(() => commitSession(engine, req));
    return forgetsCookie(context) ? [clearingCookie(engine, req, context)] : [];
  }
  const cookie = sessionCookieOf(session);
  cookie.resetMaxAge();
  checkExpiry(cookie);
  // A second commit of one request: its response ended while the first commit's write held its bytes
  // (see the Express adapter's hold). It stores what changed since, as express-session's single write
  // at `end()` would have, not a second resave or touch.
  const again = context.committed;
  context.committed = true;
  if (renewalDue(engine, session)) {
    // A save() called meanwhile waits for the move instead of writing beside it.
    const renewing = renew(engine, req, session);
    context.writing = renewing;
    return renewing.then((result) => {
      context.writing = null;
      return cookiesAfter(engine, req, context, session, result);
    });
  }
  let wrote = write(engine, session, false, context, again);
  if (typeof wrote === 'string') return cookiesAfter(engine, req, context, session, wrote);
  if (engine.access.isBridged(context.store)) wrote = lateFailure(context, wrote);
  context.writing = wrote;
  return wrote.then((result) => {
    context.writing = null;
    return cookiesAfter(engine, req, context, session, result);
  });
}

/**
 * Waits for the session operations still running when the response started. One that failed fails the
 * response with its error, as a failed write of the commit itself does: the application answered without
 * waiting for it (`save(); res.redirect()`), so it cannot have answered its error.
 */
async function afterPending(context: RequestContext): Promise<void> {
  const outcomes = await Promise.allSettled([...(context.pending ?? [])]);
  for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
}

/** See SessionManager.expectedCookies. */
export function expectedCookies<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
): string[] | null {
  const context = contextFor(engine, req);
  if (!context || context.ephemeral || context.writing === null) return null;
  const session = context.session;
  if (req.session !== session) return null;
  if (context.superseded === session) return [];
  // A renewal in progress decides the cookie only once it knows whether the move stands.
  if (renewalDue(engine, session)) return null;
  const state = stateOf(session);
  if (state.isNew) {
    const header = sessionCookie(engine, req, context, session);
    return header ? [header] : [];
  }
  // The write is still in flight, so `dataWritten` is not set yet: what it will write decides.
  const modified = state.userId !== state.storedUserId || diff(session, state.snapshot).changed;
  const updating =
    engine.options.resave ||
    modified ||
    state.cookieSnapshot === null ||
    !hasShape(session.cookie, state.cookieSnapshot);
  return cookiesAfter(engine, req, context, session, updating ? 'update' : 'touch', modified);
}

/*
 * The application's changes to `req.session.cookie` that no response could carry are refused with a typed
 * error before anything is stored, rather than failing deep in the write.
 */

/** The session's cookie, unless the application replaced it with another value. */
function sessionCookieOf(session: Session): Cookie {
  const cookie: unknown = session.cookie;
  if (cookie instanceof Cookie) return cookie;
  throw new SessionError(
    'ERR_INVALID_COOKIE',
    'sessionkit: req.session.cookie was replaced by a value that is not the session cookie; set its fields instead',
  );
}

/** Refuses an expiry that is no date: `maxAge` NaN or Infinity, an `expires` that is invalid or out of range. */
function checkExpiry(cookie: Cookie): void {
  const expires: unknown = cookie._expires;
  if (expires !== null && !(expires instanceof Date && Number.isFinite(expires.valueOf())))
    throw new SessionError(
      'ERR_INVALID_COOKIE',
      'sessionkit: req.session.cookie has no valid expiry: maxAge must be a finite number of ms, expires a valid Date',
    );
}

/** See SessionManager.commitLate. */
export function commitLate<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
): undefined | Promise<void> {
  const context = contextFor(engine, req);
  if (!context || context.ephemeral) return undefined;
  if (context.pending !== null && context.pending.size > 0)
    return afterPending(context).then(() => commitLate(engine, req));
  const session = context.session;
  if (context.superseded === session) return undefined;
  if (req.session !== session)
    return req.session == null && engine.unsetEnds(context) ? engine.endUnset(context) : undefined;
  const state = stateOf(session);
  const changed =
    state.touched || state.userId !== state.storedUserId || diff(session, state.snapshot).changed;
  if (!changed) return undefined;
  if (state.isNew) {
    engine.warnOnce('a new session was changed after the response started; its cookie could not be sent');
    return undefined;
  }
  const wrote = renewalDue(engine, session)
    ? writeFollowing(engine, req, session, true, context)
    : write(engine, session, true, context);
  return typeof wrote === 'string' ? undefined : wrote.then(() => undefined);
}

/**
 * As express-session: a write to an express-session store that carries nothing the application changed
 * (a touch, a resave, an empty new session) does not hold back the response when it fails; its error is
 * kept for `next(err)` once the response is out. A failed write of a change still fails the response.
 */
function lateFailure(context: RequestContext, wrote: Promise<WriteResult>): Promise<WriteResult> {
  return wrote.catch((error: unknown) => {
    if (!context.quiet) throw error;
    context.late = error;
    return 'none';
  });
}

/** The Set-Cookie values once `write` did what it did. */
function cookiesAfter<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  session: Session,
  wrote: WriteResult,
  modifiedInFlight = false,
): string[] {
  const state = stateOf(session);
  const send =
    state.issueCookie ||
    (!state.isNew &&
      wrote !== 'lost' &&
      (engine.options.rolling ||
        context.resign ||
        // express-session's rule: a modified session whose cookie has an expiry. A resave or a touch is no
        // modification (re-sending would extend the browser's expiry on every request, as `rolling`).
        ((state.dataWritten || modifiedInFlight) && session.cookie.expires !== null) ||
        // Against what the browser holds, not what the store holds: a write (or an explicit save()) of
        // a changed cookie has already brought the store's snapshot up to date.
        state.browserCookie === null ||
        !hasShape(session.cookie, state.browserCookie)));
  if (send) {
    const header = sessionCookie(engine, req, context, session);
    engine.trace?.cookie(
      state.id,
      header ? 'sent' : 'not sent',
      header ? `after ${wrote}` : 'Secure cookie on plain HTTP',
    );
    return header ? [header] : [];
  }
  // A request that ended its session and stored no new one tells the browser to forget the cookie (C15).
  if (forgetsCookie(context) && state.isNew) return [clearingCookie(engine, req, context)];
  engine.trace?.cookie(state.id, 'not sent', state.isNew ? 'nothing stored' : 'browser has it');
  return [];
}

/** `renewAfter` has passed since the session got its current ID (C13). */
export function renewalDue(engine: Engine<never>, session: Session): boolean {
  const { renewAfter } = engine.options;
  if (renewAfter === undefined) return false;
  const state = stateOf(session);
  return !state.isNew && Date.now() - state.renewedAt >= renewAfter;
}

/**
 * Moves a session to its derived new ID (C13): the new record first, with everything the session holds
 * at this point; then what other requests wrote to the old record since this one loaded it is carried
 * over, and the old record becomes a marker for `renewGrace`. Requests that loaded the old record before
 * the move are due too, find the new record already there, and write their own changes into it as a
 * delta, so none of them is lost or logged out. A failure before the marker removes the new record again
 * where the store still answers: the old ID then holds the session, as before the move.
 */
export async function renew<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  session: Session,
): Promise<WriteResult> {
  const state = stateOf(session);
  const oldId = state.id;
  const newId = engine.renewedIdOf(oldId);
  const now = Date.now();
  const data = dataOf(session);
  checkSize(engine, data);
  beforeCookieChange(req);
  // What this request itself changed: only those keys may override what the old record holds now.
  const own = diff(session, state.snapshot);
  const extra: Record<string, unknown> = { [RENEWED_AT_KEY]: now };
  if (state.authTime !== null) extra[AUTH_TIME_KEY] = state.authTime;
  // The fingerprint is keyed with the session's ID: the new ID's is made from this request, which the
  // load checked against the old one.
  const { binding } = engine.options;
  if (binding !== undefined) extra[BINDING_KEY] = requestFingerprint(engine, binding, req, newId);
  const cookie = session.cookie.data;
  const expires = expiresAt(engine, session, state, now);
  const { access } = engine;
  const { store } = access;
  const created = await access.call(store, 'create', () =>
    store.create(newId, {
      data: { ...data, ...extra },
      cookie,
      expiresAt: expires,
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
    const result = await write(engine, session, false, contextOf(engine, req));
    if (result !== 'lost') await settleOld(engine, oldId, newId, data, own, cookie, expires);
    return result;
  }
  try {
    // The old record may have ended since this request loaded it (a logout, a revoke-all, or a renewal
    // whose result was then logged out): the new record must not outlive it.
    const old = await load(engine, store, oldId);
    if (!holdsSession(old)) {
      await engine.destroyStored(store, newId);
      return 'lost';
    }
    // The new record gone already: a kept regenerate that read the old record alive too moved the
    // session and ended this renewal's ID; the move's cookie is the one to keep.
    if (!(await carryOver(engine, newId, old, data, own, cookie, expires))) return 'lost';
  } catch (error) {
    await engine.destroyStored(store, newId).catch(() => undefined);
    throw error;
  }
  state.issueCookie = true;
  markSaved(session, state, now, data);
  await retire(engine, oldId, cookie, state.createdAt, now);
  engine.emitFor('regenerate', newId);
  return 'create';
}

/**
 * Replaces the record an ID left with the marker that leads its cookie to the new ID for `renewGrace`,
 * stored for the window that allows for other app servers' clocks (renewalWindow).
 */
export function retire(
  engine: Engine<never>,
  oldId: string,
  cookie: SessionRecord['cookie'],
  createdAt: number,
  now: number,
): Promise<void> {
  const { access } = engine;
  const { store } = access;
  return access.call(store, 'set', () =>
    store.set(oldId, {
      data: { [RENEWED_KEY]: now },
      cookie,
      expiresAt: now + renewalWindow(engine.options.renewGrace),
      createdAt,
      lastSeenAt: now,
      userId: null,
    }),
  );
}

/**
 * Copies into the renewed record the keys the old record holds now that differ from `data` (what the
 * new record was made from), but those this request changed itself: a write another request made to
 * the old ID after this one loaded it is not lost to this request's older copy.
 */
async function carryOver(
  engine: Engine<never>,
  newId: string,
  old: SessionRecord,
  data: Record<string, unknown>,
  own: Changes,
  cookie: SessionRecord['cookie'],
  expires: number,
): Promise<boolean> {
  const mine = new Set([...Object.keys(own.set), ...own.unset]);
  const current = withoutReserved(old.data);
  const set: Record<string, unknown> = {};
  const unset: string[] = [];
  for (const key of Object.keys(current))
    if (!mine.has(key) && stringifyJson(current[key]) !== stringifyJson(data[key])) set[key] = current[key];
  for (const key of Object.keys(data)) if (!mine.has(key) && !Object.hasOwn(current, key)) unset.push(key);
  if (Object.keys(set).length === 0 && unset.length === 0) return true;
  const { access } = engine;
  const { store } = access;
  const delta: SessionDelta = {
    set,
    unset,
    cookie,
    expiresAt: expires,
    lastSeenAt: Date.now(),
    maxBytes: engine.options.maxSessionBytes,
  };
  return access.call(store, 'update', () => store.update(newId, delta), newId);
}

/**
 * After this request found the new ID already taken (another request renewed the session first): the
 * request that moved it turns the old record into the marker right after checking it, well within one
 * store timeout. An old record still holding the session after that is what a move cut off by a store
 * failure left: its move is finished here, so the old ID never stays a second live copy beside the new.
 */
async function settleOld(
  engine: Engine<never>,
  oldId: string,
  newId: string,
  data: Record<string, unknown>,
  own: Changes,
  cookie: SessionRecord['cookie'],
  expires: number,
): Promise<void> {
  const { store } = engine.access;
  // A duration on this process's monotonic clock: a step of the wall clock neither stretches nor skips it.
  const deadline = performance.now() + engine.options.storeTimeout;
  for (let pause = 5; ; pause *= 2) {
    const old = await load(engine, store, oldId);
    if (!holdsSession(old)) return;
    const left = deadline - performance.now();
    if (left <= 0) {
      if (await carryOver(engine, newId, old, data, own, cookie, expires))
        await retire(engine, oldId, cookie, old.createdAt, Date.now());
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(pause, left)));
  }
}

/**
 * A write after the cookie went out, of a session due for renewal: when another request has moved it
 * meanwhile, the write goes to the new ID (the old record is only the marker now); otherwise to the old
 * one, which the browser's next request renews. A move here would send no cookie.
 */
/** How many renewals a late write follows at most (see writeFollowing). */
const MAX_FOLLOWED = 8;

export async function writeFollowing<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  session: Session,
  force: boolean,
  context: RequestContext,
): Promise<WriteResult> {
  const state = stateOf(session);
  const { id: oldId, renewedAt } = state;
  // A request that lives long (a socket) may have seen the session renewed more than once since it
  // loaded it: each renewal leaves a marker where the next one derives its ID from, and a write into a
  // marker would be lost with it. The chain is followed past markers, as far as the renewals that can
  // have happened since (one per `renewAfter`, at most MAX_FOLLOWED).
  const steps = Math.min(
    MAX_FOLLOWED,
    1 + Math.floor((Date.now() - renewedAt) / (engine.options.renewAfter ?? Number.POSITIVE_INFINITY)),
  );
  // As the record it writes to holds it: a whole-session write (resave) keeps the time of the move.
  state.renewedAt = Date.now();
  let moved: WriteResult;
  try {
    state.id = engine.renewedIdOf(oldId);
    for (let step = 1; step < steps; step++) {
      const found = await load(engine, context.store, state.id);
      if (found === null || holdsSession(found)) break;
      state.id = engine.renewedIdOf(state.id);
    }
    moved = await write(engine, session, force, context);
  } catch (error) {
    state.id = oldId;
    state.renewedAt = renewedAt;
    throw error;
  }
  if (moved === 'lost') {
    state.id = oldId;
    state.renewedAt = renewedAt;
    return write(engine, session, force, context);
  }
  req.sessionID = state.id;
  state.issueCookie = true;
  return moved;
}

/**
 * Writes the session if the rules say so. `force` is an explicit save(); `again`, a commit after the
 * request's first one wrote (no resave, no touch but an explicit one). Says what happened:
 * 'create' | 'update' | 'touch' | 'none', or 'lost' when the store no longer had the session. Decides
 * synchronously: 'none' comes back at once, a store call as a promise.
 */
export function write<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  session: Session,
  force: boolean,
  context: RequestContext,
  again = false,
): WriteResult | Promise<WriteResult> {
  // save() and the write after the first byte come here without commitSession's own check.
  sessionCookieOf(session);
  const state = stateOf(session);
  const { store } = context;
  const { options } = engine;
  const now = Date.now();
  const expires = expiresAt(engine, session, state, now);
  const userChanged = state.userId !== state.storedUserId;
  const authChanged = state.authTime !== state.storedAuthTime;
  if (state.isNew) {
    // An explicit save() does not initialize it either: express-session stores such a session but sends
    // no cookie for it, a record nobody can reach; sending one would set a cookie the option withholds.
    if (!options.saveUninitialized && state.userId === null && !hasData(session)) {
      engine.trace?.write(state.id, 'none', 'new and uninitialized (saveUninitialized: false)');
      return 'none';
    }
    engine.trace?.write(state.id, 'create', force ? 'save() called' : 'new session');
    const data = dataOf(session);
    checkSize(engine, data);
    checkSendable(options, session.cookie);
    beforeCookieChange(Session.requestOf(session));
    context.quiet = !force && state.userId === null && !hasData(session);
    // A new session (a first visit, or the new ID of regenerate(), login(), reauthenticated()) is bound to
    // the request that made it.
    const bound = withFingerprint(engine, Session.requestOf(session), state.id, data);
    // A kept regenerate's new ID continues an older session: `renewAfter` counts from this ID's issue.
    const stored =
      state.renewedAt === state.createdAt ? bound : { ...bound, [RENEWED_AT_KEY]: state.renewedAt };
    return createStored(
      engine,
      store,
      session,
      state,
      {
        data: state.authTime === null ? stored : { ...stored, [AUTH_TIME_KEY]: state.authTime },
        cookie: session.cookie.data,
        expiresAt: expires,
        createdAt: state.createdAt,
        lastSeenAt: now,
        userId: state.userId,
      },
      !force,
    );
  }
  const { resave } = options;
  // Also under resave, which writes the whole session anyway: whether the data changed decides the cookie.
  const changes = diff(session, state.snapshot);
  const cookieChanged = state.cookieSnapshot === null || !hasShape(session.cookie, state.cookieSnapshot);
  // As express-session: resave writes a session the application did not save itself during the request.
  // A fingerprint to record (see SessionState.rebind) is a write of its own, as a changed authentication
  // time is: the session is bound from its first request after the option is set.
  const { rebind } = state;
  if (
    (resave && !state.saved && !again) ||
    force ||
    changes.changed ||
    cookieChanged ||
    userChanged ||
    authChanged ||
    rebind
  ) {
    context.quiet = !force && !changes.changed && !cookieChanged && !userChanged && !authChanged;
    if (cookieChanged) checkSendable(options, session.cookie);
    // resave: express-session's whole-object write; otherwise only the keys this request changed.
    let delta: SessionDelta;
    if (resave) {
      const data = dataOf(session);
      checkSize(engine, data);
      delta = {
        set: data,
        unset: [],
        replace: true,
        cookie: session.cookie.data,
        expiresAt: expires,
        lastSeenAt: now,
      };
    } else {
      // The exact size needs the whole data as JSON: only worth making when the bound says it might be over.
      if (changes.boundBytes > options.maxSessionBytes) checkSize(engine, dataOf(session));
      delta = {
        set: changes.set,
        unset: changes.unset,
        cookie: session.cookie.data,
        expiresAt: expires,
        lastSeenAt: now,
        // Checked again by the store on the merged data: concurrent requests cannot add up past it.
        maxBytes: options.maxSessionBytes,
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
    // A whole-session write replaces the stored fingerprint too: it is written again, as this request's
    // (which the load found equal to it, or kept under `onChange: 'report'`).
    if (rebind || (resave && options.binding !== undefined))
      delta.set = withFingerprint(engine, Session.requestOf(session), state.id, delta.set);
    engine.trace?.write(
      state.id,
      'update',
      updateReason(resave, force, changes, cookieChanged, userChanged, rebind),
    );
    return updateStored(
      engine,
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
  if (
    state.touched ||
    (!again && (engine.access.isExpressWay(store) || now - state.lastSeenAt >= touchAfter(engine, session)))
  ) {
    context.quiet = true;
    engine.trace?.write(state.id, 'touch', state.touched ? 'touch() called' : 'touchAfter passed');
    return touchStored(engine, store, state, expires, now);
  }
  engine.trace?.write(state.id, 'none', 'unchanged, touched recently');
  return 'none';
}

/**
 * `final`: the commit's own create, after which nothing of the request writes this ID again (the response
 * fails with its error, or stores nothing more). Only then may a create whose outcome is unknown be undone
 * (see `forgetCreated`): an explicit save() that failed is followed by the commit's create of the same ID.
 */
function createStored(
  engine: Engine<never>,
  store: SessionStore,
  session: Session,
  state: SessionState,
  record: SessionRecord,
  final: boolean,
): WriteResult | Promise<WriteResult> {
  // The answers are handed over as anonymous functions: the build keeps names (keepNames) by naming each
  // named function when it is made, which would cost a call per request here.
  const created = engine.access.viaStore(store, 'create', [state.id, record], (ok: boolean): WriteResult => {
    if (!ok)
      throw new SessionError('ERR_SESSION_EXISTS', 'sessionkit: a session with the generated ID exists');
    markSaved(session, state, record.lastSeenAt, record.data);
    state.isNew = false;
    state.issueCookie = true;
    engine.emitFor('create', state.id);
    return 'create';
  });
  if (typeof created === 'string' || !final) return created;
  return created.catch((error: unknown) => {
    if (isStoreFailure(error)) forgetCreated(engine, store, state.id);
    throw error;
  });
}

/**
 * A commit's create that got no answer within `storeTimeout`, or lost its connection on the way, may still
 * take effect after its request failed: the session would stay stored with no browser holding its cookie
 * (for a login, listed among the user's sessions) until it expires. Its ID is destroyed behind it, and
 * nothing waits for that: on a store that keeps the order of its calls (one connection) the destroy lands
 * after the create, whenever the store answers again.
 */
function forgetCreated(engine: Engine<never>, store: SessionStore, id: string): void {
  engine.access.call(store, 'destroy', () => store.destroy(id), id).catch(() => undefined);
}

function updateStored(
  engine: Engine<never>,
  store: SessionStore,
  session: Session,
  state: SessionState,
  delta: SessionDelta,
  changes: Changes | null,
  now: number,
  modified: boolean,
): WriteResult | Promise<WriteResult> {
  if (engine.access.isExpressWay(store)) {
    // express-session saves by writing the whole session (`set`), which its doubles count and fail.
    const record: SessionRecord = {
      // The whole record is replaced: without the fingerprint, the session would be rebound on every request.
      data: withFingerprint(engine, Session.requestOf(session), state.id, dataOf(session)),
      cookie: session.cookie.data,
      expiresAt: delta.expiresAt,
      createdAt: state.createdAt,
      lastSeenAt: now,
      userId: state.userId,
    };
    return engine.access
      .call(store, 'set', () => store.set(state.id, record))
      .then(() => updated(true, session, state, delta, changes, now, modified));
  }
  return engine.access.viaStore(
    store,
    'update',
    [state.id, delta],
    (ok: boolean) => updated(ok, session, state, delta, changes, now, modified),
    // Only with the diff just made against what was loaded: a resave's delta is the whole session.
    changes !== null ? state.loaded : null,
  );
}

function updated(
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
    markSaved(session, state, now, null);
  } else {
    markSaved(session, state, now, delta.set);
  }
  return 'update';
}

function touchStored(
  engine: Engine<never>,
  store: SessionStore,
  state: SessionState,
  expiresAt: number,
  now: number,
): WriteResult | Promise<WriteResult> {
  return engine.access.viaStore(store, 'touch', [state.id, expiresAt, now], (ok: boolean): WriteResult => {
    if (!ok) return 'lost';
    state.lastSeenAt = now;
    state.touched = false;
    state.loaded = null;
    return 'touch';
  });
}

/**
 * `login()` under `maxSessionsPerUser` (C31): stores `next`, already bound to its user, and has the store
 * apply the user's limit in the same atomic step. On `created` the session is stored as if committed;
 * any other outcome leaves it unstored.
 */
export async function storeWithinLimit(
  engine: Engine<never>,
  store: SessionStore,
  next: Session,
  limit: UserLimit,
): Promise<LimitOutcome> {
  const state = stateOf(next);
  const data = dataOf(next);
  checkSize(engine, data);
  const create = store.createWithinLimit;
  if (create === undefined) throw new NotSupportedError('createWithinLimit');
  const record: SessionRecord = {
    data: {
      ...withFingerprint(engine, Session.requestOf(next), state.id, data),
      [AUTH_TIME_KEY]: state.authTime,
    },
    cookie: next.cookie.data,
    expiresAt: expiresAt(engine, next, state, state.createdAt),
    createdAt: state.createdAt,
    lastSeenAt: state.createdAt,
    userId: state.userId,
  };
  const outcome = await engine.access.call(
    store,
    'create',
    () => create.call(store, state.id, record, limit),
    state.id,
  );
  if (outcome.result === 'created') {
    markSaved(next, state, record.lastSeenAt, record.data);
    state.isNew = false;
    state.issueCookie = true;
  }
  return outcome;
}

/** Records what the store holds after a write; `data: null` when the snapshot was already brought up to date. */
export function markSaved(
  session: Session,
  state: SessionState,
  now: number,
  data: Record<string, unknown> | null = dataOf(session),
): void {
  if (data !== null) state.snapshot = takeSnapshot(data);
  // The store now holds what this request wrote, which the loaded record does not show.
  state.loaded = null;
  state.cookieSnapshot = cookieShape(session.cookie);
  state.storedUserId = state.userId;
  state.storedAuthTime = state.authTime;
  // Every write that reaches here carried the request's fingerprint when one was due.
  state.rebind = false;
  state.lastSeenAt = now;
  state.touched = false;
}

function checkSize(engine: Engine<never>, data: Record<string, unknown>): void {
  const json = stringifyJson(data);
  checkDepth(json);
  const bytes = Buffer.byteLength(json);
  const { maxSessionBytes } = engine.options;
  if (bytes > maxSessionBytes) throw new SessionTooLargeError(bytes, maxSessionBytes);
}

/** The idle deadline (cookie expiry, or now + ttl for browser-session cookies), capped by the absolute timeout. */
function expiresAt(engine: Engine<never>, session: Session, state: SessionState, now: number): number {
  const idle = session.cookie.expires ? session.cookie.expires.valueOf() : now + engine.options.ttl;
  const { absoluteTimeout } = engine.options;
  return absoluteTimeout === undefined ? idle : Math.min(idle, state.createdAt + absoluteTimeout);
}

function touchAfter(engine: Engine<never>, session: Session): number {
  const { options } = engine;
  if (options.touchAfter !== undefined) return options.touchAfter;
  const lifetime = session.cookie.originalMaxAge ?? options.ttl;
  return Math.min(60_000, lifetime / 10);
}

function stateOf(session: Session): SessionState {
  return Session.stateOf(session);
}
