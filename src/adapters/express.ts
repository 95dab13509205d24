import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { SessionError } from '../core/errors.js';
import type { Session, TypedSession } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import { type SessionAtEnd, type SessionCarrier, SessionManager } from '../engine/manager.js';
import { addNoStore, addSessionCookies, ownHeaderArgument, setsCookie } from '../engine/node-headers.js';
import type { SessionOptions, SessionRequestLike } from '../engine/options.js';
import type { ExpressSessionStore } from '../engine/store-access.js';

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
  /** The store, with express-session's callback methods (`get(sid, cb)`, `destroy(sid, cb)`, `all?.(cb)`…). */
  sessionStore: ExpressSessionStore;
}

declare global {
  namespace Express {
    interface Request {
      sessionID: string;
    }
  }
}

type Next = (err?: unknown) => void;

/**
 * The request as Express hands it to `genid`, `cookie` and `skip` (as @types/express-session types it:
 * Express's request): Node's request with what Express adds, declared here so that no @types/express is
 * needed. Mounted on Connect or plain `node:http`, the Express properties are absent. A function annotated
 * with Express's own `Request` type is accepted too.
 */
export interface ExpressRequest extends IncomingMessage, Express.Request {
  /** The client's address, as Express's `trust proxy` setting resolves it. */
  ip: string | undefined;
  ips: string[];
  /** Whether the request came over HTTPS (`trust proxy` decides whether X-Forwarded-Proto counts). */
  secure: boolean;
  protocol: string;
  hostname: string;
  /** The path the router handling the request is mounted at (`app.use('/admin', router)`). */
  baseUrl: string;
  originalUrl: string;
  path: string;
  subdomains: string[];
  xhr: boolean;
  /** A request header, by a case-insensitive name (Express's `req.get()`). */
  get(name: string): string | string[] | undefined;
}

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
  options?: SessionOptions<ExpressRequest>,
): SessionMiddleware<Data> {
  const manager = new SessionManager<Carrier>(options as unknown as SessionOptions<Carrier>);
  const { skip } = manager.options;

  const middleware = (req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const carrier = req as Carrier;
    // First of all: a dictionary's map is shared by every request, so each property read from here on
    // (ours and the application's) is a cached lookup instead of a miss on a map of this request's own.
    if (Object.getPrototypeOf(req) !== IncomingMessage.prototype) toDictionaryMode(req);
    // Already handled (the middleware mounted twice), or exempt: no session work at all.
    if (carrier.session || skip?.(carrier)) {
      manager.trace?.skipped(req.url, carrier.session ? 'session already attached' : 'skip option');
      next();
      return;
    }
    let loading: Promise<void> | undefined | null;
    try {
      loading = manager.open(carrier);
    } catch (error) {
      openFailed(manager, carrier, res, next, error);
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
        (error: unknown) => openFailed(manager, carrier, res, next, error),
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
  if (isEngineIoRequest(req, res)) {
    commitFirst(manager, req, res, next);
    return;
  }
  holdResponse(manager, req, res, next);
  next();
}

/**
 * A request of engine.io, socket.io's transport (`io.engine.use(session)`), whose response is engine.io's
 * own and cannot be held: on a WebSocket upgrade `res` is a stand-in whose headers go into the 101 as
 * soon as engine.io calls its `writeHead()`, which it does not wait for a store to answer; and engine.io
 * takes one call of `next`, so a store failure found at the response would reach nobody and leave a
 * polling handshake unanswered. engine.io parses the query, with its protocol's `EIO` parameter, onto
 * `req._query` before any middleware runs. Never an Express response (engine.io takes its requests before
 * the app), whatever another middleware put on `req._query`.
 */
function isEngineIoRequest(req: IncomingMessage, res: ServerResponse): boolean {
  const query: unknown = (req as { _query?: unknown })._query;
  return (
    typeof query === 'object' &&
    query !== null &&
    typeof (query as { EIO?: unknown }).EIO === 'string' &&
    sharedPrototype(res) === null
  );
}

/**
 * Commits an engine.io request before passing it on: its cookie goes out (at engine.io's `writeHead`, on
 * either transport) only once the store has the session, and a failure refuses the connection through
 * engine.io's own error path (HTTP 400 and its `connection_error` event). What a socket handler changes
 * later is stored by its own `save()`, as with express-session.
 */
function commitFirst(manager: SessionManager<Carrier>, req: Carrier, res: ServerResponse, next: Next): void {
  let committed: string[] | Promise<string[]>;
  try {
    committed = manager.commit(req);
  } catch (error) {
    next(error);
    return;
  }
  if (Array.isArray(committed)) {
    passOn(manager, req, res, next, committed);
    return;
  }
  committed.then(
    (cookies) => passOn(manager, req, res, next, cookies),
    (error: unknown) => {
      if (manager.absorbs(error)) {
        manager.report(error);
        next();
      } else next(error);
    },
  );
}

function passOn(
  manager: SessionManager<Carrier>,
  req: Carrier,
  res: ServerResponse,
  next: Next,
  cookies: string[],
): void {
  // A quiet write to an express-session store that failed (see commit.ts) does not refuse the connection,
  // as it fails no response; engine.io has nothing to hand it to, so it is reported.
  manager.reportLate(req, null, (error) => manager.report(error));
  const target = res as unknown as Record<'writeHead', Method>;
  const original = target.writeHead;
  let answered = false;
  target.writeHead = (...args: unknown[]) => {
    if (!answered) {
      answered = true;
      // Merged into engine.io's header argument: with its own `cookie` option engine.io names Set-Cookie
      // there, which would replace one set on the response beforehand.
      if (cookies.length > 0) {
        ownHeaderArgument(args);
        addSessionCookies(res, args, cookies);
        if (manager.options.noStoreWithCookie) addNoStore(res, args);
      }
      // What a later `io.engine.use()` middleware changed is stored when engine.io answers, as
      // express-session stores it at the end of a polling response; the answer does not wait for it.
      void manager.commitAfterResponse(req);
    }
    return original.apply(res, args);
  };
  next();
}

/**
 * The session could not be opened: a fresh unsaved one if so configured and the store is down, else the
 * error. The fresh one is committed as any other, which stores nothing but clears the cookie of a real
 * session the request ended (a logout during the outage).
 */
function openFailed(
  manager: SessionManager<Carrier>,
  req: Carrier,
  res: ServerResponse,
  next: Next,
  error: unknown,
): void {
  if (manager.absorbs(error)) {
    manager.report(error);
    manager.openAnonymous(req);
    proceed(manager, req, res, next);
    return;
  }
  next(error);
}

const SCRATCH = Symbol('sessionkit.scratch');

/**
 * Express swaps every request's prototype, and V8 then gives the object a map of its own with no
 * transitions to share: each property added afterwards (ours: session, sessionID, sessionStore; and
 * Express's own: route, params…) copies that map. Deleting a property turns the object
 * into a dictionary, where an added property is a hash insert. The property deleted is `url`, put back at
 * once with the same value and attributes (only its place in `Object.keys` order moves): a scratch
 * property added only to be deleted would copy the map once more. A request whose `url` is not a plain own data
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

/** A Set-Cookie line of a header block, whatever the case of its name. */
const SET_COOKIE_LINE = /^set-cookie[ \t]*:/i;

/** An error of a write the application made after its response became an error page (see `Hold.fail`). */
function ignoreLateWrite(): void {}

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
 * `ServerResponse.prototype`'s own methods before sessionkit put its fallback on it (see
 * `patchServerResponse`), by name; empty until then.
 */
const belowFallback = new Map<Held, Method>();
/** The fallback methods on `ServerResponse.prototype`, by name. */
const fallbacks = new Map<Held, Method>();

/**
 * Holds the response's bytes from its first `writeHead`/`write`/`end`/`flushHeaders` until the session is
 * committed (express-session flushes the headers first, so a redirect could beat the store write). A
 * commit that needs no store call is done at once and the first byte goes out in the same call.
 *
 * Express swaps every response's prototype, after which V8 copies the object's map for each property
 * added to it, four times for four own wrappers. So where the response inherits from a
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
    if (!patched.has(shared)) {
      patchServerResponse();
      patchPrototype(shared);
    }
    (req as HoldCarrier)[HOLD] = hold;
    return;
  }
  const target = res as unknown as Record<Held, Method>;
  const own = {} as Record<Held, Method>;
  let foreignBelow = false;
  for (const name of HELD) {
    const original = unwrapped(name, target[name]);
    foreignBelow ||=
      original !== unwrapped(name, (ServerResponse.prototype as unknown as Record<Held, Method>)[name]);
    // Anonymous: the build's keepNames would otherwise name a new function on every response.
    own[name] = target[name] = (...args: unknown[]) =>
      hold.phase === DONE ? original.apply(res, args) : hold.call(name, args, original);
  }
  hold.ownMethods = foreignBelow ? null : own;
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
    const original = unwrapped(name, methods[name]);
    Object.defineProperty(proto, name, {
      configurable: true,
      writable: true,
      value: function held(this: ServerResponse, ...args: unknown[]) {
        const hold = (this.req as HoldCarrier | undefined)?.[HOLD];
        return hold === undefined || hold.phase === DONE || hold.res !== this
          ? original.apply(this, args)
          : hold.call(name, args, original);
      },
    });
  }
}

/** `method` itself, or, when it is the fallback on `ServerResponse.prototype`, what the fallback wraps. */
function unwrapped(name: Held, method: Method): Method {
  return method === fallbacks.get(name) ? (belowFallback.get(name) as Method) : method;
}

/**
 * A response whose hold sits on a shared prototype can be handed to an app of another copy of Express
 * (Express 4 under Express 5, a library's own `express()`), called as a function as `vhost()` calls it:
 * that app swaps the response to its own copy's chain, above which nothing of this hold's was put. Every
 * such chain ends in `ServerResponse.prototype`, so a fallback there finds the hold on `res.req`. It acts
 * only when no patched prototype is in the response's chain: otherwise the wrapper on that prototype has
 * the call, or has already passed it on (a `ServerResponse` subclass's own `end()` calling `super.end()`
 * from within the hold). Responses without a hold go straight through.
 */
function patchServerResponse(): void {
  if (fallbacks.size > 0) return;
  const methods = ServerResponse.prototype as unknown as Record<Held, Method>;
  for (const name of HELD) {
    const original = methods[name];
    belowFallback.set(name, original);
    const fallback = function held(this: ServerResponse, ...args: unknown[]) {
      const hold = (this.req as HoldCarrier | undefined)?.[HOLD];
      return hold === undefined || hold.phase === DONE || hold.res !== this || inPatchedChain(this)
        ? original.apply(this, args)
        : hold.call(name, args, original);
    };
    fallbacks.set(name, fallback);
    Object.defineProperty(methods, name, { configurable: true, writable: true, value: fallback });
  }
}

/** Whether a prototype between `res` and `ServerResponse.prototype` carries this copy's held methods. */
function inPatchedChain(res: ServerResponse): boolean {
  for (let proto = Object.getPrototypeOf(res); proto !== null && proto !== ServerResponse.prototype; ) {
    if (patched.has(proto)) return true;
    proto = Object.getPrototypeOf(proto);
  }
  return false;
}

/** No byte yet: the first held call commits. */
const IDLE = 0;
/** The first commit waits for the store; the response's bytes are held (or, off HTTP/1, its calls queued). */
const HOLDING = 1;
/** Released before the response ended: its `end` commits what changed since the first byte. */
const OPEN = 2;
/** The late commit waits for the store; the response's last bytes are held. */
const ENDING = 3;
/** Nothing more to do: every call goes straight through. */
const DONE = 4;
/** The first commit failed and the error handler has not begun its page: see `Hold.afterFailure`. */
const FAILED = 5;
/** As FAILED, and an `end` was dropped as the application's. */
const FAILED_ENDED = 6;

/**
 * One response's hold. On HTTP/1 only the bytes are held: the application's `writeHead`/`write`/`end` run
 * natively at the call (header validation, `headersSent`, a second `end` failing, `write` returning `false`
 * past the high-water mark are Node's own), and what they produce waits in the response's own output
 * buffer (see `ByteGate`) until the store has the session; then the Set-Cookie lines go into the header
 * and the buffer is flushed. A response without Node's HTTP/1 output path (HTTP/2 compatibility mode)
 * has its calls queued and replayed instead.
 */
class Hold {
  phase = IDLE;
  /** The first held call: a commit started by anything but `end` may see more changes before the end. */
  private first: Held = 'end';
  private gate: ByteGate | null = null;
  /** Off HTTP/1 only, made when the commit waits for the store. */
  private queue: Queued[] | null = null;
  /** Off HTTP/1: a `writeHead` is queued (the application's, or the one its first write implies). */
  private headQueued = false;
  /** Off HTTP/1: an `end` is queued. */
  private endQueued = false;
  /** Off HTTP/1: the bytes of the queued writes, measured against the response's high-water mark. */
  private queuedBytes = 0;
  /** Off HTTP/1: a queued `write` returned `false`, so the application waits for `'drain'`. */
  private drainOwed = false;
  /** Off HTTP/1: the properties put on the response while its calls are queued (see `mask`). */
  private masked: Masked[] | null = null;
  /**
   * The wrappers put on the response itself over Node's own methods, to tell them from later ones; `null`
   * also when a middleware mounted before the session wrapped them first (compression): that wrapper has
   * state a rewind cannot put back.
   */
  ownMethods: Record<Held, Method> | null = null;
  /** The cookies put on the held response at its first call, before the store answered. */
  private expected: string[] | null = null;
  /** What the session held when the application ended the response while it was held. */
  private atEnd: SessionAtEnd | null = null;

  constructor(
    private readonly manager: SessionManager<Carrier>,
    private readonly req: Carrier,
    readonly res: ServerResponse,
    private readonly next: Next,
  ) {}

  /** A call to a held method; `original` is what it would have called. */
  call(name: Held, args: unknown[], original: Method): unknown {
    if (this.phase === IDLE) return this.start(name, args, original);
    if (this.phase === OPEN) {
      if (name === 'end') return this.end(args, original);
    } else if (this.phase >= FAILED) return this.afterFailure(name, args, original);
    else if (this.queue !== null) return this.enqueue(name, args, original);
    else if (name === 'end' && this.phase === HOLDING && this.first !== 'end')
      this.atEnd = this.manager.sessionAtEnd(this.req);
    if (name === 'write') this.gate?.writing();
    return original.apply(this.res, args);
  }

  /** The response's first byte: commit, and send at once or hold until the store answers. */
  private start(name: Held, args: unknown[], original: Method): unknown {
    // A queued writeHead shows its status and headers now: one the response refuses fails here, at the
    // application's call, before anything is committed, as it would without a hold.
    if (name === 'writeHead' && !ByteGate.fits(this.res)) showHead(this.res, args);
    this.first = name;
    let committed: string[] | Promise<string[]>;
    try {
      committed = this.manager.commit(this.req);
    } catch (error) {
      committed = Promise.reject(error);
    }
    if (Array.isArray(committed)) {
      // Nothing was held before this call: it goes out now, with the cookies.
      this.phase = name === 'end' ? DONE : OPEN;
      this.addCookies(committed, name === 'writeHead' ? args : undefined);
      return original.apply(this.res, args);
    }
    this.phase = HOLDING;
    committed.then(
      (cookies) => this.release(cookies),
      (error: unknown) => this.fail(error),
    );
    if (!ByteGate.fits(this.res)) {
      this.queue = [];
      return this.enqueue(name, args, original);
    }
    this.gate = new ByteGate(this.res, this.req, true, this.manager.options.storeTimeout);
    if (name === 'write') this.gate.writing();
    // What the commit will send if its write goes as expected goes on the response now, as express-session
    // sets it: header hooks of middleware mounted before the session and getHeader() see it.
    let expected: string[] | null = null;
    try {
      expected = this.manager.expectedCookies(this.req);
    } catch {
      // The commit itself makes the same cookie and reports what went wrong; the release adds it then.
    }
    if (expected !== null && expected.length > 0) {
      this.expected = expected;
      this.addCookies(expected, name === 'writeHead' ? args : undefined);
    }
    return original.apply(this.res, args);
  }

  /**
   * A call on a response without Node's HTTP/1 output path (HTTP/2 compatibility mode), queued until the
   * store answers and replayed then. Meanwhile the response reports what Node's would after the call:
   * its header counts as sent from the first `writeHead`/`write`/`end`/`flushHeaders`, with the status
   * and headers it has then (a later `setHeader` fails with `ERR_HTTP2_HEADERS_SENT`, a later status does
   * not reach the client); it is ended after `end` (a router's `if (!res.writableEnded)` fallback must not
   * run, and a `write` after it fails); and `write` returns `false` past the high-water mark, with
   * `'drain'` once the replayed bytes are flushed, so a piped stream is not read whole into the queue.
   */
  private enqueue(name: Held, args: unknown[], original: Method): unknown {
    const { res } = this;
    const queue = this.queue as Queued[];
    const callback = args[args.length - 1];
    if (this.endQueued) {
      // As Node's response after its end: a second end only calls back, a write fails and resets the stream.
      if (name === 'end') {
        if (typeof callback === 'function') process.nextTick(callback);
        return res;
      }
      if (name === 'write') {
        const error = writeAfterEnd();
        if (typeof callback === 'function') process.nextTick(callback, error);
        res.destroy(error);
        return false;
      }
      if (name === 'flushHeaders') return undefined;
    }
    if (name === 'writeHead') {
      if (this.headQueued) {
        // Node's own writeHead on a stream the client already reset does nothing.
        if (streamGone(res)) return res;
        throw headersSent();
      }
      showHead(res, args);
      this.headQueued = true;
      queue.push([name, args, original]);
      this.mask(HEAD_SENT);
      return res;
    }
    if (name === 'end' && this.phase === HOLDING && this.first !== 'end')
      this.atEnd = this.manager.sessionAtEnd(this.req);
    // Node's write, end and flushHeaders send the header first with the status the response has then,
    // through the response's own writeHead (wrappers put on it see the call, as without a hold).
    if (!this.headQueued && !res.headersSent) res.writeHead(res.statusCode);
    if (name === 'flushHeaders') return undefined;
    queue.push([name, args, original]);
    if (name === 'end') {
      this.endQueued = true;
      this.mask(ENDED);
      return res;
    }
    this.queuedBytes += chunkBytes(args[0], args[1]);
    const mark = res.writableHighWaterMark;
    if (this.queuedBytes < (typeof mark === 'number' ? mark : 16 * 1024)) return true;
    this.drainOwed = true;
    return false;
  }

  /** Puts `properties` on the response while its calls are queued; `unmask` puts back what it had. */
  private mask(properties: Record<string, PropertyDescriptor>): void {
    if (this.masked === null) this.masked = [];
    const { masked } = this;
    for (const [name, ours] of Object.entries(properties)) {
      masked.push({ name, ours, before: Object.getOwnPropertyDescriptor(this.res, name) });
      Object.defineProperty(this.res, name, ours);
    }
  }

  /** The queue is released or dropped: the response reports its own state again. */
  private unmask(): void {
    const { masked, res } = this;
    if (masked === null) return;
    this.masked = null;
    for (const { name, ours, before } of masked.reverse()) {
      const now = Object.getOwnPropertyDescriptor(res, name);
      // Replaced while held (a wrapper put on the response meanwhile): that one stays.
      if (now === undefined || now.get !== ours.get || now.value !== ours.value) continue;
      if (before === undefined) Reflect.deleteProperty(res, name);
      else Object.defineProperty(res, name, before);
    }
  }

  /** Whether the application has ended the response: natively on HTTP/1, an `end` queued off it. */
  private endedWhileHeld(): boolean {
    return this.queue !== null ? this.queue.some(([name]) => name === 'end') : this.res.writableEnded;
  }

  /** The store has the session: out it goes, unless the response ended meanwhile with more to store. */
  private release(cookies: string[]): void {
    try {
      if (this.first === 'end' || !this.endedWhileHeld()) {
        this.open(cookies);
        return;
      }
      // The response ended while held, after a first byte that was not its end: store what changed in
      // between, before any byte goes out (so the cookie can still follow the session, e.g. a regenerate).
      this.first = 'end';
      let again: string[] | Promise<string[]>;
      try {
        again = this.manager.commitAsAtEnd(this.req, this.atEnd);
      } catch (error) {
        again = Promise.reject(error);
      }
      if (Array.isArray(again)) this.open(again.length > 0 ? again : cookies);
      else
        again.then(
          (latest) => this.open(latest.length > 0 ? latest : cookies),
          (error: unknown) => this.fail(error),
        );
    } catch (error) {
      this.broken(error);
    }
  }

  /** Sends what was held, with the session's cookies. */
  private open(cookies: string[]): void {
    try {
      this.phase = this.first === 'end' || this.res.writableEnded ? DONE : OPEN;
      const { gate, queue } = this;
      this.gate = null;
      this.queue = null;
      this.unmask();
      if (queue !== null) {
        this.addCookies(cookies, queue.find(([name]) => name === 'writeHead')?.[1]);
        for (const [, args, original] of queue) original.apply(this.res, args);
        if (this.drainOwed) owedDrain(this.res);
      } else if (gate !== null) {
        const expected = this.expected ?? [];
        this.expected = null;
        if (!sameCookies(cookies, expected)) {
          if (gate.headerBuilt())
            gate.replaceCookies(expected, cookies, this.manager.options.noStoreWithCookie);
          else {
            removeSetCookies(this.res, expected);
            this.addCookies(cookies, undefined);
          }
        }
        gate.open();
      }
    } catch (error) {
      this.broken(error);
      return;
    }
    // A store error the commit kept for after the response (express-session reports it to next(err)).
    this.manager.reportLate(this.req, this.res, this.next);
  }

  /** The response's end after it went out: store what changed since its first byte, before its last. */
  private end(args: unknown[], original: Method): unknown {
    let late: Promise<void> | undefined;
    try {
      late = this.manager.commitLate(this.req);
    } catch (error) {
      this.phase = DONE;
      this.lateFailed(error);
      return this.res;
    }
    if (late === undefined) {
      this.phase = DONE;
      return original.apply(this.res, args);
    }
    this.phase = ENDING;
    late.then(
      () => this.open([]),
      (error: unknown) => this.lateFailed(error),
    );
    if (!ByteGate.fits(this.res)) {
      this.queue = [];
      return this.enqueue('end', args, original);
    }
    this.gate = new ByteGate(this.res, this.req, false, this.manager.options.storeTimeout);
    return original.apply(this.res, args);
  }

  private addCookies(cookies: string[], writeHeadArgs: unknown[] | undefined): void {
    if (cookies.length === 0) return;
    if (writeHeadArgs !== undefined) ownHeaderArgument(writeHeadArgs);
    // The application cleared the cookie itself (res.clearCookie after destroy): one clearing header is enough.
    const { name } = this.manager.options;
    if (
      cookies.length === 1 &&
      cookies[0]?.startsWith(`${name}=;`) &&
      setsCookie(this.res, writeHeadArgs, name)
    )
      return;
    addSessionCookies(this.res, writeHeadArgs, cookies);
    // A shared cache must never hand one user's Set-Cookie to another (C20), whatever the app gave.
    if (this.manager.options.noStoreWithCookie) addNoStore(this.res, writeHeadArgs);
  }

  /** The first commit failed: nothing was sent, so the error handler answers instead of the held response. */
  private fail(error: unknown): void {
    if (this.manager.absorbs(error)) {
      // Nothing more is stored for this request, as for a stand-in session: its end would otherwise write
      // to the store that just failed again (one more storeTimeout), and cut the response when it fails.
      this.manager.absorb(this.req, error);
      this.open([]);
      return;
    }
    // The application has not ended its response (a stream, events, an end after an await) and goes on
    // writing into what is now the error page. Node fails a write after the page's end with an 'error'
    // event on the response, which nothing listens to: the process would end. Those writes fail quietly
    // instead (a write's callback still gets its error).
    const ended = this.endedWhileHeld();
    if (!ended) this.res.on('error', ignoreLateWrite);
    this.phase = DONE;
    const { gate, res } = this;
    this.gate = null;
    dropQueued(this.queue);
    this.queue = null;
    this.unmask();
    try {
      // A wrapper around the response's methods (compression, mounted before or after the session) has
      // ended its own stream and would swallow the error page: the connection is closed instead, and the
      // error still reaches next(err).
      if (gate !== null && !gate.rewind(this.ownMethods)) res.destroy();
      else {
        // The held response is dropped whole, headers included (a stale Content-Type or ETag must not
        // leak into the error page).
        for (const header of res.getHeaderNames()) res.removeHeader(header);
        res.statusCode = 200;
      }
    } catch (rewindError) {
      this.manager.report(rewindError);
      res.destroy();
    }
    this.next(error);
    // An error handler that answers synchronously has written by now; one that has not yet (it awaits
    // something, or Express's final handler waits for the request's end) must not find the application's
    // later writes already sent in its place, as a 200 without the session's cookie.
    if (!ended && !res.headersSent && !res.destroyed) this.phase = FAILED;
  }

  /**
   * A call after a failed first commit whose response the application had not ended, before the error
   * handler began its page. Both write to the same response, so they are told apart by what each must do:
   * the application already sent its header (as far as it knows) and only writes or ends its body, while
   * any error page sets a status or a header first (Express's `status`/`send`/`json`, its final handler)
   * or calls `writeHead`. The rewind left the status 200 and no header, so a call that finds one set, or
   * is `writeHead`, is the page's, and from then on every call goes through as Node's own. A `write`,
   * `end` or `flushHeaders` on the untouched response is the application's: dropped as Node drops a write
   * after the end (`write` returns `false`, a callback gets the error), so the bytes of a response whose
   * session was not stored never reach the client.
   *
   * An error handler that answers with neither (a bare `res.end(…)` after an await) cannot be told from
   * the application, which ends its response once: after one `end` was dropped, the next such call is one
   * of the two, and which one is unknown, so the connection is closed rather than risk sending the
   * application's bytes or leaving the client waiting.
   */
  private afterFailure(name: Held, args: unknown[], original: Method): unknown {
    const { res } = this;
    if (name === 'writeHead' || res.statusCode !== 200 || res.getHeaderNames().length > 0) {
      this.phase = DONE;
      return original.apply(res, args);
    }
    if (this.phase === FAILED_ENDED) {
      this.phase = DONE;
      res.destroy();
      return original.apply(res, args);
    }
    if (name === 'end') this.phase = FAILED_ENDED;
    const callback = args[args.length - 1];
    if (typeof callback === 'function') process.nextTick(callback, writeAfterEnd());
    return name === 'write' ? false : name === 'flushHeaders' ? undefined : res;
  }

  /**
   * The late commit failed after the response's first bytes went out: no error page can replace it, so
   * the connection is closed before its last bytes (the client sees an incomplete response, not a complete
   * one whose session was not stored) and the error goes to next(err), as express-session passes it.
   */
  private lateFailed(error: unknown): void {
    const { gate, res } = this;
    this.gate = null;
    dropQueued(this.queue);
    this.queue = null;
    this.unmask();
    this.phase = DONE;
    gate?.discard();
    res.destroy();
    this.next(error);
  }

  /** A bug of ours while releasing: never an unhandled rejection; the response is closed and it is reported. */
  private broken(error: unknown): void {
    this.phase = DONE;
    this.gate?.discard();
    this.gate = null;
    dropQueued(this.queue);
    this.queue = null;
    this.unmask();
    this.res.destroy();
    this.manager.report(error);
  }
}

/** Node's HTTP/1 response internals the byte hold works with (`lib/_http_outgoing.js`). */
interface OutgoingInternals {
  _header: string | null;
  _headerSent: boolean;
  outputData: { data: string | Uint8Array | null; encoding: unknown; callback: unknown }[];
  outputSize: number;
  _onPendingData(delta: number): void;
  _writeRaw: (...args: unknown[]) => boolean;
  _flush(): void;
}

type Internal = ServerResponse & OutgoingInternals;

/** Own properties of a response the rewind must not touch: its listeners and its connection. */
const KEPT = new Set<PropertyKey>([
  '_events',
  '_eventsCount',
  '_maxListeners',
  'req',
  'socket',
  // The held output, emptied by the rewind itself (the array is the one the held bytes went into).
  'outputData',
  'outputSize',
]);
/** Own properties Node's `writeHead` adds to a response that a rewind removes again. */
const ADDED_BY_NODE = ['statusCode', 'statusMessage'];

/**
 * Holds an HTTP/1 response's bytes in its own output buffer. Node already buffers a response there while
 * it waits for its connection (a pipelined response behind another), and flushes it with `_flush()` when
 * the connection is handed over: the gate makes `_writeRaw` take that path and `_flush` wait, so the
 * response's API stays Node's own, backpressure included (`write` returns `false` past the high-water
 * mark and the response emits `drain` once flushed).
 *
 * While held, a `destroy()` of the connection (Express's final handler after an error that came when the
 * headers counted as sent) waits for the release, so the bytes the application wrote before it go out
 * first, as they would have without a hold; what Node would have dropped is dropped: bytes written after
 * it, and those of `write()` calls in the same tick (Node corks the connection for them until the next
 * tick, and a destroy discards what is corked). A hold never outlives `storeTimeout`.
 */
class ByteGate {
  /** The response's own properties before its first byte, for `rewind` (none for a late commit's gate). */
  private readonly before = new Map<PropertyKey, unknown>();
  private readonly socket: Socket | null;
  /** Where in the held output this tick's `write()` calls began, when the first of them corked the connection. */
  private corkedFrom = -1;
  /** A `destroy()` dropped the held header with the corked bytes: nothing of the response goes out. */
  private cut = false;
  /**
   * How many held entries a `destroy()` of the connection left, `-1` before one: anything held after them
   * never goes out, including a header Node put in front of a Buffer body without `_writeRaw`.
   */
  private keptUntil = -1;

  /** Whether the response has Node's HTTP/1 output path (an HTTP/2 compatibility response has not). */
  static fits(res: ServerResponse): boolean {
    const internal = res as Internal;
    return (
      typeof internal._writeRaw === 'function' &&
      typeof internal._flush === 'function' &&
      Array.isArray(internal.outputData)
    );
  }

  /**
   * `rewindable`: nothing of the response went out yet, so a failed commit may put it back (`rewind`).
   * `flushWithinMs`: how long a connection whose destroy waited for the release may take to send what was
   * held before it is destroyed anyway (a reader that stopped reading must not keep it).
   */
  constructor(
    private readonly res: ServerResponse,
    req: IncomingMessage,
    rewindable: boolean,
    flushWithinMs: number,
  ) {
    if (rewindable) {
      for (const key of Reflect.ownKeys(res)) {
        if (!KEPT.has(key)) this.before.set(key, (res as unknown as Record<PropertyKey, unknown>)[key]);
      }
    }
    Object.defineProperty(res, '_writeRaw', { configurable: true, writable: true, value: bufferRaw });
    Object.defineProperty(res, '_flush', { configurable: true, writable: true, value: waitToFlush });
    const socket = res.socket ?? req.socket;
    this.socket = socket instanceof Socket ? socket : null;
    if (this.socket !== null) deferDestroy(this.socket, this, flushWithinMs);
  }

  /**
   * Before the application's `write()`: Node corks the connection for it, unless already corked, until the
   * next tick, when the mark goes too. A connection the application corked itself (`res.cork()`) holds
   * what is written from now on.
   */
  writing(): void {
    const { socket } = this.res;
    if (socket === null || (this.corkedFrom >= 0 && socket.writableCorked > 0)) return;
    this.corkedFrom = (this.res as Internal).outputData.length;
    process.nextTick(() => {
      this.corkedFrom = -1;
    });
  }

  /** Whether bytes of the response wait in the gate. */
  holdsBytes(): boolean {
    return (this.res as Internal).outputData.length > 0;
  }

  /**
   * A `destroy()` of the connection while held: drops what Node would have discarded, the bytes of this
   * tick's `write()` calls still corked on it (`end()` uncorks, so its bytes stay), and calls their
   * callbacks with the error Node's socket gives them.
   */
  destroying(socket: Socket, error: unknown): void {
    const res = this.res as Internal;
    this.keptUntil = res.outputData.length;
    if (this.corkedFrom < 0 || res.socket !== socket || socket.writableCorked === 0 || res.writableEnded)
      return;
    const dropped = res.outputData.splice(this.corkedFrom);
    this.cut ||= this.corkedFrom === 0;
    this.corkedFrom = -1;
    this.keptUntil = res.outputData.length;
    this.dropEntries(dropped, error instanceof Error ? error : streamDestroyed());
  }

  /** Takes `dropped` out of the held size, and calls their callbacks with `reason`, as Node's socket does. */
  private dropEntries(dropped: Internal['outputData'], reason: Error): void {
    const res = this.res as Internal;
    let size = 0;
    for (const { data, callback } of dropped) {
      size += data?.length ?? 0;
      if (typeof callback === 'function') process.nextTick(callback, reason);
    }
    res.outputSize -= size;
    res._onPendingData(-size);
  }

  headerBuilt(): boolean {
    return typeof (this.res as Internal)._header === 'string';
  }

  /**
   * In the header Node already built, replaces the Set-Cookie lines put there at the call (`expected`) by
   * the ones the commit returned (and, with the preset, makes Cache-Control `no-store`, however the
   * application gave its headers). The values are ours, made by the cookie serializer, so they need none
   * of the checks `setHeader` would make.
   */
  replaceCookies(expected: string[], cookies: string[], noStore: boolean): void {
    const res = this.res as Internal;
    const header = res._header as string;
    let lines = header.slice(0, header.length - 2).split('\r\n');
    lines.pop();
    // Node writes each header name as the application spelled it (`set-cookie` in a writeHead object).
    const stale = new Set(expected);
    lines = lines.filter(
      (line) => !(SET_COOKIE_LINE.test(line) && stale.has(line.slice(line.indexOf(':') + 1).trimStart())),
    );
    if (noStore && cookies.length > 0) {
      lines = lines.filter((line, i) => i === 0 || !/^cache-control[ \t]*:/i.test(line));
      lines.push('Cache-Control: no-store');
    }
    for (const cookie of cookies) lines.push(`Set-Cookie: ${cookie}`);
    const edited = `${lines.join('\r\n')}\r\n\r\n`;
    res._header = edited;
    if (!res._headerSent) return;
    const held = res.outputData.find(
      (entry) => typeof entry.data === 'string' && entry.data.startsWith(header),
    );
    if (held === undefined && this.cut) return;
    if (held === undefined) throw new SessionError('ERR_HOLD', 'sessionkit: the held header was not found');
    held.data = edited + (held.data as string).slice(header.length);
    res.outputSize += edited.length - header.length;
    res._onPendingData(edited.length - header.length);
  }

  /** Lets the held bytes go, through Node's own flush (which ends the response if it ended). */
  open(): void {
    const res = this.res as Internal;
    if (this.keptUntil >= 0 && res.outputData.length > this.keptUntil) {
      const after = res.outputData.splice(this.keptUntil);
      this.cut ||= this.keptUntil === 0;
      this.dropEntries(after, streamDestroyed());
    }
    this.restoreOutputPath();
    res._flush();
    this.releaseSocket();
  }

  /** Drops what was held (the response is being destroyed). */
  discard(): void {
    this.dropOutput();
    this.restoreOutputPath();
    this.releaseSocket();
  }

  /**
   * Drops what was held and puts the response back as it was before its first byte, for an error page.
   * `false` (dropped, not rewound) when the response's own methods are not just the session's over
   * Node's (`ours`): another wrapper has ended its own stream and would swallow the page.
   */
  rewind(ours: Record<Held, Method> | null): boolean {
    const res = this.res as unknown as Record<PropertyKey, unknown>;
    for (const name of HELD) {
      if (Object.hasOwn(res, name) && res[name] !== ours?.[name]) {
        this.discard();
        return false;
      }
    }
    this.dropOutput();
    this.restoreOutputPath();
    for (const [key, value] of this.before) res[key] = value;
    for (const key of ADDED_BY_NODE) if (!this.before.has(key)) delete res[key];
    this.releaseSocket();
    return true;
  }

  private dropOutput(): void {
    const res = this.res as Internal;
    // Each dropped write's callback gets the error Node gives a write after the end: a handler awaiting
    // it is told, instead of waiting for ever with what it holds open. The last entry of an ended
    // response is `end()`'s own, whose callback is Node's internal 'finish' step, not the application's.
    const writes = res.writableEnded ? res.outputData.length - 1 : res.outputData.length;
    for (let at = 0; at < writes; at++) {
      const { callback } = res.outputData[at] as (typeof res.outputData)[number];
      if (typeof callback === 'function') process.nextTick(callback, writeAfterEnd());
    }
    if (res.outputSize > 0) res._onPendingData(-res.outputSize);
    res.outputData = [];
    res.outputSize = 0;
  }

  private restoreOutputPath(): void {
    const res = this.res as unknown as Record<string, unknown>;
    delete res._writeRaw;
    delete res._flush;
  }

  private releaseSocket(): void {
    if (this.socket !== null) releaseDestroy(this.socket, this);
  }
}

/**
 * What a `writeHead` queued on an HTTP/2 response shows at once, as Node's would: its status and its
 * headers given as an object, validated by the response at the application's call (a logger reading
 * `res.statusCode`, a `hasHeader` check). The queued call sets them again when it is replayed.
 */
function showHead(res: ServerResponse, args: unknown[]): void {
  const [status, second, third] = args;
  if (typeof status === 'number') res.statusCode = status;
  const headers = typeof second === 'string' ? third : second;
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) return;
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined) res.setHeader(name, value as number | string | string[]);
}

