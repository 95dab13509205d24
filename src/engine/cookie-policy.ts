/**
 * The response-cookie policy: whether a request is secure, the cookie options a request gets, the
 * session cookie and the clearing cookie as Set-Cookie values, where the session cookie is read from
 * besides the Cookie header, and which requests the cookie's Path leaves out.
 */
import {
  attributeCase,
  Cookie,
  type CookieOptions,
  cookieResultOf,
  MAX_COOKIE_ATTRIBUTE_BYTES,
  overlongAttribute,
  serializeClearingCookie,
  serializeSessionCookie,
} from '../core/cookie.js';
import { SecretRequiredError, SessionError } from '../core/errors.js';
import { Session } from '../core/session.js';
import { type Secret, sign } from '../core/signature.js';
import type { Engine, EngineRequest, RequestContext } from './context.js';
import { type ResolvedOptions, type SessionRequestLike, validateCookie } from './options.js';

/** The session cookie for `session`, or `null` when a Secure cookie cannot go out on this request. */
export function sessionCookie<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
  session: Session,
): string | null {
  const { cookie } = session;
  const { options } = engine;
  if (cookie.secure !== true && options.namePrefix !== null) {
    // `secure: 'auto'` on plain HTTP, or Secure taken off on req.session.cookie: a browser would refuse it.
    engine.warnOnce(
      `a ${options.name} cookie was not sent without Secure; browsers refuse a __Secure- or __Host- cookie without it`,
    );
    return null;
  }
  if (cookie.secure !== true) {
    const none = attributeCase(cookie.sameSite) === 'none';
    if (none || cookie.partitioned === true)
      engine.warnOnce(
        `a cookie with ${none ? 'SameSite=None' : 'Partitioned'} was sent without Secure; browsers reject it`,
      );
  }
  // Only a Secure cookie needs to know whether the request was secure (Express's req.secure is not free).
  if (cookie.secure === true && !isSecure(engine, req, context)) {
    // express-session silently sends nothing here; say why once (anchors pain 12).
    engine.warnOnce(
      'a Secure cookie was not sent on a plain-HTTP request; behind a proxy set `proxy: true` or Express\'s "trust proxy"',
    );
    return null;
  }
  const value = `s:${sign(Session.stateOf(session).id, context.secrets[0] as Secret)}`;
  return serializeOrRefuse(options, value, session.cookie);
}

/** What the session cookie's Set-Cookie depends on besides the cookie itself. */
type CookieName = Pick<ResolvedOptions<unknown>, 'name' | 'namePrefix'>;

