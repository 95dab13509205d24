import { OptionsError } from '../core/errors.js';
import { BEFORE_COOKIE_CHANGE } from '../engine/context.js';
import type { SessionCarrier, SessionManager } from '../engine/manager.js';
import type { SessionRequestLike } from '../engine/options.js';

/**
 * What every adapter other than Express's shares: opening and committing with the `onStoreError`
 * policy applied, so each framework file only wires these into its own hooks.
 */

type Manager<C extends SessionRequestLike> = SessionManager<C>;

/** Whether a store failure is absorbed (`onStoreError: 'anonymous'`); reports it when it is. */
function absorbed<C extends SessionRequestLike>(manager: Manager<C>, error: unknown): boolean {
  if (!manager.absorbs(error)) return false;
  manager.report(error);
  return true;
}

/**
 * Loads the carrier's session. `undefined` when it is ready now (no cookie, or the in-process
 * MemoryStore, or a request outside the cookie's Path, which gets no session, as with express-session),
 * else a promise. A store failure rejects (a SessionError, status 503) unless
 * `onStoreError: 'anonymous'`, which gives a fresh session that is never stored.
 */
export function openSession<C extends SessionRequestLike>(
  manager: Manager<C>,
  carrier: C & SessionCarrier,
): undefined | Promise<void> {
  let loading: undefined | null | Promise<void>;
  try {
    loading = manager.open(carrier);
  } catch (error) {
    loading = Promise.reject(error);
  }
  if (loading === undefined || loading === null) return undefined;
  return loading.catch((error: unknown) => openAnonymously(manager, carrier, error));
}

function openAnonymously<C extends SessionRequestLike>(
  manager: Manager<C>,
  carrier: C & SessionCarrier,
  error: unknown,
): void {
  if (!absorbed(manager, error)) throw error;
  manager.openAnonymous(carrier);
}

/**
 * Stores what the request changed and gives the Set-Cookie values for the response, at once when no
 * store call is needed. Call it before the response's headers leave: that is the save-before-response
 * guarantee. A store failure rejects unless `onStoreError: 'anonymous'` (then no cookie is sent).
 */
export function commitSession<C extends SessionRequestLike>(
  manager: Manager<C>,
  carrier: C & SessionCarrier,
  onFailure?: () => void,
): string[] | Promise<string[]> {
  let committed: string[] | Promise<string[]>;
  try {
    committed = manager.commit(carrier);
  } catch (error) {
    committed = Promise.reject(error);
  }
  if (Array.isArray(committed)) return committed;
  return committed.catch((error: unknown) => {
    onFailure?.();
    if (absorbed(manager, error)) return [];
    throw error;
  });
}

/**
 * An option of the session package an adapter replaces that sessionkit has no counterpart for: why it is
 * refused, and the value it may keep when that value changes nothing (`signed: true`).
 */
export interface ForeignOption {
  why: string;
  harmless?: unknown;
}

/**
 * Refuses at setup, naming it, each option of `foreign` that `given` sets to anything but its harmless
 * value: kept silently, a switch from that package would drop a setting the application relies on.
 */
export function refuseForeignOptions(given: object, foreign: Record<string, ForeignOption>): void {
  for (const [name, { why, harmless }] of Object.entries(foreign)) {
    const value = (given as Record<string, unknown>)[name];
    if (value !== undefined && value !== harmless) throw new OptionsError(name, why);
  }
}

/**
 * Lets go of a response, or a body, that will never be sent (an error response replaces it when the
 * commit fails): a `Response`'s body or a `ReadableStream` is cancelled, so what feeds it (a file, a
 * database cursor) is closed now instead of holding its descriptor until nothing else is left to read
 * it, which is never. Anything else is left as it is.
 */
export function discardBody(body: unknown): void {
  const stream = body instanceof Response ? body.body : body;
  if (stream instanceof ReadableStream) stream.cancel().catch(() => undefined);
}

/** How an adapter answers for its framework's requests; made once per adapter, not per request. */
export interface FetchHost<Host> {
  /** Whether the request came over HTTPS, as the framework tells it (read only for a Secure cookie). */
  secure(host: Host): boolean;
  /** Puts the session where the framework's handlers read it. */
  publish(host: Host, session: SessionCarrier['session']): void;
  /** Throws when this request's response cannot set cookies (see BEFORE_COOKIE_CHANGE). */
  beforeCookieChange?(host: Host): void;
}