/** A property `Hold.mask` put on a queued response, and the response's own one it covered. */
interface Masked {
  name: string;
  ours: PropertyDescriptor;
  before: PropertyDescriptor | undefined;
}

function isTrue(): boolean {
  return true;
}

/** A header change after a queued response's header counts as sent: refused, as Node's HTTP/2 response does. */
function refuseHeaderChange(): never {
  throw headersSent();
}

/** What a queued HTTP/2 response reports once its header counts as sent (see `Hold.enqueue`). */
const HEAD_SENT: Record<string, PropertyDescriptor> = {
  headersSent: { configurable: true, get: isTrue },
  setHeader: { configurable: true, writable: true, value: refuseHeaderChange },
  appendHeader: { configurable: true, writable: true, value: refuseHeaderChange },
  removeHeader: { configurable: true, writable: true, value: refuseHeaderChange },
};

/** What a queued HTTP/2 response reports once its end is queued. */
const ENDED: Record<string, PropertyDescriptor> = {
  writableEnded: { configurable: true, get: isTrue },
  finished: { configurable: true, get: isTrue },
};

/** The error Node's HTTP/2 response throws at a header change after its header was sent. */
function headersSent(): Error {
  return Object.assign(new Error('Response has already been initiated.'), { code: 'ERR_HTTP2_HEADERS_SENT' });
}