function serializeOrRefuse({ name, namePrefix }: CookieName, value: string, cookie: Cookie): string {
  // A __Host- cookie is only kept host-wide (RFC 6265bis 4.1.3.2): a Domain, or a Path the application
  // set on req.session.cookie, makes the browser drop it.
  if (namePrefix === 'host' && (cookie.domain != null || (cookie.path != null && cookie.path !== '/')))
    throw new SessionError(
      'ERR_INVALID_COOKIE',
      'sessionkit: the session cookie cannot be sent: a __Host- cookie has no Domain and the Path "/", or browsers drop it',
    );
  // A Path the application cleared on req.session.cookie is the root, as at session(); one that is not a
  // path at all would be re-scoped by the browser to the request's directory (C27).
  const path: unknown = cookie.path;
  if (path === null || path === '') cookie.path = '/';
  else if (typeof path !== 'string' || !path.startsWith('/'))
    throw new SessionError(
      'ERR_INVALID_COOKIE',
      `sessionkit: the session cookie cannot be sent: its Path ${JSON.stringify(path)} does not start with "/", so browsers would move it to the request's directory`,
    );
  // The name and the longest value always fit (see MAX_COOKIE_NAME_BYTES); an attribute the application
  // set on req.session.cookie may not, and a browser would quietly ignore it: a Domain left out narrows
  // the cookie to this host, a Path left out moves it to the request's directory (C27).
  const overlong = overlongAttribute(cookie);
  if (overlong !== null)
    throw new SessionError(
      'ERR_INVALID_COOKIE',
      `sessionkit: the session cookie cannot be sent: its ${overlong === 'domain' ? 'Domain' : 'Path'} is over ${MAX_COOKIE_ATTRIBUTE_BYTES} characters, which browsers ignore`,
    );
  try {
    return serializeSessionCookie(name, value, cookie, false);
  } catch (error) {
    // An attribute the application set on req.session.cookie that no Set-Cookie can carry.
    throw new SessionError(
      'ERR_INVALID_COOKIE',
      `sessionkit: the session cookie cannot be sent: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Refuses, before a write, a cookie whose attributes no Set-Cookie can carry: stored first, its session
 * would answer 500 and, when new, be left in the store with no cookie to find it.
 */
export function checkSendable(options: CookieName, cookie: Cookie): void {
  serializeOrRefuse(options, 's:', cookie);
}

/** The Set-Cookie that makes the browser forget the session cookie (C15). */
export function clearingCookie<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
): string {
  const cookie = newCookie(engine, req, context);
  // The scope the stored session's cookie was sent with (a Domain or Path the application set on it).
  const held = context.heldScope;
  if (held !== null) {
    cookie.path = held.path;
    cookie.domain = held.domain;
  }
  return serializeClearingCookie(engine.options.name, cookie.data, false);
}

/** A cookie from this request's options, with `'auto'` resolved and SameSite=Lax unless told otherwise. */
export function newCookie<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: EngineRequest<Req>,
  context: RequestContext,
): Cookie {
  const cookie = new Cookie(context.cookieOptions);
  if (cookie.secure === 'auto') cookie.secure = isSecure(engine, req, context);
  if (cookie.sameSite === 'auto') cookie.sameSite = isSecure(engine, req, context) ? 'none' : 'lax';
  else if (cookie.sameSite === undefined) cookie.sameSite = 'lax';
  return cookie;
}

function isSecure<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: Req,
  context: RequestContext,
): boolean {
  if (context.secure !== null) return context.secure;
  const { proxy } = engine.options;
  let secure: boolean;
  if (req.socket?.encrypted || req.connection?.encrypted) secure = true;
  else if (proxy === false) secure = false;
  else if (proxy !== true) secure = engine.secureOf(req);
  else {
    const header = req.headers['x-forwarded-proto'];
    const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0]?.trim().toLowerCase();
    secure = first === 'https';
  }
  context.secure = secure;
  return secure;
}

/** The cookie options of this request: the `cookie` option, or what its function returns for the request. */
export function cookieOptionsFor<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: Req,
): CookieOptions {
  const { cookie } = engine.options;
  if (typeof cookie !== 'function') return cookie;
  const options = { ...cookieResultOf(cookie(req)) };
  const warnings: string[] = [];
  validateCookie(engine.options.name, options, warnings);
  for (const warning of warnings) engine.warnOnce(warning);
  return options;
}

/** Requests outside the cookie's Path (express-session compares the original URL's path with it). */
export function outsidePath<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: Req,
  cookieOptions: CookieOptions,
): boolean {
  const { options } = engine;
  const path = options.cookiePath ?? (typeof options.cookie === 'function' ? cookieOptions.path : undefined);
  const url = req.originalUrl ?? req.url;
  // A framework that gives no path (Next.js): the browser's own Path check is the only one.
  if (url === undefined) return false;
  if (path === undefined || path === null || path === '/' || path === '') {
    // Only a target without a path (`OPTIONS *`) is outside `/`, as express-session finds.
    return url.charCodeAt(0) !== 0x2f && !pathnameOf(url).startsWith('/');
  }
  return !pathnameOf(url).startsWith(path);
}

/**
 * The session cookie as a cookie parser that ran before left it, when the Cookie header no longer has
 * it (express-session's `getcookie`): `req.signedCookies[name]`, already verified by cookie-parser, is
 * signed again for verification; `req.cookies[name]` must carry our own signature.
 */
export function parsedCookie<Req extends SessionRequestLike>(
  engine: Engine<Req>,
  req: Req,
  context: RequestContext,
): string[] {
  const { name } = engine.options;
  const signed = req.signedCookies?.[name];
  if (typeof signed === 'string' && signed !== '') return [`s:${sign(signed, context.secrets[0] as Secret)}`];
  const plain = req.cookies?.[name];
  return typeof plain === 'string' && plain !== '' ? [plain] : [];
}

/** The request's `req.secret` (cookie-parser's) as the only secret, when `session()` was given none. */
export function requestSecret(req: { secret?: unknown }): Secret[] {
  const { secret } = req;
  if ((typeof secret === 'string' || Buffer.isBuffer(secret)) && secret.length > 0) return [secret];
  throw new SecretRequiredError();
}

/** Whether a request arrived over HTTPS by the framework's own proxy trust: Express's `req.secure`. */
export function frameworkSecure(req: SessionRequestLike): boolean {
  return req.secure === true;
}

/**
 * The path of a request target, as express-session reads it (`url.parse`): `/a/b` of `/a/b?x` and of
 * `http://host/a/b`, `/` of `http://host?x` and of an empty target; one that is neither (`*`) is its text
 * before any `?`.
 */
function pathnameOf(url: string): string {
  let start = 0;
  let end = url.length;
  for (const stop of ['?', '#']) {
    const at = url.indexOf(stop);
    if (at !== -1 && at < end) end = at;
  }
  if (!url.startsWith('/')) {
    const scheme = url.indexOf('://');
    if (scheme === -1 || scheme > end) return url.slice(0, end) || '/';
    start = url.indexOf('/', scheme + 3);
    if (start === -1 || start > end) return '/';
  }
  return url.slice(start, end) || '/';
}
