/**
 * Opening a request's session: the cookie's candidate IDs, each verified, loaded and judged in turn;
 * the first the store has is adopted (following a renewal within its grace), else a fresh session.
 */
import {
  holdsSession,
  RENEWED_AT_KEY,
  RENEWED_KEY,
  storedAuthTime,
  storedTime,
  withoutReserved,
} from '../core/auth-time.js';
import { EMPTY_SNAPSHOT, takeSnapshot } from '../core/changes.js';
import {
  type Cookie,
  continuedCookie,
  cookieShape,
  readCookieValues,
  restoreCookie,
} from '../core/cookie.js';
import { publishInvalid, traceRefusal } from '../core/diagnostics.js';
import { CorruptSessionError, SessionError, StoreUnavailableError } from '../core/errors.js';
import { EXPRESS_SESSION_ID_BYTES, generateId, isWellFormedId } from '../core/id.js';
import { renewalWindow } from '../core/renewal.js';
import { validateRecord } from '../core/serializer.js';
import { Session, type SessionState } from '../core/session.js';
import { type Secret, unsign } from '../core/signature.js';
import type { SessionRecord } from '../core/types.js';
import { LOADED_FROM, type Sourced } from '../stores/sync.js';
import { judgeBinding } from './binding.js';
import { type Engine, type EngineRequest, newContext, type RequestContext } from './context.js';
import { cookieOptionsFor, newCookie, outsidePath, parsedCookie, requestSecret } from './cookie-policy.js';
import type { SessionRequestLike } from './options.js';
import type { SessionStore } from './store-access.js';

/** The shortest base64url text that can hold 128 bits; a UUID (36 characters, 122 bits) passes. */
const MIN_CUSTOM_ID_LENGTH = 22;

/** Longest stale cookie candidates tried per request (duplicate names, B04). */
const MAX_CANDIDATES = 4;

/** A verified cookie value: the session ID, and which secret verified it (0 is the newest). */
interface VerifiedId {
  value: string;
  secretIndex: number;
}

/** See SessionManager.open. */
export function openSession<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
): undefined | null | Promise<void> {
  const cookieOptions = cookieOptionsFor(engine, req);
  // Outside the cookie's Path the browser would never send the cookie back: no session at all (`null`),
  // as express-session skips such requests.
  if (outsidePath(engine, req, cookieOptions)) return null;
  const context = newContext(engine, req, cookieOptions, engine.options.secrets ?? requestSecret(req));
  let candidates = readCookieValues(req.headers.cookie, engine.options.name);
  let fromHeader = true;
  if (candidates.length === 0) {
    candidates = parsedCookie(engine, req, context);
    fromHeader = false;
  }
  if (candidates.length === 0) {
    generate(engine, req, context);
    engine.trace?.opened(req.url, req.sessionID as string, 'fresh', 'no session cookie');
    return undefined;
  }
  try {
    return loadFromCookies(engine, req, context, candidates, 0, fromHeader);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Tries the cookie's candidate IDs from `from` on, in order, and attaches the first the store has. When
 * none of the Cookie header's values is signed by a secret of ours, a cookie parser's result is tried
 * next, as express-session's `getcookie` does (`cookieParser([newSecret, oldSecret])` verifies a cookie
 * signed with a secret the session no longer has). With
 * sessionkit's own MemoryStore the reads are synchronous and so is all of this (`undefined`): no promise,
 * no microtask, and the application runs in the same tick, as without a cookie.
 */
function loadFromCookies<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  candidates: string[],
  from: number,
  fromHeader: boolean,
): undefined | Promise<void> {
  const last = Math.min(candidates.length, MAX_CANDIDATES);
  for (let i = from; i < last; i++) {
    const id = verify(engine, candidates[i] as string, context.secrets);
    if (id === null) continue;
    context.presentedId ??= id.value;
    if (!engine.storeReady)
      throw traceRefusal(
        engine.access.kind,
        'get',
        id.value,
        new StoreUnavailableError('get', 'the store reported a disconnect'),
      );
    const getNow = engine.access.getNow(context.store);
    const loaded = getNow ? loadNow(engine, id.value, getNow) : load(engine, context.store, id.value);
    if (loaded instanceof Promise) {
      return loaded.then((record) =>
        record
          ? adopt(engine, req, context, id, record)
          : loadFromCookies(engine, req, context, candidates, i + 1, fromHeader),
      );
    }
    if (loaded !== null) return adopt(engine, req, context, id, loaded);
  }
  if (fromHeader && context.presentedId === null) {
    const parsed = parsedCookie(engine, req, context);
    if (parsed.length > 0) return loadFromCookies(engine, req, context, parsed, 0, false);
  }
  // A correctly signed ID the store does not have: expired, revoked, or guessed (C30, C34).
  if (context.presentedId !== null) engine.emitFor('unknown', context.presentedId);
  generate(engine, req, context);
  engine.trace?.opened(
    req.url,
    req.sessionID as string,
    'fresh',
    context.presentedId ? 'unknown ID' : 'invalid cookie',
  );
  return undefined;
}

