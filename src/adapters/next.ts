import { cookies, headers } from 'next/headers.js';
import { readCookieValues } from '../core/cookie.js';
import { OptionsError, SessionError } from '../core/errors.js';
import type { Session, TypedSession } from '../core/session.js';
import { inTurn } from '../core/turns.js';
import type { SessionData } from '../core/types.js';
import type { SessionCarrier } from '../engine/manager.js';
import { SessionManager } from '../engine/manager.js';
import type { BindingOptions, SessionOptions } from '../engine/options.js';
import { commitSession, FetchCarrier, type FetchHost, openSession, readSetCookie } from './shared.js';

/** What the adapter knows of a request: whether it is secure, and how its session is saved. */
export interface NextRequestState {
  readonly secure: boolean;
  save(): Promise<void>;
  /** Throws `ERR_COOKIES_READ_ONLY` where Next.js refuses cookies (a Server Component). */
  checkCookiesWritable(): void;
}

/** The request as `genid` and `cookie` see it (Next.js gives no request object to them). */
export type NextCarrier = FetchCarrier<NextRequestState>;

const NEXT: FetchHost<NextRequestState> = {
  secure: (request) => request.secure,
  publish: (request, session) => {
    if (session) bindSave(session, request.save);
  },
  beforeCookieChange: (request) => request.checkCookiesWritable(),
};

/**
 * `createSession()`'s options. `proxy` defaults to trusting `X-Forwarded-Proto`, which Next.js's server
 * sets. `binding` has no `ip`: Next.js gives no client address (`ip: true` is refused).
 */
export type NextSessionOptions = Omit<SessionOptions<NextCarrier>, 'skip' | 'binding'> & {
  binding?: Omit<BindingOptions, 'ip'> & { ip?: false };
};

type CookieJar = Awaited<ReturnType<typeof cookies>>;
/** The attributes form of `cookies().set()`'s argument. */
type CookieSet = Exclude<Parameters<CookieJar['set']>[0], string>;

/** What `createSession()` returns. */
export interface NextSessions<Data = SessionData> {
  /**
   * The request's session, in a Route Handler, a Server Action or a Server Component (read only there:
   * Next.js lets only the first two set cookies). Call `await session.save()` before returning: Next.js
   * has no response hook, so the save is what stores the session and sets or clears its cookie. After
   * `regenerate()`, `login()`, `logout()` or `destroy()`, `getSession()` again gives the new session.
   */
  getSession(): Promise<TypedSession<Data>>;
  /** The core (events: `error`, `create`, `destroy`, `regenerate`, `invalid`). */
  readonly manager: SessionManager;
}

/**
 * Sessions for the Next.js App Router, on the Node.js runtime (the stores need Node drivers; the Edge
 * runtime is not supported). `const { getSession } = createSession(options)` once, in a module of
 * its own; then `const session = await getSession()` where the session is needed.
 */
