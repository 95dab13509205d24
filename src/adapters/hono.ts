import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { SessionError } from '../core/errors.js';
import { isSession, type TypedSession } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import { SessionManager } from '../engine/manager.js';
import {
  addNoStore,
  addSessionCookies,
  type HeaderedResponse,
  ownHeaderArgument,
} from '../engine/node-headers.js';
import type { SessionOptions } from '../engine/options.js';
import { commitSession, discardBody, FetchCarrier, type FetchHost, openSession } from './shared.js';

declare module 'hono' {
  interface ContextVariableMap {
    /**
     * What `c.set('session', …)` takes besides the session: `null` is express-session's
     * `req.session = null`, which the `unset` option decides about. (`c.get('session')` is typed by
     * `SessionEnv`: the session itself.)
     */
    session: TypedSession<SessionData> | null;
  }
}

/** Hono's environment with the session in `Variables`: `new Hono<SessionEnv<MyData>>()`. */
export type SessionEnv<Data = SessionData> = {
  Variables: {
    /** `c.get('session')` / `c.var.session`. Follows `regenerate()`, `login()` and `logout()`. */
    session: TypedSession<Data>;
  };
};

/** The request as `genid`, `cookie` and `skip` functions see it: `carrier.host` is Hono's context. */
export type HonoCarrier = FetchCarrier<Context>;

/** `session()`'s options; `genid`, `cookie` and `skip` functions receive a carrier whose `host` is `c`. */
export type HonoSessionOptions = SessionOptions<HonoCarrier>;

/** The middleware `session()` returns, with the core behind it. */
export type HonoSessionMiddleware<Data = SessionData> = MiddlewareHandler<SessionEnv<Data>> & {
  /** The core behind the middleware (events: `error`, `create`, `destroy`, `regenerate`, `invalid`). */
  readonly manager: SessionManager;
};

/**
 * Hono middleware (Node, through @hono/node-server): `app.use(session(options))`, then
 * `c.get('session')`. The session is stored after `await next()` and its Set-Cookie appended to the
 * response. Hono has no proxy setting of its own: behind a TLS-terminating proxy, set `proxy: true` so
 * `X-Forwarded-Proto` is trusted. A store failure while loading or saving becomes an `HTTPException`
 * with the error's status (503 when the store is down) and the SessionError as its `cause`; one that a
 * session method threw in the handler turns the 500 of Hono's error handling into that status.
 */
export function session<Data = SessionData>(options: HonoSessionOptions): HonoSessionMiddleware<Data> {
  const manager = new SessionManager<HonoCarrier>(options);
  const { skip, proxy, binding } = manager.options;
  const noStore = manager.options.noStoreWithCookie;

  const middleware: MiddlewareHandler<SessionEnv<Data>> = async (c, next) => {
    // Already handled (the middleware applied again in a sub-app mounted with `app.route()`, or another
    // sessionkit middleware before it): no session work at all, as express-session's `if (req.session)`.
    // A second session published over the first would hide what the request wrote to it, and its login.
    if (isSession(c.get('session'))) {
      manager.trace?.skipped(c.req.path, 'session already attached');
      await next();
      return;
    }
    // On @hono/node-server the Node request is at hand: reading its headers builds no WHATWG Headers.
    const incoming = (c.env as NodeBindings | undefined)?.incoming;
    const cookie = incoming ? incoming.headers.cookie : c.req.header('cookie');
    const forwarded =
      proxy !== true
        ? undefined
        : incoming
          ? firstOf(incoming.headers['x-forwarded-proto'])
          : c.req.header('x-forwarded-proto');
    const carrier = new FetchCarrier<Context>(c, HONO, cookie, forwarded);
    // As the browser compares the cookie's Path: with the request's path as sent, which Hono's
    // `c.req.path` gives percent-decoded (`/%61dmin` would read as inside a `/admin` cookie's Path).
    carrier.url = incoming?.url ?? c.req.url;
    if (binding !== undefined) {
      // The socket's peer: Hono has no proxy trust of its own, and off @hono/node-server no address at all.
      const agent = incoming ? firstOf(incoming.headers['user-agent']) : c.req.header('user-agent');
      carrier.client(agent, incoming?.socket?.remoteAddress);
    }
    if (skip?.(carrier)) {
      await next();
      return;
    }
    try {
      const loading = openSession(manager, carrier);
      if (loading !== undefined) await loading;
    } catch (error) {
      throw asHttpError(error);
    }
    await next();
    carrier.follow(c.get('session'));
    // A session method that failed in the handler (a destroy() on a store that is down) reached Hono's
    // error handling, which answers what it does not know with 500: the answer keeps its body and
    // headers but takes the error's status, as a load or save failure gets.
    if (c.error instanceof SessionError && c.res.status === 500) c.res = withStatus(c.res, c.error.status);
    const outgoing = (c.env as NodeBindings | undefined)?.outgoing;
    // The application answered through the Node response itself (@hono/node-server's
    // `RESPONSE_ALREADY_SENT`): no cookie can join that response, and `c.res` is then the server's one
    // shared constant, which must never take a visitor's cookie. As Koa's `ctx.respond = false`: what
    // changed in a session the browser holds is stored, a new session is not. Nothing waits on the store
    // (the answer is out, and a failure has no response left to fail): it is reported.
    if (outgoing?.headersSent === true) {
      await manager.commitAfterResponse(carrier);
      return;
    }
    let cookies: string[];
    try {
      // Awaited only when a store call is pending: most requests commit at once.
      const committed = commitSession(manager, carrier);
      cookies = Array.isArray(committed) ? committed : await committed;
    } catch (error) {
      // Hono's error response replaces the handler's, whose body nothing will read.
      discardBody(c.res);
      throw asHttpError(error);
    }
    if (cookies.length === 0) return;
    if (outgoing === undefined) setCookies(c, cookies, noStore);
    // Sent by hand while the store wrote: the cookies have no response left to join, and `c.res` is the
    // server's shared constant.
    else if (!outgoing.headersSent) sendWithHeaders(outgoing, cookies, noStore);
  };

  return Object.assign(middleware, { manager: manager as unknown as SessionManager });
}

