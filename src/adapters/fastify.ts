import type {
  FastifyInstance,
  Session as FastifyModuleSession,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify';
import fastifyPlugin from 'fastify-plugin';
import { diff } from '../core/changes.js';
import { continuedCookie } from '../core/cookie.js';
import { InvalidArgumentError, OptionsError } from '../core/errors.js';
import { type Done, type RegenerateOptions, Session, settle } from '../core/session.js';
import type { SessionData } from '../core/types.js';
import { type SessionCarrier, SessionManager } from '../engine/manager.js';
import type { SessionOptions, SessionRequestLike } from '../engine/options.js';
import type { ExpressStoreLike, SessionStore } from '../engine/store-access.js';
import {
  commitSession,
  discardBody,
  type ForeignOption,
  openSession,
  refuseForeignOptions,
} from './shared.js';

declare module 'fastify' {
  /**
   * @fastify/session's data interface, which its users augment (`declare module 'fastify' { interface
   * Session { user_id: string } }`): merged into `request.session`'s data type, beside `SessionData` from
   * 'sessionkit'.
   */
  interface Session {}
  interface FastifyRequest {
    /** The session (sessionkit). Type its data by augmenting `SessionData` from 'sessionkit' or fastify's `Session`. */
    session: TypedFastifySession<FastifySessionData>;
    sessionID: string;
    sessionStore: SessionStore | ExpressStoreLike;
  }
  interface FastifyInstance {
    /** The core behind the plugin (events: `error`, `create`, `destroy`, `regenerate`, `invalid`). */
    sessionManager: SessionManager;
  }
}

/** The data `request.session` is typed with: `SessionData` from 'sessionkit', and fastify's `Session` (@fastify/session's). */
export type FastifySessionData = SessionData & FastifyModuleSession;

/** A key's value as `SessionData` types it (`undefined`: absent), or `unknown` for a key it does not name. */
export type DataValue<Data, K extends string> = K extends keyof Data ? Data[K] | undefined : unknown;

/**
 * `request.session`: sessionkit's `req.session` with @fastify/session's accessors besides, so @fastify/passport,
 * @fastify/flash and code written for @fastify/session run unchanged. Only Fastify's sessions have them: an
 * Express app keeps express-session's object, whose stored data may use these names. A stored key named
 * like a method or accessor (`get`, `set`, `sessionId`, …) is not loaded, as with every method's name.
 */
export class FastifySession<Data = FastifySessionData> extends Session {
  /** @fastify/session's name for `id`. Read-only, as `id`. */
  get sessionId(): string {
    return this.id;
  }

  set sessionId(_ignored: string) {}

  /** A data value (`request.session.views` read by name), or `undefined`; never a method. */
  get<K extends string>(key: K): DataValue<Data, K> {
    const value = Object.hasOwn(this, key) ? (this as unknown as Record<string, unknown>)[key] : undefined;
    return value as DataValue<Data, K>;
  }

  /**
   * Sets a data value; `undefined` removes the key (what @fastify/session's save does with it). A name of
   * a method or accessor throws `ERR_INVALID_ARGUMENT`: the value would hide it for the rest of the request
   * and never come back from the store. `cookie` takes only an object (another session's `cookie`).
   */
  set<K extends string>(key: K, value: DataValue<Data, K>): void {
    if (typeof key !== 'string' || (key in this && !Object.hasOwn(this, key)))
      throw new InvalidArgumentError('set', 'key', 'the name of a data value, not of a method or accessor');
    // The engine reads the cookie on every commit: it can be replaced (passport's keepSessionInfo), not removed.
    if (key === 'cookie' && (value === null || typeof value !== 'object'))
      throw new InvalidArgumentError('set', 'value', "a Cookie: the session's `cookie` cannot be removed");
    const data = this as unknown as Record<string, unknown>;
    if (value === undefined) delete data[key];
    else data[key] = value;
  }

  /**
   * With a list of keys, @fastify/session's `regenerate(ignoreFields)`: a new ID and a new session holding
   * only those keys of this one (`cookie` among them carries its lifetime), the old record destroyed first.
   * Otherwise `Session.regenerate`. Await it: the keys reach the new session (`request.session`) once it exists.
   */
  override regenerate(fields?: readonly string[] | RegenerateOptions): Promise<void>;
  override regenerate(done: Done): void;
  override regenerate(fields: readonly string[] | RegenerateOptions, done: Done): void;
  override regenerate(
    fields?: readonly string[] | RegenerateOptions | Done,
    done?: Done,
  ): Promise<void> | undefined {
    if (!Array.isArray(fields)) {
      if (typeof fields === 'function') {
        super.regenerate(fields);
        return undefined;
      }
      const options = fields as RegenerateOptions | undefined;
      if (done == null) return super.regenerate(options);
      super.regenerate(options ?? {}, done);
      return undefined;
    }
    if (done != null && typeof done !== 'function')
      throw new InvalidArgumentError('regenerate', 'callback', 'a function');
    const data = this as unknown as Record<string, unknown>;
    const kept: Array<[string, unknown]> = [];
    for (const key of fields as unknown[])
      if (typeof key === 'string' && Object.hasOwn(data, key)) kept.push([key, data[key]]);
    const { cookie } = this;
    const work = super.regenerate().then(() => {
      const next = (Session.requestOf(this) as { session?: unknown }).session;
      if (!(next instanceof Session)) return;
      // @fastify/session builds the new session's cookie from this one's: a "remember me" lifetime stays.
      next.cookie = continuedCookie(cookie);
      for (const [key, value] of kept) (next as unknown as Record<string, unknown>)[key] = value;
    });
    return settle(work, done);
  }

  /** Whether the data differs from what the store holds (@fastify/session's `isModified`). */
  isModified(): boolean {
    return diff(this, Session.stateOf(this).snapshot).changed;
  }

  /** Whether `save()` stored it during this request (@fastify/session's `isSaved`). */
  isSaved(): boolean {
    return Session.stateOf(this).saved;
  }

  /**
   * @fastify/session's `options(opts)`: changes this session's cookie from here on (a "remember me"
   * lifetime), with the options @fastify/session applies: `maxAge` in milliseconds (as its Cookie takes
   * it, whatever its README's comment says), `expires`, `path`, `domain`, `sameSite`, `secure`,
   * `httpOnly`, `partitioned`, `priority`. Others (@fastify/cookie's `signed`, `encode`) are ignored, as
   * there. The cookie is sent again with this response.
   */
  options(opts: FastifyCookieOptions): void {
    if (typeof opts !== 'object' || opts === null)
      throw new InvalidArgumentError('options', 'opts', 'an object of cookie options');
    const { cookie } = this;
    for (const key of Object.keys(opts)) {
      const value: unknown = (opts as Record<string, unknown>)[key];
      if (key === 'maxAge') cookie.maxAge = value as number | null;
      else if (key === 'expires')
        cookie.expires = value instanceof Date || !value ? (value as Date | null) : new Date(value as string);
      else if (COOKIE_ATTRIBUTES.has(key)) (cookie as unknown as Record<string, unknown>)[key] = value;
    }
  }
}

/** The cookie attributes `options()` sets as given (`maxAge` and `expires` set the lifetime). */
const COOKIE_ATTRIBUTES = new Set([
  'path',
  'domain',
  'sameSite',
  'secure',
  'httpOnly',
  'partitioned',
  'priority',
]);

/** What @fastify/session's `options()` applies to a session's cookie. */
export interface FastifyCookieOptions {
  /** Milliseconds from now; `null` makes a browser-session cookie. */
  maxAge?: number | null;
  expires?: Date | null;
  path?: string;
  domain?: string;
  sameSite?: boolean | 'lax' | 'strict' | 'none';
  secure?: boolean | 'auto';
  httpOnly?: boolean;
  partitioned?: boolean;
  priority?: 'low' | 'medium' | 'high';
}

/** `request.session` typed with the application's data. */
export type TypedFastifySession<Data = FastifySessionData> = FastifySession<Data> & Partial<Data>;

/** @fastify/session's names for sessionkit's options, accepted so that a switch keeps them. */
interface FastifySessionNames {
  /** @fastify/session's name for `name`. */
  cookieName?: string;
  /** @fastify/session's name for `genid`. */
  idGenerator?: (request: FastifyRequest) => string;
  /** Only `'s:'`, the format sessionkit writes; anything else is refused at registration. */
  cookiePrefix?: 's:';
  /** Only `'sha256'`; anything else is refused at registration. */
  algorithm?: 'sha256';
}

/** `session()`'s options; `genid`, `cookie` and `skip` functions receive the Fastify request. */
export type FastifySessionOptions = SessionOptions<FastifyRequest> & FastifySessionNames;

/** A request typed with your session data, without declaration merging: `(req: SessionRequest<MyData>) => …`. */
export type SessionRequest<Data = FastifySessionData> = FastifyRequest & {
  session: TypedFastifySession<Data>;
};

/** `request.session`, typed with a data type of the caller's choosing. */
export function getSession<Data = FastifySessionData>(request: FastifyRequest): TypedFastifySession<Data> {
  return request.session as unknown as TypedFastifySession<Data>;
}

type Carrier = FastifyRequest & SessionRequestLike & SessionCarrier;

/** Marks a request whose session was committed, so the error reply of a failed commit does not commit again. */
const COMMITTED = Symbol('sessionkit.committed');
/**
 * The Set-Cookie values a commit that succeeded put on the reply (`null` before one): an error reply made
 * after it (a later `onSend` hook failed, so that reply never left) commits again, replacing them.
 */
const SENT = Symbol('sessionkit.sentCookies');
type Marked = { [COMMITTED]?: boolean; [SENT]?: string[] | null };

/** The requests whose commit waits on the store, until their reply goes on. */
const committing = new WeakMap<FastifyRequest, Promise<void>>();
const ALREADY_SENT = 'Reply was already sent: a second reply.send() was dropped';

/**
 * Setup errors (an invalid option, a second registration where the first already decorated) go to
 * `done`, so `register()` and `ready()` reject with them: thrown, they would escape Fastify's plugin
 * loader as an uncaught exception.
 */
const plugin: FastifyPluginCallback<FastifySessionOptions> = (fastify, options, done) => {
  try {
    install(fastify, options);
  } catch (error) {
    done(error as Error);
    return;
  }
  done();
};

/** @fastify/session options whose other values would change the cookie's format (see refuseForeignOptions). */
const FASTIFY_SESSION_UNSUPPORTED: Record<string, ForeignOption> = {
  cookiePrefix: {
    harmless: 's:',
    why: "other than 's:' is not supported: the cookie value is express-session's (s:<id>.<mac>)",
  },
  algorithm: {
    harmless: 'sha256',
    why: "other than 'sha256' is not supported: the cookie is signed with HMAC-SHA256",
  },
};

/** The engine's options from @fastify/session-style ones: `cookieName` is `name`, `idGenerator` `genid`. */
function engineOptionsOf(options: FastifySessionOptions): SessionOptions<Carrier> {
  refuseForeignOptions(options, FASTIFY_SESSION_UNSUPPORTED);
  const { cookieName, idGenerator, cookiePrefix: _prefix, algorithm: _algorithm, ...rest } = options;
  if (cookieName !== undefined && rest.name !== undefined)
    throw new OptionsError('cookieName', "is @fastify/session's `name`: give one of the two");
  if (idGenerator !== undefined && rest.genid !== undefined)
    throw new OptionsError('idGenerator', "is @fastify/session's `genid`: give one of the two");
  return {
    ...(rest as SessionOptions<Carrier>),
    ...(cookieName === undefined ? {} : { name: cookieName }),
    ...(idGenerator === undefined ? {} : { genid: idGenerator }),
  } as SessionOptions<Carrier>;
}

function install(fastify: FastifyInstance, options: FastifySessionOptions): void {
  const manager = new SessionManager<Carrier>(engineOptionsOf(options));
  manager.sessionClass = FastifySession;
  // Fastify's `protocol` follows its own `trustProxy`, as Express's `req.secure` follows "trust proxy".
  manager.secureOf = (request) => request.protocol === 'https';
  const { skip } = manager.options;
  const noStore = manager.options.noStoreWithCookie;

  fastify.decorate('sessionManager', manager as unknown as SessionManager);
  // Declared up front so every request has the same shape.
  fastify.decorateRequest('session', null as unknown as TypedFastifySession<FastifySessionData>);
  fastify.decorateRequest('sessionID', '');
  fastify.decorateRequest('sessionStore', null as unknown as SessionStore);
  // A field every request has from the start keeps Fastify's request objects one shape: the commit mark,
  // and the engine's per-request bookkeeping, which it otherwise adds under its symbol during onRequest.
  fastify.decorateRequest(COMMITTED, false);
  fastify.decorateRequest(SENT, null);
  fastify.decorateRequest(manager.contextKey, undefined);

  const setCookies = (request: Marked, reply: FastifyReply, cookies: string[]): void => {
    request[SENT] = cookies;
    // Fastify appends a repeated Set-Cookie instead of replacing the application's.
    for (const cookie of cookies) reply.header('set-cookie', cookie);
    // A shared cache must never hand one user's Set-Cookie to another (C20).
    if (noStore && cookies.length > 0) reply.header('cache-control', 'no-store');
  };

  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, _reply: FastifyReply, next: HookHandlerDoneFunction) => {
      const carrier = request as Carrier;
      // Registered twice, or exempt: no session work at all.
      if (carrier.session || skip?.(request)) {
        next();
        return;
      }
      const loading = openSession(manager, carrier);
      if (loading === undefined) next();
      else loading.then(() => next(), next);
    },
  );

  fastify.addHook(
    'onSend',
    (
      request: FastifyRequest,
      reply: FastifyReply,
      payload: unknown,
      next: (error?: Error | null, value?: unknown) => void,
    ) => {
      const marked = request as Marked;
      if (marked[COMMITTED]) {
        const pending = committing.get(request);
        // A second `reply.send()` while the first one's commit is pending: Fastify lets it through until
        // the headers leave. It waits, so the first reply goes out (with the cookie), as without a store call.
        if (pending !== undefined) {
          void pending.then(() =>
            reply.sent ? reply.log.warn(ALREADY_SENT) : proceed(reply, next, undefined, payload),
          );
          return;
        }
        // The error reply of a failed commit commits nothing more; nor does anything after the headers left.
        const sent = marked[SENT];
        if (sent == null || reply.raw.headersSent) {
          next(null, payload);
          return;
        }
        // An error reply after the commit (a hook after this one failed): what the error handler changed
        // is stored too, and this reply's cookies replace the first commit's.
        withoutCookies(reply, sent);
      }
      marked[COMMITTED] = true;
      let committed: string[] | Promise<string[]>;
      try {
        committed = commitSession(manager, request as Carrier);
      } catch (error) {
        next(error as Error);
        return;
      }
      // Most requests need no store call: answered without a promise or a closure.
      if (Array.isArray(committed)) {
        setCookies(marked, reply, committed);
        next(null, payload);
        return;
      }
      // A streamed payload has no error listener until Fastify pipes it, after this hook: one that fails
      // while the store writes would be an uncaught 'error' event. It is held here, then answered as
      // Fastify answers a stream that fails before its headers leave.
      const stream = streamOf(payload);
      let failed: Error | undefined;
      const hold = (error: Error): void => {
        failed ??= error;
      };
      stream?.on('error', hold);
      // What this reply says while it waits: a handler that throws after its send has Fastify's error path
      // set a 500 and its headers meanwhile, for an error reply that is then dropped (see above). The reply
      // that goes out is this one, with its own status and headers, as without a store call.
      const status = reply.statusCode;
      const headers = reply.getHeaders();
      const pending = committed.then(
        (cookies) => {
          committing.delete(request);
          stream?.off('error', hold);
          if (failed === undefined) restore(reply, status, headers);
          // The session is stored: its cookie goes out on the error reply too.
          setCookies(marked, reply, cookies);
          proceed(reply, next, failed, payload);
        },
        (error: Error) => {
          committing.delete(request);
          // The error reply replaces the body, which nothing will read: closed (a Node stream stays
          // listened to), so what feeds it (a file, a cursor, a fetch) is let go now.
          if (stream !== undefined) stream.destroy?.();
          // A WHATWG stream or `Response` (Fastify 5 sends both) is cancelled.
          else discardBody(payload);
          proceed(reply, next, error, payload);
        },
      );
      committing.set(request, pending);
    },
  );
}