function adopt<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  id: VerifiedId,
  record: SessionRecord,
): undefined | Promise<void> {
  if (record.data[RENEWED_KEY] !== undefined) return followRenewal(engine, req, context, id.value, record);
  context.presentedId = id.value;
  context.resign = id.secretIndex > 0;
  const { binding } = engine.options;
  const bound = binding === undefined ? 'bound' : judgeBinding(engine, binding, req, id.value, record);
  if (bound === 'end') return endBound(engine, req, context, id.value);
  attach(engine, req, context, id.value, record, bound === 'rebind');
  engine.trace?.opened(
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
async function followRenewal<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  oldId: string,
  marker: SessionRecord,
): Promise<void> {
  // The grace counts from the move, whatever the marker's expiry says: a write that reached the old ID
  // after the move (from an app server whose clock is behind) may have pushed that expiry out. The move
  // is dated by the server that made it, so the window allows for this server's clock being ahead.
  const movedAt = storedTime(marker.data, RENEWED_KEY);
  const next = engine.renewedIdOf(oldId);
  const record =
    movedAt !== null && movedAt + renewalWindow(engine.options.renewGrace) > Date.now()
      ? await load(engine, context.store, next)
      : null;
  if (!holdsSession(record)) {
    engine.emitFor('unknown', oldId);
    generate(engine, req, context);
    return;
  }
  // Awaited: with `binding`, adopting may end the renewed session first.
  await adopt(engine, req, context, { value: next, secretIndex: 1 }, record);
}

/**
 * `binding` with `onChange: 'end'` (C33): the session whose User-Agent or IP changed is ended as a logout
 * ends it (its record destroyed before the application runs, the cookie cleared by the response unless a
 * new session's replaces it), and the request goes on with a fresh session. A failed destroy fails the
 * request: the session must not be served, nor its cookie cleared while the store still holds it.
 */
async function endBound<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  id: string,
): Promise<void> {
  await engine.endStored(context.store, id);
  context.ended = true;
  generate(engine, req, context);
  engine.trace?.opened(req.url, req.sessionID as string, 'fresh', 'binding changed, session ended');
}

function verify<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  raw: string,
  secrets: readonly Secret[],
): VerifiedId | null {
  // express-session's format: "s:" + signed ID. An unsigned value is never adopted (C03, B07).
  const unsigned = raw.startsWith('s:') ? unsign(raw.slice(2), secrets) : null;
  if (!unsigned || !isWellFormedId(unsigned.value, engine.options.genid !== undefined)) {
    if (engine.listenerCount('invalid') > 0)
      engine.emit('invalid', { reason: unsigned ? 'malformed-id' : 'bad-signature' });
    publishInvalid(engine.access.kind, unsigned ? 'malformed-id' : 'bad-signature');
    return null;
  }
  return unsigned;
}

/** Reads a record; corrupt or past the absolute timeout counts as absent (and is removed). */
export async function load<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  store: SessionStore,
  id: string,
): Promise<SessionRecord | null> {
  let verdict: ReturnType<typeof judge>;
  try {
    verdict = judge(engine, await engine.access.call(store, 'get', () => store.get(id), id));
  } catch (error) {
    // express-session reads an express-session store's ENOENT as "no such session".
    if (engine.access.isBridged(store) && (error as { code?: unknown } | null)?.code === 'ENOENT')
      verdict = null;
    else verdict = corrupt(engine, error);
  }
  if (verdict === 'corrupt') await engine.destroyStored(store, id).catch(() => undefined);
  else if (verdict === 'expired') await engine.destroyStored(store, id);
  return typeof verdict === 'string' ? null : verdict;
}

