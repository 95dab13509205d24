import { Stream } from 'node:stream';
import type { Context, Middleware, Next } from 'koa';
import { dataOf } from '../core/changes.js';
import type { CookieOptions } from '../core/cookie.js';
import { InvalidArgumentError, OptionsError } from '../core/errors.js';
import { isSession, Session } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import { type SessionCarrier, SessionManager } from '../engine/manager.js';
import type { SessionOptions, SessionRequestLike } from '../engine/options.js';
import { type ExpressStoreLike, isNativeStore, type SessionStore } from '../engine/store-access.js';
import { commitSession, type ForeignOption, openSession, refuseForeignOptions } from './shared.js';

/**
 * `ctx.session`: sessionkit's session with koa-session's accessors beside its methods (`isNew`,
 * `populated`, `length`, `maxAge`), so koa-session code reads the same. They live on the class, never in
 * the data, and cannot be set as data keys, as in koa-session.
 */
export class KoaSession extends Session {
  /** Whether this request made the session: the browser sent no cookie for it (koa-session's `isNew`). */
  get isNew(): boolean {
    return Session.stateOf(this).browserCookie === null;
  }

  /** Whether the session holds any data (koa-session's `populated`). */
  get populated(): boolean {
    return this.length > 0;
  }

  /** How many data keys the session holds (koa-session's `length`). */
  get length(): number {
    return Object.keys(dataOf(this)).length;
  }

  /**
   * The cookie's lifetime in ms, or `'session'` for a browser-session cookie (koa-session's `maxAge`).
   * Setting it changes this session's cookie, which the response then sends, as `cookie.maxAge` does.
   */
  get maxAge(): number | 'session' {
    return this.cookie.originalMaxAge ?? 'session';
  }

  set maxAge(value: number | 'session') {
    this.cookie.maxAge = value === 'session' ? null : value;
  }

  /**
   * Stores the session now and puts its Set-Cookie on the response, as the middleware does after
   * `await next()` (koa-session's `manuallyCommit()`, for `autoCommit: false`). Rejects as that commit
   * does: a store failure is a `SessionError` with status 503 unless `onStoreError: 'anonymous'`. With
   * `autoCommit` left on, the middleware's own commit still runs and stores what changed since. Each
   * commit of a request waits for the one before, and once one failed, none runs after it.
   */
  manuallyCommit(): Promise<void> {
    // Each middleware's sessions are of a subclass of its own that overrides this.
    return Promise.resolve();
  }
}

/** `ctx.session` as a plain property of the request's context, as Koa has it without koa-session. */
const OWN_SESSION: PropertyDescriptor = {
  value: undefined,
  writable: true,
  enumerable: true,
  configurable: true,
};

/** A request's manual commits: the last one, and whether one of them failed. */
interface ManualCommits {
  last: Promise<void>;
  failed: boolean;
}
const MANUAL_COMMITS = Symbol('sessionkit.koa.manualCommits');
/** The Set-Cookie values this middleware put on the response, replaced by a later commit's. */
const SENT_COOKIES = Symbol('sessionkit.koa.sentCookies');

/** `ctx.session` typed with the application's data. */
export type TypedKoaSession<Data = SessionData> = KoaSession & Partial<Data>;

declare module 'koa' {
  interface DefaultContext {
    /** The session (sessionkit). Type its data by augmenting `SessionData` from 'sessionkit'. */
    get session(): TypedKoaSession<SessionData>;
    /**
     * As with koa-session: `null` ends the session (a logout; `unset` decides), an object replaces its
     * data.
     */
    set session(value: TypedKoaSession<SessionData> | Partial<SessionData> | null);
    sessionID: string;
    sessionStore: SessionStore | ExpressStoreLike;
  }
}

/** `session()`'s options; `genid`, `cookie` and `skip` functions receive Koa's `ctx`. */
export type KoaSessionOptions = SessionOptions<Context> & {
  /**
   * `false`: the middleware stores nothing and sends no cookie after `await next()`; the application
   * calls `await ctx.session.manuallyCommit()` where it wants that done (koa-session's option). Session
   * operations (`save()`, `login()`, `regenerate()`, `destroy()`…) still reach the store when called, but
   * their cookie only with a commit. Default `true`.
   */
  autoCommit?: boolean;
  /**
   * koa-session's cookie options, which it takes at the top level: each goes into `cookie` (an attribute
   * given there too wins). `maxAge: 'session'` is a browser-session cookie.
   */
  maxAge?: number | 'session';
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: CookieOptions['sameSite'];
  path?: string;
  domain?: string;
  /** koa-session's option: `true` only, which changes nothing (the cookie is always signed, with `secret`). */
  signed?: true;
  /** koa-session's option: `true` only, which changes nothing (the cookie always replaces an earlier one). */
  overwrite?: true;
};