/** Whether an HTTP/2 response's stream is closed or destroyed (the client reset it). */
function streamGone(res: ServerResponse): boolean {
  const { stream } = res as unknown as { stream?: { destroyed?: boolean; closed?: boolean } };
  return stream?.destroyed === true || stream?.closed === true;
}

/** The bytes a `write(chunk, encoding)` adds to a response's buffer. */
function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/**
 * A queued `write` returned `false`: the replay put the bytes in the HTTP/2 stream, whose own `'drain'`
 * the response passes on once they are flushed. A stream that does not wait for one (the replayed bytes
 * fit in it) is drained already, so the response emits it itself; a closed one emits none, as Node's.
 */
function owedDrain(res: ServerResponse): void {
  const { stream } = res as unknown as { stream?: { writableNeedDrain?: boolean } };
  if (stream?.writableNeedDrain === true || streamGone(res) || res.writableEnded) return;
  process.nextTick(() => res.emit('drain'));
}

/**
 * The calls an HTTP/2 response queued while held, dropped: each `write` or `end` callback gets the error
 * Node gives a write after the end, as the HTTP/1 hold's dropped bytes do, so a handler awaiting one is
 * told instead of waiting for ever.
 */
function dropQueued(queue: Queued[] | null): void {
  if (queue === null) return;
  for (const [name, args] of queue) {
    const callback = args[args.length - 1];
    if ((name === 'write' || name === 'end') && typeof callback === 'function')
      process.nextTick(callback, writeAfterEnd());
  }
}

