import { IncomingMessage, type OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { SessionError } from '../core/errors.js';
import { type SessionCarrier, SessionManager } from '../core/manager.js';
import type { SessionOptions, SessionRequestLike } from '../core/options.js';
import type { Session, TypedSession } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import type { ExpressStoreLike, SessionStore } from '../stores/store.js';
import { isConnectionError } from '../stores/store.js';

/**
 * What the middleware adds to a request, typed. sessionkit declares only `sessionID` on Express's request
 * itself: @types/express-session (which connect-redis's and other stores' typings import) declares
 * `session` and `sessionStore` there with its own types, and two declarations of one property must agree.
 * An application without it types `req.session` everywhere with one line:
 *
 *   declare global { namespace Express { interface Request extends import('sessionkit').SessionkitRequest {} } }
 */
export interface SessionkitRequest<Data = SessionData> {
  /** The session (sessionkit). Type its data by augmenting `SessionData` from 'sessionkit'. */
  session: TypedSession<Data>;
  sessionID: string;
  sessionStore: SessionStore | ExpressStoreLike;
}

declare global {
  namespace Express {
    interface Request {
      sessionID: string;
    }
  }
}

type Next = (err?: unknown) => void;

/** The middleware `session()` returns: Express 4/5, Connect and plain `node:http` handlers. */
export interface SessionMiddleware<Data = SessionData> {
  (req: IncomingMessage, res: ServerResponse, next: Next): void;
  /** The core behind the middleware (events: `error`, `create`, `destroy`, `regenerate`, `invalid`). */
  readonly manager: SessionManager;
  /** `req.session`, typed with this middleware's data type (no declaration merging needed). */
  get(req: IncomingMessage): TypedSession<Data>;
}

/** A request typed with your session data, for handlers: `(req: SessionRequest<MyData>, res) => …`. */
export type SessionRequest<Data = SessionData, Base = IncomingMessage> = Base & {
  session: TypedSession<Data>;
  sessionID: string;
};

type Carrier = IncomingMessage & SessionRequestLike & SessionCarrier;

/**
 * express-session-compatible middleware. The session is loaded before `next()`; the response is held at
 * its first `writeHead`/`write`/`end` until the session is stored, then released with its Set-Cookie.
 */
export function session<Data = SessionData>(
  options: SessionOptions<IncomingMessage>,
): SessionMiddleware<Data> {
  const manager = new SessionManager<Carrier>(options as SessionOptions<Carrier>);
  const { skip } = manager.options;

  const middleware = (req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const carrier = req as Carrier;
    // First of all: a dictionary's map is shared by every request, so each property read from here on
    // (ours and the application's) is a cached lookup instead of a miss on a map of this request's own.
    if (Object.getPrototypeOf(req) !== IncomingMessage.prototype) toDictionaryMode(req);
    // Already handled (the middleware mounted twice), or exempt: no session work at all.
    if (carrier.session || skip?.(carrier)) {
      next();
      return;
    }
    let loading: Promise<void> | undefined | null;
    try {
      loading = manager.open(carrier);
    } catch (error) {
      openFailed(manager, carrier, next, error);
      return;
    }
    // Outside the cookie's Path: no session, as in express-session.
    if (loading === null) {
      next();
      return;
    }
    // Ready now (no cookie, or sessionkit's MemoryStore): the app runs in this same tick, with no closure.
    if (loading === undefined) proceed(manager, carrier, res, next);
    else
      loading.then(
        () => proceed(manager, carrier, res, next),
        (error: unknown) => openFailed(manager, carrier, next, error),
      );
  };

  return Object.assign(middleware, {
    manager: manager as unknown as SessionManager,
    get(req: IncomingMessage): TypedSession<Data> {
      return (req as Carrier).session as unknown as TypedSession<Data>;
    },
  });
}

/** The session is open: hold the response until it is committed, and run the app. */
function proceed(manager: SessionManager<Carrier>, req: Carrier, res: ServerResponse, next: Next): void {
  holdResponse(manager, req, res, next);
  next();
}

/** The session could not be opened: a fresh unsaved one if so configured and the store is down, else the error. */
function openFailed(manager: SessionManager<Carrier>, req: Carrier, next: Next, error: unknown): void {
  if (manager.options.onStoreError === 'anonymous' && isStoreFailure(error)) {
    manager.report(error);
    manager.openAnonymous(req);
    next();
    return;
  }
  next(error);
}

const SCRATCH = Symbol('sessionkit.scratch');

/**
 * Express swaps every request's prototype, and V8 then gives the object a map of its own with no
 * transitions to share: each property added afterwards (ours: session, sessionID, sessionStore; and
 * Express's own: route, params…) copies that map, about 2 µs each. Deleting a property turns the object
 * into a dictionary, where an added property is a hash insert. The property deleted is `url`, put back at
 * once with the same value and attributes (only its place in `Object.keys` order moves): adding a scratch
 * property to delete, as before, paid one more map copy. A request whose `url` is not a plain own data
 * property gets the scratch property instead. Nothing else is observable: no code runs in between.
 */
function toDictionaryMode(req: IncomingMessage): void {
  const url = Object.getOwnPropertyDescriptor(req, 'url');
  if (url?.writable && url.enumerable && url.configurable) {
    const target = req as unknown as Record<string, unknown>;
    delete target.url;
    target.url = url.value;
    return;
  }
  const scratch = req as unknown as Record<symbol, unknown>;
  scratch[SCRATCH] = true;
  delete scratch[SCRATCH];
}

function isStoreFailure(error: unknown): boolean {
  return (error instanceof SessionError && error.status === 503) || isConnectionError(error);
}

type Held = 'writeHead' | 'write' | 'end' | 'flushHeaders';
const HELD: Held[] = ['writeHead', 'write', 'end', 'flushHeaders'];
type Method = (...args: unknown[]) => unknown;
type Queued = [name: Held, args: unknown[], original: Method];

/** Where a request keeps its response's hold, for methods found on a shared prototype (see `holdResponse`). */
const HOLD = Symbol('sessionkit.hold');
type HoldCarrier = { [HOLD]?: Hold };
/** Prototypes whose held methods look their response's hold up on `res.req`. */
const patched = new WeakSet<object>();

/**
 * Holds the response from its first byte until the session is committed (express-session flushes the
 * headers first, so a redirect could beat the store write). A commit that needs no store call is done
 * at once and the first byte goes out in the same call. Afterwards calls pass straight through, so
 * middleware that wrapped the methods later (compression) keeps working.
 *
 * Express swaps every response's prototype, after which V8 copies the object's map for each property
 * added to it: four own wrappers cost about 15 µs a request. So where the response inherits from a
 * prototype of its own between it and `ServerResponse.prototype` (Express's shared `res`, which every
 * app's and sub-app's `app.response` inherits from, so resetting the prototype never drops it), the held
 * methods are put once on that prototype and find the response's hold on its request (`res.req`, which
 * Node and Express set; the request is in dictionary mode, where a property is a hash insert, and a
 * WeakMap entry per request would cost more: see `SessionManager.contextKey`). A response that
 * already carries its own `writeHead`/`write`/`end`/`flushHeaders` (a middleware before this one wrapped
 * them, and may have kept the originals) is wrapped with own properties, as on plain `node:http`,
 * where they are cheap.
 */
function holdResponse(manager: SessionManager<Carrier>, req: Carrier, res: ServerResponse, next: Next): void {
  const hold = new Hold(manager, req, res, next);
  const shared = sharedPrototype(res);
  if (shared !== null && res.req === req && !HELD.some((name) => Object.hasOwn(res, name))) {
    if (!patched.has(shared)) patchPrototype(shared);
    (req as HoldCarrier)[HOLD] = hold;
    return;
  }
  const target = res as unknown as Record<Held, Method>;
  for (const name of HELD) target[name] = heldMethod(hold, res, name, target[name]);
}

/** A response's own held method. Returned anonymous: the build's keepNames would name it on every response. */
function heldMethod(hold: Hold, res: ServerResponse, name: Held, original: Method): Method {
  return (...args: unknown[]) =>
    hold.released ? original.apply(res, args) : hold.call(name, args, original);
}

/** The prototype just above `ServerResponse.prototype` in the response's chain, if it is not that itself. */
function sharedPrototype(res: ServerResponse): object | null {
  let proto: object | null = Object.getPrototypeOf(res);
  if (proto === ServerResponse.prototype) return null;
  while (proto !== null) {
    const parent: object | null = Object.getPrototypeOf(proto);
    if (parent === ServerResponse.prototype) return proto;
    proto = parent;
  }
  return null;
}

function patchPrototype(proto: object): void {
  patched.add(proto);
  const methods = proto as Record<Held, Method>;
  for (const name of HELD) {
    // What the prototype had, its own or inherited: another copy of sessionkit may have patched it too.
    const original = methods[name];
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: function held(this: ServerResponse, ...args: unknown[]) {
        const hold = (this.req as HoldCarrier | undefined)?.[HOLD];
        return hold === undefined || hold.released || hold.res !== this
          ? original.apply(this, args)
          : hold.call(name, args, original);
      },
    });
  }
}