/** koa-session's cookie options, given at the top level there. */
const KOA_COOKIE_OPTIONS = ['maxAge', 'httpOnly', 'secure', 'sameSite', 'path', 'domain'] as const;

/** koa-session options sessionkit has no counterpart for (see refuseForeignOptions). */
const KOA_UNSUPPORTED: Record<string, ForeignOption> = {
  signed: {
    harmless: true,
    why: 'false is not supported: the session cookie is always signed (with `secret`)',
  },
  overwrite: {
    harmless: true,
    why: 'false is not supported: the session cookie always replaces an earlier one',
  },
  renew: { why: "is koa-session's: use `rolling` (a cookie on every response) or `renewAfter` (a new ID)" },
  encode: { why: "is koa-session's cookie-stored session: sessions are kept in the store" },
  decode: { why: "is koa-session's cookie-stored session: sessions are kept in the store" },
  prefix: { why: "is koa-session's: give the store its prefix (e.g. RedisStore's `prefix`)" },
  externalKey: { why: "is not supported: the session ID is the session cookie's" },
  ContextStore: { why: 'is not supported: pass a sessionkit store or an express-session store as `store`' },
  valid: { why: 'is not supported: check the session in a middleware after this one' },
  beforeSave: { why: 'is not supported: change the session in a middleware after this one' },
};

/**
 * The engine's options from koa-session-style ones: top-level cookie options moved into `cookie`, and
 * the options sessionkit has no counterpart for refused.
 */
function engineOptionsOf(options: Omit<KoaSessionOptions, 'autoCommit'>): SessionOptions<Carrier> {
  refuseForeignOptions(options, KOA_UNSUPPORTED);
  const { signed: _signed, overwrite: _overwrite, ...rest } = options as Record<string, unknown>;
  const fromTop: CookieOptions = {};
  for (const name of KOA_COOKIE_OPTIONS) {
    if (rest[name] === undefined) continue;
    if (typeof options.cookie === 'function')
      throw new OptionsError(name, 'cannot be given beside a `cookie` function: return it from the function');
    (fromTop as Record<string, unknown>)[name] =
      name === 'maxAge' && rest[name] === 'session' ? null : rest[name];
    delete rest[name];
  }
  const store = rest.store as { createSession?: unknown } | undefined;
  // Every express-session store has createSession() (express-session calls it; its Store class gives it).
  // A koa-session store (koa-redis…) has get/set/destroy too, but answers with promises, not callbacks.
  if (store != null && !isNativeStore(store) && typeof store.createSession !== 'function')
    throw new OptionsError(
      'store',
      'looks like a koa-session store (no createSession): pass a sessionkit store (RedisStore, …) or an express-session store',
    );
  const cookie =
    Object.keys(fromTop).length === 0 || typeof options.cookie === 'function'
      ? options.cookie
      : { ...fromTop, ...options.cookie };
  return {
    ...(rest as SessionOptions<Carrier>),
    ...(cookie === undefined ? {} : { cookie }),
    unset: options.unset ?? 'destroy',
  } as SessionOptions<Carrier>;
}

/** The middleware `session()` returns, with the core behind it and a typed accessor. */
export interface KoaSessionMiddleware<Data = SessionData> extends Middleware {
  /** The core behind the middleware (events: `error`, `create`, `destroy`, `regenerate`, `invalid`). */
  readonly manager: SessionManager;
  /** `ctx.session`, typed with this middleware's data type (no declaration merging needed). */
  get(ctx: Context): TypedKoaSession<Data>;
}

type Carrier = Context & SessionRequestLike & SessionCarrier;

/**
 * Koa 2/3 middleware: `app.use(session(options))` gives `ctx.session`. The session is stored after
 * `await next()`, before Koa writes the response. `secure: 'auto'` follows `ctx.secure`, which trusts
 * `X-Forwarded-Proto` when `app.proxy` is set. `ctx.session = null` ends the session (`unset` defaults to
 * `'destroy'` here, as koa-session logs out); `ctx.session = { … }` replaces its data, as in koa-session.
 * A request whose downstream throws is committed as koa-session commits it, for an error middleware of
 * the application's to answer with the cookie; if the error reaches Koa's own error response, which drops
 * the cookie, what the commit or a session operation stored for it (a new session, a kept regenerate, a
 * login under `maxSessionsPerUser`) is ended first. One answered by hand (`ctx.respond = false`) stores changes to a session the browser holds, never a new one.
 */
