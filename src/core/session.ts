import type { Cookie, CookieShape } from './cookie.js';
import { InvalidArgumentError, SessionError } from './errors.js';
import type { SessionData, SessionRecord } from './types.js';

/** Per-session bookkeeping the manager uses to compute what changed. */
export interface SessionState {
  id: string;
  /** Not in the store: created during this request and not saved yet. */
  isNew: boolean;
  /** Top-level values as loaded or last saved: primitives as they are, objects as their JSON. */
  snapshot: Map<string, unknown>;
  /** The cookie's attributes (without its moving expiry) as loaded or last saved; `null` until stored. */
  cookieSnapshot: CookieShape | null;
  /** The cookie's attributes as the browser has them: as loaded (`null`: a new session's browser has none). */
  browserCookie: CookieShape | null;
  userId: string | null;
  storedUserId: string | null;
  /** When the user last authenticated (`login()`, `reauthenticated()`), epoch ms; `null`: never. */
  authTime: number | null;
  storedAuthTime: number | null;
  /** When the session got its current ID (creation, or the last `renewAfter` renewal). */
  renewedAt: number;
  createdAt: number;
  /** When the store last heard of this session (load time or last write). */
  lastSeenAt: number;
  /** `touch()` was called: extend in the store regardless of `touchAfter`. */
  touched: boolean;
  /** Written to the store as a new session during this request: the response must carry its cookie. */
  issueCookie: boolean;
  /** A write during this request carried changed data or a changed user (express-session's "modified"). */
  dataWritten: boolean;
  /** The application saved it explicitly (`save()`) during this request: `resave` need not write it again. */
  saved: boolean;
  /**
   * With the `binding` option: the stored fingerprint is missing, out of date or was found changed and
   * kept (`onChange: 'report'`), so the next write records this request's.
   */
  rebind: boolean;
  /**
   * The record the store gave at load, until this request writes the session or reloads it: an
   * in-process store merges the first write into it when what it holds is still what it gave.
   */
  loaded: SessionRecord | null;
}

/** The operations a Session delegates to the manager that made it. */
export interface SessionController {
  regenerate(session: Session, keep: boolean): Promise<void>;
  destroy(session: Session): Promise<void>;
  reload(session: Session): Promise<void>;
  save(session: Session): Promise<void>;
  login(session: Session, userId: string): Promise<void>;
  logout(session: Session): Promise<void>;
  reauthenticate(session: Session): Promise<void>;
}

/** Session or a subclass an adapter adds its framework's methods with, constructed with Session's arguments. */
export type SessionClass = new (
  controller: SessionController,
  req: unknown,
  state: SessionState,
  cookie: Cookie,
  data?: Record<string, unknown>,
) => Session;

/**
 * A session operation's callback, as express-session calls it: with the error, or with nothing. Declared
 * with method syntax, so its parameter is checked bivariantly, as express-session's `(err: any) => void`
 * lets a caller annotate it: `(err: Error) => …` and `(err: Error | null) => …` are accepted.
 */
export type Done = { done(err?: Error | null): void }['done'];

export interface RegenerateOptions {
  /** Keep the data (and the bound user) under the new ID. Default `false`, as express-session. */
  keep?: boolean;
}

/**
 * A user ID as the store keeps it, or `null` for a value that names no user. Turning any value into text
 * would bind `undefined` (a misspelt property), `null`, `NaN` or an object to one shared user named
 * "undefined", "null", "NaN" or "[object Object]", whom every such login would then share.
 */
function userIdText(userId: unknown): string | null {
  if (typeof userId === 'string') return userId === '' ? null : userId;
  if (typeof userId === 'number') return Number.isFinite(userId) ? String(userId) : null;
  if (typeof userId === 'bigint') return String(userId);
  return null;
}

/** What a refused value was, without repeating it (an object's contents may be private). */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === '') return 'an empty string';
  return typeof value === 'number' ? String(value) : typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * Refuses a callback that is not a function before any work starts: called with the outcome, it would
 * throw where nothing catches it, an unhandled rejection that ends the process.
 */
function checkCallback(operation: string, done: unknown): void {
  if (done != null && typeof done !== 'function')
    throw new InvalidArgumentError(operation, 'callback', 'a function');
}

/** Runs `work`; with a callback reports through it, otherwise returns the promise. */
export function settle(work: Promise<void>, done: Done | null | undefined): Promise<void> | undefined {
  if (done == null) {
    // Marked handled, so an application that does not wait (express-session's `save(); res.redirect()`)
    // gets no unhandled rejection, which would end the process, when the store fails: the response, which
    // waits for such an operation, fails with its error instead. `await` still sees the rejection.
    work.catch(() => undefined);
    return work;
  }
  work.then(
    () => callBack(done, undefined),
    (error: Error) => callBack(done, error),
  );
  return undefined;
}

/**
 * Calls the application's callback as Node's callback APIs (and express-session, from its store's
 * callback) do: an exception it throws is the application's own, rethrown as an uncaught exception
 * carrying its stack, not left as the rejection of a promise nobody holds. The operation itself is done
 * by then; only the callback failed, and the session cannot know which request's error handler, if any,
 * may still answer.
 */