/** Takes the Set-Cookie values `sent` off the reply, leaving the application's own. */
function withoutCookies(reply: FastifyReply, sent: string[]): void {
  if (sent.length === 0) return;
  const existing = reply.getHeader('set-cookie');
  if (existing === undefined) return;
  const kept = (Array.isArray(existing) ? existing : [String(existing)]).filter((v) => !sent.includes(v));
  reply.removeHeader('set-cookie');
  for (const cookie of kept) reply.header('set-cookie', cookie);
}

/**
 * Hands the reply on after a commit that waited for the store. Fastify writes the headers inside `next`,
 * and a header Node refuses (a non-Latin-1 filename) throws there; outside the route's own call, that
 * throw would be an unhandled rejection and a reply never sent. It is answered as Fastify answers it
 * from a handler: an error reply.
 */
function proceed(
  reply: FastifyReply,
  next: (error?: Error | null, value?: unknown) => void,
  error: Error | undefined,
  payload: unknown,
): void {
  try {
    if (error !== undefined) next(error);
    else next(null, payload);
  } catch (thrown) {
    if (reply.sent) reply.log.error(thrown);
    else reply.send(thrown instanceof Error ? thrown : new Error(String(thrown)));
  }
}

/**
 * Puts back the status and headers a reply had when its send began (see the `onSend` hook). Set-Cookie
 * is left as it is: Fastify appends to it rather than replacing it, and an error path sets none.
 */