export function session<Data = SessionData>(options: KoaSessionOptions): KoaSessionMiddleware<Data>;
/** koa-session's call shape, `session(CONFIG, app)`: the application is not needed, and ignored. */
export function session<Data = SessionData>(
  options: KoaSessionOptions,
  app: unknown,
): KoaSessionMiddleware<Data>;
export function session<Data = SessionData>(options: KoaSessionOptions): KoaSessionMiddleware<Data> {
  const { autoCommit = true, ...engineOptions } = options;
  if (typeof autoCommit !== 'boolean') throw new OptionsError('autoCommit', 'must be a boolean');
  // `ctx.session = null` is how koa-session applications log out: it ends the session here too, unless
  // the application asks for express-session's `unset: 'keep'` (see engineOptionsOf).
  const manager = new SessionManager<Carrier>(engineOptionsOf(engineOptions));
  const { skip } = manager.options;
  const noStore = manager.options.noStoreWithCookie;

  /**
   * Stores the session and puts its cookies on the response, once the application is done with it.
   * `undefined` when that is done at once (most requests: no store call is pending), else a promise.
   */
  const commit = (ctx: Context, onFailure?: () => void): undefined | Promise<void> => {
    const carrier = ctx as unknown as Carrier;
    const assigned: unknown = (ctx as { session?: unknown }).session;
    if (assigned !== null && typeof assigned === 'object' && !(assigned instanceof Session))
      manager.replaceData(carrier, assigned as Record<string, unknown>);
    else if (
      assigned === undefined
        ? manager.removedByApplication(carrier)
        : assigned !== null && !(assigned instanceof Session)
    )
      // koa-session refuses it at the assignment: `ctx.session = false` is not a logout, nor is an
      // `undefined` that came from a lookup that found nothing. No cookie goes out.
      return manager.abandon(carrier).then(() => {
        throw new InvalidArgumentError('ctx.session =', 'the value', 'null or an object');
      });
    // The application answers by hand (`ctx.respond = false`), now or once something it awaits is done
    // (a proxy): no cookie can join that response. What it changed in a session the browser holds is
    // stored; a new session is not (warned once).
    if (ctx.res.headersSent || ctx.respond === false) return manager.commitLate(carrier);
    const committed = commitSession(manager, carrier, onFailure);
    if (Array.isArray(committed)) {
      setCookies(ctx, committed, noStore);
      return undefined;
    }
    return held(ctx.body, committed).then((cookies) => setCookies(ctx, cookies, noStore));
  };

  /**
   * `manuallyCommit()`: after the request's previous manual commit, so that two never create the same
   * ID side by side (an un-awaited call, as koa-session's README writes it, then the automatic one).
   * After a failed one nothing more is committed: its create may still land, and the destroy sent behind
   * it must not meet a second create of the same ID.
   */
  const commitByHand = (ctx: Context): Promise<void> => {
    const holder = ctx as { [MANUAL_COMMITS]?: ManualCommits };
    holder[MANUAL_COMMITS] ??= { last: Promise.resolve(), failed: false };
    const commits = holder[MANUAL_COMMITS];
    const run = commits.last.then(() => {
      if (commits.failed) return;
      return commit(ctx, () => {
        commits.failed = true;
      });
    });
    commits.last = run.catch(() => undefined);
    return run;
  };
  manager.sessionClass = class extends KoaSession {
    override manuallyCommit(): Promise<void> {
      return commitByHand(Session.requestOf(this) as Context);
    }
  };

  const middleware = async (ctx: Context, next: Next): Promise<void> => {
    // Koa's `ctx.cookies` is its cookie jar, not a parsed-cookie record; a name it lacks reads as absent.
    const carrier = ctx as unknown as Carrier;
    // Read only as an own property: another package's `ctx.session` (koa-session's accessor on
    // `app.context`, kept on other paths during a migration) is no session of ours, and its getter makes one.
    const own = Object.hasOwn(ctx, 'session');
    // Mounted twice (a sessionkit session is on ctx), or exempt: no session work at all.
    if ((own && isSession(carrier.session)) || skip?.(carrier)) {
      await next();
      return;
    }
    // The session goes on ctx itself, so that such an accessor neither swallows it nor answers for it.
    if (!own && 'session' in ctx) Object.defineProperty(ctx, 'session', OWN_SESSION);
    const loading = openSession(manager, carrier);
    if (loading !== undefined) await loading;
    try {
      await next();
    } catch (error) {
      const manual = (ctx as { [MANUAL_COMMITS]?: ManualCommits })[MANUAL_COMMITS];
      if (manual !== undefined) await manual.last;
      if (autoCommit && !manual?.failed) {
        // As koa-session, which commits in a `finally`: an error middleware of the application's above
        // this one may answer the error with a page of its own, which keeps the headers set before it
        // (a failed login counted in the session, a flash message). A failed commit leaves that error
        // to answer, and is reported.
        try {
          const committing = commit(ctx);
          if (committing !== undefined) await committing;
        } catch (failure) {
          manager.report(failure);
        }
      }
      // Koa's own error response drops every header set before it: if the error reaches it, what this
      // request stored for a cookie the browser will not get (a new session, a kept regenerate, a login
      // under maxSessionsPerUser) is ended first, as no browser will hold it.
      if (SENT_COOKIES in ctx) endUnsentOnError(ctx, manager, carrier);
      else await manager.abandon(carrier);
      throw error;
    }
    const commits = (ctx as { [MANUAL_COMMITS]?: ManualCommits })[MANUAL_COMMITS];
    if (commits !== undefined) await commits.last;
    if (!autoCommit || commits?.failed) {
      // Headers the application set after a manual commit must not let a shared cache keep its cookie (C20).
      if (noStore && SENT_COOKIES in ctx && !ctx.res.headersSent && ctx.res.hasHeader('set-cookie'))
        ctx.res.setHeader('Cache-Control', 'no-store');
      return;
    }
    const committing = commit(ctx);
    if (committing !== undefined) await committing;
  };

  return Object.assign(middleware, {
    manager: manager as unknown as SessionManager,
    get(ctx: Context): TypedKoaSession<Data> {
      return (ctx as Carrier).session as unknown as TypedKoaSession<Data>;
    },
  });
}