function callBack(done: Done, error: Error | undefined): void {
  try {
    if (error === undefined) done();
    else done(error);
  } catch (thrown) {
    queueMicrotask(() => {
      throw thrown;
    });
  }
}

/**
 * The key, shared by every copy of sessionkit in the process, under which a session's prototype gives the
 * user functions below its state and its manager. The CommonJS and ES module builds, loaded side by side
 * through `require` and `import`, each have their own Session class, and a session one made meets the
 * other's functions. Versioned: a copy whose SessionState or SessionController differ in what these
 * functions use takes another name, and its sessions are refused as not sessions.
 */
const SESSION_ACCESS = Symbol.for('sessionkit.session.v1');

/** What SESSION_ACCESS gives: `null` for an object that is not a session of that copy's class. */
interface SessionAccess {
  stateOf(value: object): SessionState | null;
  controllerOf(value: object): SessionController | null;
}

/**
 * `req.session`. The application's data lives directly on it (`req.session.views = 1`), beside `cookie`;
 * `Object.keys` and `for…in` show only those. Every method takes a callback or returns a promise.
 */
export class Session {
  cookie!: Cookie;
  // Private fields, not symbol-keyed defineProperty calls: invisible to Object.keys, for…in and JSON alike,
  // and set at construction without reshaping the object (this runs on every request).
  readonly #state: SessionState;
  readonly #controller: SessionController;
  readonly #req: unknown;

  constructor(
    controller: SessionController,
    req: unknown,
    state: SessionState,
    cookie: Cookie,
    data?: Record<string, unknown>,
  ) {
    this.#state = state;
    this.#controller = controller;
    this.#req = req;
    this.cookie = cookie;
    if (data) {
      // Never let stored keys shadow methods or reach the prototype (express-session does the same `in` check).
      for (const key of Object.keys(data)) {
        if (!(key in this)) (this as Record<string, unknown>)[key] = data[key];
        // A key left out is out of this request's sight, not deleted: another framework's session class
        // (Fastify's has `get` and `set`) may load it, and a delta write leaves the stored value alone.
        else if (state.snapshot.has(key)) state.snapshot.delete(key);
      }
    }
  }

  /** The session ID (`req.sessionID`). Read-only: an assignment, say from `Object.assign(req.session, body)`, is ignored. */
  get id(): string {
    return this.#state.id;
  }

  set id(_ignored: string) {}

  /** The request this session belongs to. Read-only, as `id`. */
  get req(): unknown {
    return this.#req;
  }

  set req(_ignored: unknown) {}

  /**
   * Read-only, as `id`: `Object.assign(req.session, JSON.parse(body))` with a `"__proto__"` key would
   * otherwise replace the session's prototype, putting the body's values in place of `id` and of every
   * method for the rest of the request. Shadows `Object.prototype.__proto__`, so a read still answers.
   */
  get ['__proto__'](): object | null {
    return Object.getPrototypeOf(this);
  }

  set ['__proto__'](_ignored: unknown) {}

  /** The manager's bookkeeping for a session (not part of the public API). */
  static stateOf(session: Session): SessionState {
    return session.#state;
  }

  /** The session's request, read even when application data replaced the prototype (`__proto__`). */
  static requestOf(session: Session): unknown {
    return session.#req;
  }

  /** The manager behind a session, for the user functions below (not part of the public API). */
  static controllerOf(session: Session): SessionController {
    return session.#controller;
  }