export function createSession<Data = SessionData>(options: NextSessionOptions): NextSessions<Data> {
  const manager = new SessionManager<NextCarrier>(options);
  const { binding } = manager.options;
  // A Route Handler or Server Action is given no client address, only headers a client can write itself
  // unless a proxy replaces them: an IP binding here would compare what the attacker sends.
  if (binding?.properties.includes('ip'))
    throw new OptionsError(
      'binding.ip',
      'is not available on Next.js, which gives no client address to Route Handlers and Server Actions; bind userAgent only',
    );
  // The request's scheme reaches a Next.js handler only as the X-Forwarded-Proto its server sets.
  const trustForwardedProto = manager.options.proxy !== false;
  /**
   * One carrier per request (Next.js gives each request its own cookie jar), kept from the first call on,
   * before its session has loaded: two `getSession()` calls at once (a page and a helper of its own,
   * under `Promise.all`) share one session instead of each making and storing its own.
   */
  const carriers = new WeakMap<CookieJar, Promise<NextCarrier>>();
  /** The session ID the cookie an earlier `save()` of the request set names. */
  const named = new WeakMap<NextCarrier, string>();

  async function getSession(): Promise<TypedSession<Data>> {
    const jar = await cookies();
    for (;;) {
      let opening = carriers.get(jar);
      const fresh = opening === undefined;
      if (opening === undefined) {
        opening = openCarrier(jar);
        carriers.set(jar, opening);
        const settled = opening;
        // A failed load is tried again by the next call, not handed to every later one.
        settled.catch(() => {
          if (carriers.get(jar) === settled) carriers.delete(jar);
        });
      }
      const carrier = await opening;
      // A session this request destroyed leaves none: the next call starts afresh.
      if (carrier.session || fresh) return carrier.session as TypedSession<Data>;
      if (carriers.get(jar) === opening) carriers.delete(jar);
    }
  }

  async function openCarrier(jar: CookieJar): Promise<NextCarrier> {
    const head = await headers();
    const scheme = trustForwardedProto ? head.get('x-forwarded-proto')?.split(',')[0]?.trim() : undefined;
    // A request's saves run one after another: two at once would both create a new session's ID.
    const turns = { saving: null as Promise<void> | null };
    const request: NextRequestState = {
      secure: scheme === 'https',
      save: () => inTurn(turns, 'saving', () => save(carrier, jar)),
      checkCookiesWritable: () => checkCookiesWritable(carrier, jar),
    };
    const forwarded = manager.options.proxy === true ? head.get('x-forwarded-proto') : undefined;
    const carrier: NextCarrier = new FetchCarrier<NextRequestState>(
      request,
      NEXT,
      cookieHeader(head.get('cookie'), jar, manager.options.name),
      forwarded,
    );
    if (binding !== undefined) carrier.client(head.get('user-agent'), undefined);
    const loading = openSession(manager, carrier);
    if (loading !== undefined) await loading;
    return carrier;
  }

  async function save(carrier: NextCarrier, jar: CookieJar): Promise<void> {
    const cookies = await commitSession(manager, carrier);
    manager.reopen(carrier);
    const { name } = manager.options;
    const set = named.get(carrier);
    if (cookies.length === 0 && set !== undefined && carrier.session?.id !== set) {
      // An earlier save of this request set a cookie naming a session it has since ended or replaced:
      // the browser must not be left holding it, as the commit clears only a cookie the browser sent.
      jar.delete(name);
      named.delete(carrier);
    }
    for (const header of cookies) {
      setCookie(jar, header);
      if (!header.startsWith(`${name}=`)) continue;
      if (header.startsWith(`${name}=;`) || !carrier.session) named.delete(carrier);
      else named.set(carrier, carrier.session.id);
    }
  }

  /**
   * Next.js offers no way to ask whether this request may set cookies (a Server Component may not).
   * Its writable jar (a Route Handler's, a Server Action's) makes a new `set` function on every access,
   * while the read-only one hands out one shared function that throws; so only a jar that may be
   * read-only is tried, with a cookie that changes nothing (the one the browser holds, as a touch sends
   * it), because a try that succeeds stays in the response unless the commit's own cookie replaces it.
   */
  function checkCookiesWritable(carrier: NextCarrier, jar: CookieJar): void {
    const set = jar.set;
    if (set !== jar.set) return;
    setCookie(jar, manager.unchangedCookie(carrier));
  }

  return { getSession, manager: manager as unknown as SessionManager };
}

/**
 * The Cookie header the session is read from. After a Server Action set our cookie, Next.js renders the
 * page in the same request with a jar that holds the new value, while `headers()` keeps the request's
 * Cookie header: the jar's value goes first then, so the page reads the session the action left. The
 * header is kept whole behind it, as every value of a duplicated name is a candidate (see
 * readCookieValues), which the jar, keeping one per name, would lose.
 */
function cookieHeader(header: string | null, jar: CookieJar, name: string): string | null {
  const current = jar.get(name)?.value;
  if (!current) return header;
  const pair = `${name}=${encodeURIComponent(current)}`;
  if (header === null) return pair;
  return readCookieValues(header, name).includes(current) ? header : `${pair}; ${header}`;
}

function setCookie(jar: CookieJar, header: string): void {
  try {
    jar.set(parseSetCookie(header));
  } catch (error) {
    throw new SessionError(
      'ERR_COOKIES_READ_ONLY',
      'sessionkit: Next.js refused the session cookie here (a Server Component can read the session but not create, regenerate, log in, log out or destroy it); do that in a Route Handler or a Server Action',
      { cause: error },
    );
  }
}

type Done = (err?: Error | null) => void;

/**
 * `save()` on a session of this adapter commits the request: writes what changed and sets the cookie
 * through `cookies()`. Not enumerable, so it is never taken for session data; assignment is ignored, as
 * for `id`, so `Object.assign(session, body)` with a `save` key cannot take away the only way to store
 * the session.
 */
function bindSave(session: Session, commit: () => Promise<void>): void {
  const save = (done?: Done): Promise<void> | undefined => {
    const work = commit();
    if (!done) return work;
    work.then(
      () => done(),
      (error: Error) => done(error),
    );
    return undefined;
  };
  Object.defineProperty(session, 'save', {
    configurable: true,
    enumerable: false,
    get: () => save,
    set: () => undefined,
  });
}

/** Our Set-Cookie as the attributes object `cookies().set()` takes (it encodes the value itself). */
export function parseSetCookie(header: string): CookieSet {
  const { name, value, attributes } = readSetCookie(header);
  return { name, value: decodeURIComponent(value), ...attributes };
}

export type { SessionCarrier };