/** The error Node gives the callback of a write after the response's end. */
function writeAfterEnd(): Error {
  return Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' });
}

/** The error Node's socket gives the callbacks of writes a `destroy()` discarded. */
function streamDestroyed(): Error {
  return Object.assign(new Error('Cannot call write after a stream was destroyed'), {
    code: 'ERR_STREAM_DESTROYED',
  });
}

/** `_writeRaw` while held: Node's own buffering branch, taken whatever the connection. */
function bufferRaw(this: Internal, data: string | Uint8Array, encoding: unknown, callback: unknown): boolean {
  // Before the header, only an informational response is written raw (100 Continue, 103 Early Hints):
  // Node sends it at once, and must here, as a header sent later is put before what is held.
  if (!this._headerSent) {
    const inherited = (Object.getPrototypeOf(this) as OutgoingInternals)._writeRaw;
    return inherited.call(this, data, encoding, callback);
  }
  // A destroy() of the connection is waiting for the release: what is written after it never goes out.
  const socket = (this.socket ?? this.req?.socket) as DeferringSocket | null | undefined;
  if (socket?.destroyed || socket?.[DEFERRED]?.args) return false;
  let cb = callback;
  let enc = encoding;
  if (typeof enc === 'function') {
    cb = enc;
    enc = null;
  }
  this.outputData.push({ data, encoding: enc, callback: cb });
  this.outputSize += data.length;
  this._onPendingData(data.length);
  return this.outputSize < this.writableHighWaterMark;
}

