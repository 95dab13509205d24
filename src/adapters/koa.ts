import type { ServerResponse } from 'node:http';
import { Stream } from 'node:stream';
import type { Context, Middleware, Next } from 'koa';
import { dataOf } from '../core/changes.js';
import { Session } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import { type SessionCarrier, SessionManager } from '../engine/manager.js';
import type { SessionOptions, SessionRequestLike } from '../engine/options.js';
import type { ExpressStoreLike, SessionStore } from '../engine/store-access.js';
import { commitSession, openSession } from './shared.js';

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
}

/** `ctx.session` typed with the application's data. */
export type TypedKoaSession<Data = SessionData> = KoaSession & Partial<Data>;

declare module 'koa' {
  interface DefaultContext {
    /** The session (sessionkit). Type its data by augmenting `SessionData` from 'sessionkit'. */
    session: TypedKoaSession<SessionData>;
    sessionID: string;
    sessionStore: SessionStore | ExpressStoreLike;
  }
}

/** `session()`'s options; `genid`, `cookie` and `skip` functions receive Koa's `ctx`. */
export type KoaSessionOptions = SessionOptions<Context>;

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
 * A request whose downstream throws stores nothing; one
 * answered by hand (`ctx.respond = false`) stores changes to a session the browser holds, never a new one.
 */
export function session<Data = SessionData>(options: KoaSessionOptions): KoaSessionMiddleware<Data> {
  // `ctx.session = null` is how koa-session applications log out: it ends the session here too, unless
  // the application asks for express-session's `unset: 'keep'`.
  const manager = new SessionManager<Carrier>({
    ...options,
    unset: options.unset ?? 'destroy',
  } as SessionOptions<Carrier>);
  manager.sessionClass = KoaSession;
  const { skip } = manager.options;
  const noStore = manager.options.noStoreWithCookie;

  const middleware = async (ctx: Context, next: Next): Promise<void> => {
    // Koa's `ctx.cookies` is its cookie jar, not a parsed-cookie record; a name it lacks reads as absent.
    const carrier = ctx as unknown as Carrier;
    // Mounted twice, or exempt: no session work at all.
    if (carrier.session || skip?.(carrier)) {
      await next();
      return;
    }
    const loading = openSession(manager, carrier);
    if (loading !== undefined) await loading;
    await next();
    const assigned: unknown = (ctx as { session?: unknown }).session;
    if (assigned !== null && typeof assigned === 'object' && !(assigned instanceof Session))
      manager.replaceData(carrier, assigned as Record<string, unknown>);
    if (ctx.res.headersSent) {
      // The application answered by hand (`ctx.respond = false`): no cookie can join that response. What
      // it changed in a session the browser holds is stored; a new session is not (warned once).
      const late = manager.commitLate(carrier);
      if (late !== undefined) await late;
      return;
    }
    // Awaited only when a store call is pending: most requests commit at once.
    const committed = commitSession(manager, carrier);
    const cookies = Array.isArray(committed) ? committed : await held(ctx.body, committed);
    if (cookies.length > 0) setCookies(ctx.res, cookies, noStore);
  };

  return Object.assign(middleware, {
    manager: manager as unknown as SessionManager,
    get(ctx: Context): TypedKoaSession<Data> {
      return (ctx as Carrier).session as unknown as TypedKoaSession<Data>;
    },
  });
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
function setCookies(res: ServerResponse, cookies: string[], noStore: boolean): void {
  if (res.headersSent) return;
  const previous = res.getHeader('set-cookie');
  const values = previous
    ? (Array.isArray(previous) ? previous : [String(previous)]).concat(cookies)
    : cookies;
  // One value as a string, as `ctx.append` leaves it, so `ctx.response.get('Set-Cookie')` reads the same.
  res.setHeader('Set-Cookie', values.length === 1 ? (values[0] as string) : values);
  // A shared cache must never hand one user's Set-Cookie to another (C20).
  if (noStore) res.setHeader('Cache-Control', 'no-store');
}

export default session;