/** One response's hold: the calls made from its first byte on, queued until the session is committed. */
class Hold {
  released = false;
  private holding = false;
  /** Made only when the commit waits for the store: most commits answer at once. */
  private queue: Queued[] | null = null;

  constructor(
    private readonly manager: SessionManager<Carrier>,
    private readonly req: Carrier,
    readonly res: ServerResponse,
    private readonly next: Next,
  ) {}

  /** A call to a held method; `original` is what it would have called. */
  call(name: Held, args: unknown[], original: Method): unknown {
    if (this.holding) {
      this.queue?.push([name, args, original]);
      return this.standIn(name);
    }
    this.holding = true;
    let committed: string[] | Promise<string[]>;
    try {
      committed = this.manager.commit(this.req);
    } catch (error) {
      committed = Promise.reject(error);
    }
    if (Array.isArray(committed)) {
      // Nothing was held before this call: it goes out now, with the cookies.
      this.released = true;
      this.addCookies(committed, name === 'writeHead' ? args : undefined);
      return original.apply(this.res, args);
    }
    this.queue = [[name, args, original]];
    committed.then(
      (cookies) => this.release(cookies),
      (error: unknown) => this.fail(error),
    );
    return this.standIn(name);
  }

  /** What a held call returns in place of the real one. */
  private standIn(name: Held): unknown {
    return name === 'write' ? true : name === 'flushHeaders' ? undefined : this.res;
  }