/** `_flush` while held: the connection handed over to a held pipelined response waits for the release. */
function waitToFlush(): void {}

/**
 * Per connection: the held responses' gates on it, and a `destroy()` or a graceful `end()` (`destroySoon()`
 * ends first) that came meanwhile: without a hold, the bytes held would have been on the connection before
 * either, so both wait for the release, and a destroy then for those bytes to be sent.
 */
const DEFERRED = Symbol('sessionkit.deferredDestroy');
interface Deferral {
  gates: Set<ByteGate>;
  args: unknown[] | null;
  endArgs: unknown[] | null;
  own: PropertyDescriptor | undefined;
  ownEnd: PropertyDescriptor | undefined;
  flushWithinMs: number;
}
type DeferringSocket = Socket & { [DEFERRED]?: Deferral };

function deferDestroy(socket: DeferringSocket, gate: ByteGate, flushWithinMs: number): void {
  const existing = socket[DEFERRED];
  if (existing !== undefined) {
    existing.gates.add(gate);
    // A response held after the destroy came (pipelined behind the destroyed one): nothing of it goes out.
    if (existing.args !== null) gate.destroying(socket, existing.args[0]);
    return;
  }
  const deferral: Deferral = {
    gates: new Set([gate]),
    args: null,
    endArgs: null,
    own: Object.getOwnPropertyDescriptor(socket, 'destroy'),
    ownEnd: Object.getOwnPropertyDescriptor(socket, 'end'),
    flushWithinMs,
  };
  socket[DEFERRED] = deferral;
  const holding = (): boolean => [...deferral.gates].some((held) => held.holdsBytes());
  Object.defineProperty(socket, 'destroy', {
    configurable: true,
    writable: true,
    value: function deferredDestroy(this: DeferringSocket, ...args: unknown[]) {
      if (deferral.args !== null) return this;
      deferral.args = args;
      for (const held of deferral.gates) held.destroying(this, args[0]);
      // Nothing held is left to go out before it: the connection goes now, as without a hold.
      if (!holding()) undefer(this, deferral);
      return this;
    },
  });
  Object.defineProperty(socket, 'end', {
    configurable: true,
    writable: true,
    value: function deferredEnd(this: DeferringSocket, ...args: unknown[]) {
      if (deferral.args !== null || deferral.endArgs !== null) return this;
      if (!holding()) return ownEnd(this, deferral).apply(this, args);
      deferral.endArgs = args;
      return this;
    },
  });
}