/** `load` for the in-process MemoryStore: the same checks, synchronously. */
function loadNow<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  id: string,
  get: (id: string) => unknown,
): SessionRecord | null {
  const found = engine.access.callNow('get', () => get(id), id);
  const verdict = judge(engine, found);
  // The store's mark of what it read the record from goes with the checked copy, for the first write.
  const source = (found as Sourced | null)?.[LOADED_FROM];
  if (source !== undefined && verdict !== null && typeof verdict === 'object')
    (verdict as Sourced)[LOADED_FROM] = source;
  // Its destroy runs to completion before returning; only the `destroy` event waits for a microtask.
  if (typeof verdict === 'string')
    engine.destroyStored(engine.access.store, id).catch((error: unknown) => engine.report(error));
  return typeof verdict === 'string' ? null : verdict;
}

/** A CorruptSessionError (from the store or from `validateRecord`) is reported and means 'corrupt'; any other error is rethrown. */
function corrupt(engine: Engine<never>, error: unknown): 'corrupt' {
  if (!(error instanceof CorruptSessionError)) throw error;
  engine.report(error);
  return 'corrupt';
}

/**
 * What a store's answer means: the record, `null` when it had none, or a record to remove because it is
 * corrupt (reported; any store, ours or a bridged one, may hand back a malformed record, B18) or past
 * its deadline or the absolute timeout.
 */
function judge(engine: Engine<never>, found: unknown): SessionRecord | null | 'corrupt' | 'expired' {
  if (found === null || found === undefined) return null;
  let record: SessionRecord;
  try {
    record = validateRecord(found);
  } catch (error) {
    return corrupt(engine, error);
  }
  const now = Date.now();
  const { absoluteTimeout } = engine.options;
  if (
    record.expiresAt <= now ||
    (absoluteTimeout !== undefined && record.createdAt + absoluteTimeout <= now)
  ) {
    return 'expired';
  }
  return record;
}

function attach<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  id: string,
  record: SessionRecord,
  rebind: boolean,
): void {
  const cookie = restoreCookie(record.cookie, record.expiresAt);
  const shape = cookieShape(cookie);
  context.heldScope = shape;
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
    rebind,
    loaded: record,
  };
  install(req, context, new engine.sessionClass(engine, req, state, cookie, withoutReserved(record.data)));
}

/**
 * A fresh session (with `data` when regenerate keeps it), installed on the request. `movedTo`: the ID a
 * kept session moves to (see SessionManager.moveKept), which neither genid nor the generator makes.
 */
export function generate<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  data?: Record<string, unknown>,
  movedTo?: string,
  continuing?: Cookie,
): Session {
  const { options } = engine;
  const id =
    movedTo ??
    (options.genid
      ? options.genid(req)
      : generateId(engine.access.kind === 'express-session' ? EXPRESS_SESSION_ID_BYTES : undefined));
  if (typeof id !== 'string' || !isWellFormedId(id, options.genid !== undefined)) {
    throw new SessionError(
      'ERR_INVALID_ID',
      'sessionkit: genid() must return a cookie-safe string of 1–256 characters',
    );
  }
  // C01 asks for 128 bits from a CSPRNG, which no shorter base64url text holds. Warned, not refused:
  // express-session accepts any string, and its own tests and examples use short ones.
  if (options.genid && id.length < MIN_CUSTOM_ID_LENGTH)
    engine.warnOnce(
      `genid() returned an ID shorter than ${MIN_CUSTOM_ID_LENGTH} characters: a session ID needs at least 128 random bits (C01)`,
    );
  const cookie = continuing ? continuedCookie(continuing) : newCookie(engine, req, context);
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
    rebind: false,
    loaded: null,
  };
  const session = new engine.sessionClass(engine, req, state, cookie, data);
  install(req, context, session);
  return session;
}

export function install(
  req: EngineRequest<SessionRequestLike>,
  context: RequestContext,
  session: Session,
): void {
  context.session = session;
  req.session = session;
  req.sessionID = Session.stateOf(session).id;
}