  static {
    // On the prototype, not in the class body: the declarations stay as they are. Not writable, so an
    // assignment on a session cannot shadow it, and symbol-keyed, so no request body or stored JSON can.
    const access: SessionAccess = {
      stateOf: (value) => (#state in value ? (value as Session).#state : null),
      controllerOf: (value) => (#controller in value ? (value as Session).#controller : null),
    };
    Object.defineProperty(Session.prototype, SESSION_ACCESS, { value: access });
  }

  /** New ID; the old record is destroyed first. Data is dropped unless `{ keep: true }`. */
  regenerate(options?: RegenerateOptions): Promise<void>;
  regenerate(done: Done): void;
  regenerate(options: RegenerateOptions, done: Done): void;
  regenerate(options?: RegenerateOptions | Done, done?: Done): Promise<void> | undefined {
    if (typeof options === 'function') return settle(this.#controller.regenerate(this, false), options);
    checkCallback('regenerate', done);
    return settle(this.#controller.regenerate(this, options?.keep === true), done);
  }

  /** Removes the session from the store and from the request; the response clears the cookie. */
  destroy(): Promise<void>;
  destroy(done: Done): void;
  destroy(done?: Done): Promise<void> | undefined {
    checkCallback('destroy', done);
    return settle(this.#controller.destroy(this), done);
  }

  /** Replaces the data with what the store holds now. */
  reload(): Promise<void>;
  reload(done: Done): void;
  reload(done?: Done): Promise<void> | undefined {
    checkCallback('reload', done);
    return settle(this.#controller.reload(this), done);
  }

  /** Writes now. Rarely needed: sessionkit saves before the response's first byte anyway. */
  save(): Promise<void>;
  save(done: Done): void;
  save(done?: Done): Promise<void> | undefined {
    checkCallback('save', done);
    return settle(this.#controller.save(this), done);
  }

  /** Restarts the cookie's maxAge and makes this response extend the session in the store (express-session's touch). */
  touch(done?: Done): this {
    checkCallback('touch', done);
    this.cookie.resetMaxAge();
    this.#state.touched = true;
    if (done) queueMicrotask(() => done());
    return this;
  }

  /** express-session's name for what `touch()` does to the cookie. */
  resetMaxAge(): this {
    this.cookie.resetMaxAge();
    return this;
  }
}

/** `req.session` typed with the application's data. */
export type TypedSession<Data = SessionData> = Session & Partial<Data>;

export function sessionState(session: Session): SessionState {
  return Session.stateOf(session);
}

/**
 * How a session of any copy of sessionkit in the process is reached, or `null` for anything else: an
 * object the application made (one with `login` or `userId` keys, an object built on a session with
 * `Object.create`) is no session.
 */
function accessOf(value: unknown): SessionAccess | null {
  if (typeof value !== 'object' || value === null) return null;
  const access = (value as { [SESSION_ACCESS]?: unknown })[SESSION_ACCESS];
  if (typeof access !== 'object' || access === null) return null;
  return (access as SessionAccess).stateOf(value) === null ? null : (access as SessionAccess);
}

/** Whether `value` is a session of sessionkit's, made by this copy or by another in the process. */
export function isSession(value: unknown): value is Session {
  return accessOf(value) !== null;
}

/*
 * sessionkit's user operations are functions of the session, not methods on it: `req.session` has exactly
 * express-session's methods, so an application's own key named `login` or `logout` (a common login flag)
 * reads, stores and loads as data, as it does on express-session. A method of that name made an
 * anonymous visitor's `req.session.login` a function, which a `== null` guard took for a logged-in user.
 */

/**
 * Runs a user operation on the session the caller passed (a typed error for anything else: a JavaScript
 * caller's `undefined`), settled as a promise or through `done`, as the session's own methods are.
 */
function userOperation(
  operation: string,
  session: unknown,
  done: Done | undefined,
  work: (target: Session, controller: SessionController) => Promise<void>,
): Promise<void> | undefined {
  checkCallback(operation, done);
  let result: Promise<void>;
  try {
    const controller = accessOf(session)?.controllerOf(session as object);
    if (controller == null) {
      throw new InvalidArgumentError(
        operation,
        'session',
        `the request's session (req.session), not ${kindOf(session)}`,
      );
    }
    result = work(session as Session, controller);
  } catch (error) {
    result = Promise.reject(error);
  }
  return settle(result, done);
}

/**
 * Binds a user to the session: a new ID (session-fixation defence), data kept, the old record destroyed
 * first. The ID is a non-empty string, a finite number or a bigint (kept as its decimal text); anything
 * else rejects with `ERR_INVALID_USER` and leaves the session as it was.
 */
export function login(session: Session, userId: string | number | bigint): Promise<void>;
export function login(session: Session, userId: string | number | bigint, done: Done): void;
export function login(
  session: Session,
  userId: string | number | bigint,
  done?: Done,
): Promise<void> | undefined {
  return userOperation('login', session, done, (target, controller) => {
    const text = userIdText(userId);
    if (text !== null) return controller.login(target, text);
    throw new SessionError(
      'ERR_INVALID_USER',
      `sessionkit: login() needs a user ID (a non-empty string, a finite number or a bigint), not ${kindOf(userId)}`,
    );
  });
}

/** Ends the authenticated session: the record is destroyed and a fresh anonymous session takes its place. */
export function logout(session: Session): Promise<void>;
export function logout(session: Session, done: Done): void;
export function logout(session: Session, done?: Done): Promise<void> | undefined {
  return userOperation('logout', session, done, (target, controller) => controller.logout(target));
}

/**
 * Records that the bound user has just proved who they are again (a password re-check before a
 * sensitive action): refreshes `authAge()` and, as any authentication, moves the session to a new ID.
 */
export function reauthenticated(session: Session): Promise<void>;
export function reauthenticated(session: Session, done: Done): void;
export function reauthenticated(session: Session, done?: Done): Promise<void> | undefined {
  return userOperation('reauthenticated', session, done, (target, controller) =>
    controller.reauthenticate(target),
  );
}

/** The user bound by `login()`, or `null` (also for no session at all). */
export function currentUserId(session: Session | null | undefined): string | null {
  return accessOf(session)?.stateOf(session as object)?.userId ?? null;
}

/** Milliseconds since the user last authenticated (`login()` or `reauthenticated()`), or `null`. */
export function authAge(session: Session | null | undefined): number | null {
  const authTime = accessOf(session)?.stateOf(session as object)?.authTime ?? null;
  return authTime === null ? null : Math.max(0, Date.now() - authTime);
}