/** Puts back a method the deferral replaced on the connection: its own property, or none (the prototype's). */
function restoreOwn(socket: Socket, name: 'destroy' | 'end', own: PropertyDescriptor | undefined): void {
  if (own) Object.defineProperty(socket, name, own);
  else delete (socket as unknown as Record<string, unknown>)[name];
}

/** The connection's own `end`, as it was before the deferral. */
function ownEnd(socket: Socket, deferral: Deferral): (...args: unknown[]) => Socket {
  return (deferral.ownEnd?.value ?? Object.getPrototypeOf(socket).end) as (...args: unknown[]) => Socket;
}

function releaseDestroy(socket: DeferringSocket, gate: ByteGate): void {
  const deferral = socket[DEFERRED];
  if (deferral === undefined || !deferral.gates.delete(gate) || deferral.gates.size > 0) return;
  undefer(socket, deferral);
}

/**
 * Puts the connection's own `destroy` and `end` back, and runs what came while they were deferred. A
 * destroy runs once the released bytes are sent (the connection ended, its FIN after them), or after
 * `flushWithinMs` at the latest.
 */
function undefer(socket: DeferringSocket, deferral: Deferral): void {
  deferral.gates.clear();
  if (socket[DEFERRED] === deferral) delete socket[DEFERRED];
  const end = ownEnd(socket, deferral);
  restoreOwn(socket, 'destroy', deferral.own);
  restoreOwn(socket, 'end', deferral.ownEnd);
  const { args, endArgs } = deferral;
  if (args === null) {
    if (endArgs !== null) end.apply(socket, endArgs);
    return;
  }
  const destroy = (): void => {
    (socket.destroy as (...a: unknown[]) => Socket)(...args);
  };
  while (socket.writableCorked > 0) socket.uncork();
  if (socket.writableLength === 0 || socket.destroyed || !socket.writable) {
    destroy();
    return;
  }
  const timer = setTimeout(destroy, deferral.flushWithinMs);
  timer.unref();
  socket.once('finish', () => {
    clearTimeout(timer);
    destroy();
  });
  end.call(socket);
}