/**
 * The request as the manager reads it, for frameworks built on WHATWG `Request` (Hono, SvelteKit,
 * Next.js): the cookie header, `X-Forwarded-Proto` (given only with `proxy: true`), whether the
 * request is secure, and, with the `binding` option only, the User-Agent and the client's address.
 * `host` is the framework's own object (Hono's context, SvelteKit's event), which `genid`, `cookie` and
 * `skip` functions receive through the carrier. Assigning `session` (the manager
 * does, on open, regenerate and destroy) publishes it where the framework's handlers read it.
 */
export class FetchCarrier<Host> implements SessionRequestLike, SessionCarrier {
  readonly headers: Record<string, string | undefined>;
  sessionID?: string;
  sessionStore?: SessionCarrier['sessionStore'];
  /**
   * The client's address as the framework gives it (SvelteKit's `getClientAddress()`, the socket's on
   * @hono/node-server), set by `client()` only: a request without the `binding` option carries none.
   */
  declare ip?: string;
  /**
   * The request's path, compared with the cookie's Path (a request outside it gets no session). Left out
   * where the framework gives none (Next.js): the browser's own Path check is then the only one.
   */
  declare url?: string;
  #session: SessionCarrier['session'];
  readonly #adapter: FetchHost<Host>;

  constructor(
    readonly host: Host,
    adapter: FetchHost<Host>,
    cookie: string | null | undefined,
    forwardedProto?: string | null,
  ) {
    this.headers = { cookie: cookie ?? undefined };
    if (forwardedProto != null) this.headers['x-forwarded-proto'] = forwardedProto;
    this.#adapter = adapter;
  }

  /** What the `binding` option compares: the request's User-Agent and the client's address, where known. */
  client(userAgent: string | null | undefined, ip: string | undefined): void {
    if (userAgent != null) this.headers['user-agent'] = userAgent;
    if (ip !== undefined) this.ip = ip;
  }

  get secure(): boolean {
    return this.#adapter.secure(this.host);
  }

  /**
   * The transport, as the engine reads a Node socket's: the framework's own word that the request came
   * over HTTPS (@hono/node-server's URL follows its TLS socket; SvelteKit's `event.url` its configured
   * origin) makes it secure whatever `proxy` says, as a TLS socket does for express-session. `proxy` only
   * decides whether X-Forwarded-Proto is trusted for a request the framework calls plain HTTP.
   */
  get socket(): { encrypted: boolean } {
    return { encrypted: this.#adapter.secure(this.host) };
  }

  get session(): SessionCarrier['session'] {
    return this.#session;
  }

  set session(session: SessionCarrier['session']) {
    this.#session = session;
    this.#adapter.publish(this.host, session);
  }

  /**
   * What the application left where the framework's handlers read the session: `null` there (Hono's
   * `c.set('session', null)`, SvelteKit's `locals.session = null`) is express-session's `req.session =
   * null`, which `unset` decides about, and any other object is no session to store.
   */
  follow(published: unknown): void {
    if (published !== this.#session) this.#session = published as SessionCarrier['session'];
  }

  [BEFORE_COOKIE_CHANGE](): void {
    this.#adapter.beforeCookieChange?.(this.host);
  }
}

/** The attributes of one of our Set-Cookie headers, as the cookie-jar APIs of Next.js and SvelteKit take them. */
export interface SetCookieAttributes {
  path?: string;
  domain?: string;
  expires?: Date;
  maxAge?: number;
  httpOnly?: true;
  secure?: true;
  partitioned?: true;
  sameSite?: 'lax' | 'strict' | 'none';
  priority?: 'low' | 'medium' | 'high';
}

/**
 * One of our Set-Cookie headers taken apart, for a framework that sets cookies through its own jar:
 * the name, the value as the header encodes it, and the attributes present (absent ones are left out).
 */
export function readSetCookie(header: string): {
  name: string;
  value: string;
  attributes: SetCookieAttributes;
} {
  const [pair = '', ...parts] = header.split('; ');
  const eq = pair.indexOf('=');
  const attributes: SetCookieAttributes = {};
  for (const part of parts) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).toLowerCase();
    const value = at === -1 ? '' : part.slice(at + 1);
    if (key === 'path') attributes.path = value;
    else if (key === 'domain') attributes.domain = value;
    else if (key === 'expires') attributes.expires = new Date(value);
    else if (key === 'max-age') attributes.maxAge = Number(value);
    else if (key === 'httponly') attributes.httpOnly = true;
    else if (key === 'secure') attributes.secure = true;
    else if (key === 'partitioned') attributes.partitioned = true;
    else if (key === 'samesite') attributes.sameSite = value.toLowerCase() as 'lax' | 'strict' | 'none';
    else if (key === 'priority') attributes.priority = value.toLowerCase() as 'low' | 'medium' | 'high';
  }
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1), attributes };
}