/**
 * Has Koa's error response (`ctx.onerror`, which removes every header before it answers) wait for the
 * request's stored-but-unsent sessions to be ended, when the thrown error reaches it; an error middleware
 * of the application's that answers the error keeps the cookie, and nothing is ended.
 */
function endUnsentOnError(ctx: Context, manager: SessionManager<Carrier>, carrier: Carrier): void {
  const onerror = ctx.onerror;
  ctx.onerror = function (this: Context, error: Error) {
    // `null` is no error (Koa passes `ctx.onerror` as a Node callback); a response that started keeps its headers.
    if ((error as Error | null) == null || ctx.headerSent || !ctx.writable) return onerror.call(this, error);
    // As after a failed commit: the commit happened, but its cookie will not go out.
    void manager.abandon(carrier, true).then(() => onerror.call(this, error));
  };
}

/**
 * Waits for the commit with an error listener on a streamed body (`ctx.body = stream`): Koa listens for
 * the stream's errors only once it pipes it, after this middleware, so one that failed while the store
 * wrote would be an uncaught 'error' event. The failed stream then meets Koa's pipe as it would have.
 */
async function held(body: unknown, committed: Promise<string[]>): Promise<string[]> {
  if (!(body instanceof Stream)) return committed;
  const ignore = (): void => {};
  body.on('error', ignore);
  try {
    return await committed;
  } finally {
    body.off('error', ignore);
  }
}

/**
 * Appends the session's Set-Cookie values as `ctx.append` would, on the Node response itself: Koa's
 * `append` reads the existing value through `ctx.response.header`, which copies every header of the
 * response into a new object on each call. Like `ctx.set`, it does nothing once the headers are sent
 * (`ctx.respond = false` and the application wrote the response itself).
 */
function setCookies(ctx: Context, cookies: string[], noStore: boolean): void {
  const { res } = ctx;
  // Nothing to add, and no earlier commit's cookies to replace: most reads.
  if ((cookies.length === 0 && !(SENT_COOKIES in ctx)) || res.headersSent) return;
  // A second commit (`manuallyCommit()`, then the middleware's) replaces the cookies of the first.
  const sent = (ctx as { [SENT_COOKIES]?: string[] })[SENT_COOKIES] ?? [];
  (ctx as { [SENT_COOKIES]?: string[] })[SENT_COOKIES] = cookies;
  const previous = res.getHeader('set-cookie');
  const values = (previous ? (Array.isArray(previous) ? previous : [String(previous)]) : [])
    .filter((value) => !sent.includes(value))
    .concat(cookies);
  if (values.length === 0) {
    res.removeHeader('Set-Cookie');
    return;
  }
  // One value as a string, as `ctx.append` leaves it, so `ctx.response.get('Set-Cookie')` reads the same.
  res.setHeader('Set-Cookie', values.length === 1 ? (values[0] as string) : values);
  // A shared cache must never hand one user's Set-Cookie to another (C20).
  if (noStore) res.setHeader('Cache-Control', 'no-store');
}

export default session;