/**
 * Whether the commit's cookies are those put on the response at its first byte. An Expires that moved by
 * a clock tick while the store wrote (the two were made a few ms apart, across a second) is no change of
 * outcome: correcting it would move the header to the end of the block, away from what header hooks saw.
 */
function sameCookies(cookies: string[], expected: string[]): boolean {
  return cookies.length === expected.length && cookies.every((cookie, i) => sameCookie(cookie, expected[i]));
}

const EXPIRES_ATTRIBUTE = /; Expires=([^;]*)/;

function sameCookie(cookie: string, expected: string | undefined): boolean {
  if (cookie === expected) return true;
  if (expected === undefined) return false;
  const now = EXPIRES_ATTRIBUTE.exec(cookie);
  const then = EXPIRES_ATTRIBUTE.exec(expected);
  if (now === null || then === null) return false;
  if (cookie.replace(EXPIRES_ATTRIBUTE, '') !== expected.replace(EXPIRES_ATTRIBUTE, '')) return false;
  return Math.abs(Date.parse(now[1] as string) - Date.parse(then[1] as string)) <= CLOCK_TICK_MS;
}

/** Expires has whole seconds: two readings a hold apart may differ by one, or by two across a slow write. */
const CLOCK_TICK_MS = 2_000;

/** Takes `values` out of the response's Set-Cookie header (set at the call, not confirmed at release). */
function removeSetCookies(res: ServerResponse, values: string[]): void {
  if (values.length === 0) return;
  const existing = res.getHeader('Set-Cookie');
  if (existing === undefined) return;
  const kept = (Array.isArray(existing) ? existing : [String(existing)]).filter((v) => !values.includes(v));
  if (kept.length > 0) res.setHeader('Set-Cookie', kept);
  else res.removeHeader('Set-Cookie');
}

export type { Session };