  /** Sends what was held, with the session's cookies. */
  private release(cookies: string[]): void {
    this.released = true;
    const queue = this.queue ?? [];
    this.queue = null;
    this.addCookies(cookies, queue.find(([name]) => name === 'writeHead')?.[1]);
    for (const [, args, original] of queue) original.apply(this.res, args);
    this.manager.reportLate(this.req, this.res, this.next);
  }

  private addCookies(cookies: string[], writeHeadArgs: unknown[] | undefined): void {
    if (cookies.length === 0) return;
    // The application cleared the cookie itself (res.clearCookie after destroy): one clearing header is enough.
    const { name } = this.manager.options;
    if (
      cookies.length === 1 &&
      cookies[0]?.startsWith(`${name}=;`) &&
      setsCookie(this.res, writeHeadArgs, name)
    )
      return;
    addSetCookie(this.res, writeHeadArgs, cookies);
    // A shared cache must never hand one user's Set-Cookie to another (C20).
    if (this.manager.options.noStoreWithCookie) this.res.setHeader('Cache-Control', 'no-store');
  }

  private fail(error: unknown): void {
    if (this.manager.options.onStoreError === 'anonymous' && isStoreFailure(error)) {
      this.manager.report(error);
      this.release([]);
      return;
    }
    this.released = true;
    // Nothing was sent yet: the error handler answers instead of the held response, which is
    // dropped whole, headers included (a stale Content-Type or ETag must not leak into the error page).
    this.queue = null;
    const { res } = this;
    for (const header of res.getHeaderNames()) res.removeHeader(header);
    res.statusCode = 200;
    this.next(error);
  }
}