const APPEND = { append: true } as const;

/**
 * Adds the session's headers to the response the handler made. Hono's `c.header()` on a finished
 * response rebuilds it around the old one's body stream, which sends @hono/node-server's lightweight
 * responses down its streaming path; the response's own headers take the additions in place, unless
 * they are immutable (a `fetch()` or `Response.redirect()` result), where `c.header()` is the way.
 */
function setCookies(c: Context, cookies: string[], noStore: boolean): void {
  try {
    const { headers } = c.res;
    for (const cookie of cookies) headers.append('Set-Cookie', cookie);
    // A shared cache must never hand one user's Set-Cookie to another (C20).
    if (noStore) headers.set('Cache-Control', 'no-store');
    return;
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  for (const cookie of cookies) c.header('Set-Cookie', cookie, APPEND);
  if (noStore) c.header('Cache-Control', 'no-store');
}

/** What @hono/node-server puts in `c.env`. */
type NodeBindings = { incoming?: IncomingMessage; outgoing?: NodeResponse };

/** The Node response (`http` or `http2` compatibility API) as `sendWithHeaders` uses it. */
interface NodeResponse extends HeaderedResponse {
  readonly headersSent: boolean;
  writeHead(statusCode: number, ...rest: unknown[]): unknown;
}

/**
 * On @hono/node-server: has the Node response add the session's headers to those the server writes
 * for the handler's response. Reading `c.res.headers` there would turn the handler's lightweight
 * response (a plain header record) into a WHATWG `Headers`, which the server then converts back into a
 * record for `writeHead`. Every response the server sends goes through `writeHead`, with the
 * application's headers as a record (or none); a copy of them takes the session's headers, as the
 * Express adapter's held `writeHead` does.
 */
function sendWithHeaders(outgoing: NodeResponse, cookies: string[], noStore: boolean): void {
  const writeHead = outgoing.writeHead;
  let added = false;
  outgoing.writeHead = (...args: [number, ...unknown[]]) => {
    if (!added) {
      added = true;
      ownHeaderArgument(args);
      addSessionCookies(outgoing, args, cookies);
      // A shared cache must never hand one user's Set-Cookie to another (C20).
      if (noStore) addNoStore(outgoing, args);
    }
    return writeHead.apply(outgoing, args);
  };
}

function firstOf(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

const HONO: FetchHost<Context> = {
  // @hono/node-server builds the URL with https on a TLS socket.
  secure: (c) => c.req.url.startsWith('https:'),
  publish: (c, session) => c.set('session', session as TypedSession),
};

function withStatus(response: Response, status: number): Response {
  return new Response(response.body, { status, headers: response.headers });
}

/** Hono answers an unknown error with 500: ours become HTTPExceptions carrying their status. */
function asHttpError(error: unknown): unknown {
  // Hono hands only Errors to app.onError and rethrows anything else past it: an express-session store
  // failing with a string or a plain object must still reach the application's error handler, as a 500.
  if (!(error instanceof Error))
    return new HTTPException(500, { message: STATUS_CODES[500] ?? 'Error', cause: error });
  if (!(error instanceof SessionError)) return error;
  // The body says no more than the status: a store's message may name hosts.
  const message = error.expose ? error.message : (STATUS_CODES[error.status] ?? 'Error');
  return new HTTPException(error.status as ContentfulStatusCode, { message, cause: error });
}

export default session;