function restore(reply: FastifyReply, status: number, headers: Record<string, unknown>): void {
  if (reply.statusCode !== status) reply.code(status);
  const now = reply.getHeaders();
  for (const name of Object.keys(now))
    if (!(name in headers) && name !== 'set-cookie') reply.removeHeader(name);
  for (const [name, value] of Object.entries(headers))
    if (name !== 'set-cookie' && now[name] !== value)
      reply.header(name, value as string | number | readonly string[]);
}

/** A Node stream payload (`reply.send(stream)`, which Fastify recognises by its `pipe`), which emits 'error'. */
interface StreamPayload {
  pipe: unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  off(event: 'error', listener: (error: Error) => void): unknown;
  destroy?: () => unknown;
}

function streamOf(payload: unknown): StreamPayload | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const candidate = payload as Partial<StreamPayload>;
  return typeof candidate.pipe === 'function' &&
    typeof candidate.on === 'function' &&
    typeof candidate.off === 'function'
    ? (candidate as StreamPayload)
    : undefined;
}

/**
 * The Fastify 4/5 plugin: `fastify.register(session, options)`. The session is loaded in `onRequest` and
 * stored in `onSend`, before the headers leave, so a redirect never reaches a server that lacks it.
 * Needs no @fastify/cookie. Registered at the root (it skips encapsulation), it serves every route.
 * A reply taken over with `reply.hijack()` skips `onSend`: call `await request.session.save()` first.
 */
export const session = fastifyPlugin(plugin, { fastify: '4.x || 5.x', name: 'sessionkit' });
export default session;

export type { FastifyInstance };