/**
 * Adds our Set-Cookie to the response without losing the application's. A header object passed to a
 * held `writeHead` wins over `setHeader`, so a Set-Cookie given there is merged in place (CVE-2025-7339's
 * lesson: handle every writeHead form).
 */
function addSetCookie(res: ServerResponse, writeHeadArgs: unknown[] | undefined, cookies: string[]): void {
  const headersArg = writeHeadArgs?.find((arg, i) => i > 0 && typeof arg === 'object' && arg !== null);
  if (Array.isArray(headersArg)) {
    mergeIntoRawHeaders(headersArg as unknown[], cookies);
    return;
  }
  if (headersArg) {
    const headers = headersArg as OutgoingHttpHeaders;
    const key = Object.keys(headers).find((name) => name.toLowerCase() === 'set-cookie');
    if (key) {
      const existing = headers[key];
      headers[key] = [...(Array.isArray(existing) ? existing : [String(existing)]), ...cookies];
      return;
    }
  }
  const existing = res.getHeader('Set-Cookie');
  const previous = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  res.setHeader('Set-Cookie', [...previous, ...cookies]);
}

/**
 * Raw header arrays (`[k, v, k, v]` or `[[k, v]]`) are applied with setHeader by some Node versions, so
 * the last Set-Cookie would win: gather every Set-Cookie value into one entry that holds them all.
 */
function mergeIntoRawHeaders(headers: unknown[], cookies: string[]): void {
  const nested = headers.length > 0 && Array.isArray(headers[0]);
  const values: string[] = [];
  const kept: unknown[] = [];
  const pairs = nested ? (headers as [unknown, unknown][]) : chunk(headers);
  for (const [name, value] of pairs) {
    if (String(name).toLowerCase() === 'set-cookie')
      values.push(...(Array.isArray(value) ? value : [value]).map(String));
    else kept.push(nested ? [name, value] : [name, value]);
  }
  const all = [...values, ...cookies];
  headers.length = 0;
  for (const pair of kept as [unknown, unknown][]) {
    if (nested) headers.push(pair);
    else headers.push(pair[0], pair[1]);
  }
  if (nested) headers.push(['Set-Cookie', all]);
  else headers.push('Set-Cookie', all);
}

/** Whether the response already carries a Set-Cookie for `name` (set with setHeader or in writeHead's headers). */
function setsCookie(res: ServerResponse, writeHeadArgs: unknown[] | undefined, name: string): boolean {
  const values: unknown[] = [];
  const add = (value: unknown): void => {
    values.push(...(Array.isArray(value) ? value : [value]));
  };
  add(res.getHeader('Set-Cookie'));
  const headersArg = writeHeadArgs?.find((arg, i) => i > 0 && typeof arg === 'object' && arg !== null);
  if (Array.isArray(headersArg)) {
    const nested = headersArg.length > 0 && Array.isArray(headersArg[0]);
    for (const [key, value] of nested ? (headersArg as [unknown, unknown][]) : chunk(headersArg))
      if (String(key).toLowerCase() === 'set-cookie') add(value);
  } else if (headersArg) {
    for (const [key, value] of Object.entries(headersArg as OutgoingHttpHeaders))
      if (key.toLowerCase() === 'set-cookie') add(value);
  }
  return values.some((value) => typeof value === 'string' && value.startsWith(`${name}=`));
}

function chunk(flat: unknown[]): [unknown, unknown][] {
  const pairs: [unknown, unknown][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i], flat[i + 1]]);
  return pairs;
}

export type { Session };
