/**
 * A realistic passport-local login app (login form, protected page, logout, `returnTo`, connect-flash
 * messages) that runs on either session middleware, and a cookie-keeping client that drives it as a
 * browser would. test/compat/passport.test.ts runs the same app on sessionkit and on express-session.
 */
import flash from 'connect-flash';
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import express5 from 'express';
import expressSession from 'express-session';
import express4 from 'express4';
import passportModule from 'passport';
import { Strategy as LocalStrategy } from 'passport-local';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import session, { currentUserId, Session } from '../../src/index.js';
import { listenOnLoopback } from './apps.js';
import { SlowMemoryStore } from './slow-store.js';

export type Kind = 'sessionkit' | 'express-session';

export interface User {
  id: string;
  username: string;
  password: string;
}

export const USERS: readonly User[] = [
  { id: '1', username: 'alice', password: 'wonderland' },
  { id: '2', username: 'bob', password: 'builder' },
];

export const secret = 'passport-secret-0123456789abcdefghijklmn';

export interface PassportAppOptions {
  kind: Kind;
  /** The store, as the middleware takes it; `undefined`: the middleware's own MemoryStore. */
  store?: unknown;
  express: 4 | 5;
  keepSessionInfo: boolean;
  /** Options given to the session middleware besides the usual ones. */
  session?: Record<string, unknown>;
  /**
   * Runs inside passport's serializeUser, after its regenerate() and before its save(): where an app binds
   * the user with sessionkit's own `login(req.session, userId)` (for `maxSessionsPerUser` and "log out everywhere").
   */
  onSerialize?: (req: Request, user: User) => Promise<void>;
  /**
   * Runs at the start of POST /login and POST /logout, once the session is loaded (a test's hook to
   * interleave another request at that point).
   */
  pause?: (route: 'login' | 'logout') => Promise<void>;
}

export interface RunningApp {
  url: string;
  /** Errors the app's error handler saw, in order. */
  errors: unknown[];
  close(): Promise<void>;
}

/** express-session's middleware or sessionkit's, with a typical passport app's options. */
function sessionMiddleware(options: PassportAppOptions): RequestHandler {
  const common = {
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: { maxAge: 3_600_000 },
    ...(options.store === undefined ? {} : { store: options.store }),
    ...options.session,
  };
  return options.kind === 'sessionkit'
    ? (session(common as never) as unknown as RequestHandler)
    : (expressSession(common as never) as RequestHandler);
}

/** The app, listening on a free loopback port. */
export async function startPassportApp(options: PassportAppOptions): Promise<RunningApp> {
  const express = options.express === 4 ? (express4 as unknown as typeof express5) : express5;
  const app = express();
  const passport = new passportModule.Passport();
  passport.use(
    new LocalStrategy((username, password, done) => {
      const user = USERS.find((u) => u.username === username);
      if (user === undefined || user.password !== password)
        return done(null, false, { message: 'Incorrect username or password.' });
      return done(null, user);
    }),
  );
  passport.serializeUser<string, Request>(
    (req: Request, user: Express.User, done: (err: unknown, id?: string) => void) => {
      const found = user as User;
      if (options.onSerialize === undefined) return done(null, found.id);
      options.onSerialize(req, found).then(
        () => done(null, found.id),
        (error: unknown) => done(error),
      );
    },
  );
  passport.deserializeUser<string>((id, done) => done(null, USERS.find((u) => u.id === id) ?? false));

  app.use(express.urlencoded({ extended: false }));
  app.use(sessionMiddleware(options));
  app.use(flash());
  app.use(passport.authenticate('session'));

  const ensureLoggedIn: RequestHandler = (req, res, next) => {
    if (req.isAuthenticated()) return next();
    req.session.returnTo = req.originalUrl;
    res.redirect('/login');
  };

  app.get('/', (req, res) => {
    const user = req.user as User | undefined;
    res.send(`home: ${user ? user.username : 'anonymous'}; info: ${req.flash('info').join('|')}`);
  });
  app.get('/login', (req, res) => {
    res.send(`login form; error: ${req.flash('error').join('|')}; messages: ${messages(req)}`);
  });
  const pause =
    (route: 'login' | 'logout'): RequestHandler =>
    (_req, _res, next) => {
      if (options.pause === undefined) return next();
      options.pause(route).then(() => next(), next);
    };

  app.post(
    '/login',
    pause('login'),
    passport.authenticate('local', {
      successReturnToOrRedirect: '/',
      failureRedirect: '/login',
      failureFlash: true,
      failureMessage: true,
      keepSessionInfo: options.keepSessionInfo,
    }),
  );
  app.get('/account', ensureLoggedIn, (req, res) => {
    res.send(`account of ${(req.user as User).username}`);
  });
  app.post('/logout', pause('logout'), (req, res, next) => {
    req.logout({ keepSessionInfo: options.keepSessionInfo }, (error) => {
      if (error) return next(error);
      req.flash('info', 'Logged out.');
      res.redirect('/');
    });
  });
  /** A flash message saved without waiting, before a redirect (express-session apps do this). */
  app.post('/note', (req, res) => {
    req.flash('info', 'Noted.');
    req.session.save();
    res.redirect('/');
  });
  /** "Remember me": a longer cookie, set on the anonymous session before logging in. */
  app.get('/remember', (req, res) => {
    req.session.cookie.maxAge = 7 * 24 * 3_600_000;
    req.session.remember = true;
    res.send('remembered');
  });
  /** What the session holds, for assertions: its keys and the user passport sees. */
  app.get('/inspect', (req, res) => {
    const cookie = req.session?.cookie;
    res.json({
      keys: req.session ? Object.keys(req.session).sort() : null,
      passport: req.session?.passport ?? null,
      user: (req.user as User | undefined)?.username ?? null,
      // The user sessionkit's own login() bound (express-session's sessions have none).
      bound: req.session instanceof Session ? currentUserId(req.session) : null,
      // The cookie's lifetime as the session has it, in whole hours.
      hours:
        typeof cookie?.originalMaxAge === 'number' ? Math.round(cookie.originalMaxAge / 3_600_000) : null,
    });
  });

  const errors: unknown[] = [];
  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    errors.push(error);
    if (res.headersSent) return;
    res.status(error.status ?? 500).send(`error: ${error.code ?? error.message}`);
  };
  app.use(onError);

  return { ...(await listenOnLoopback(app)), errors };
}

function messages(req: Express.Request): string {
  const list = (req.session as { messages?: unknown } | undefined)?.messages;
  return Array.isArray(list) ? list.join('|') : '';
}

/** What one response showed: status, redirect, body, and what it did to the session cookie. */
export interface Step {
  status: number;
  location: string | null;
  body: string;
  /** `none`: no session cookie; `set`: a cookie with a session ID; `cleared`: one that deletes it. */
  cookie: 'none' | 'set' | 'cleared';
  /** A set cookie's lifetime from its Expires, in whole hours; `null` for none or a browser-session cookie. */
  hours: number | null;
}

const COOKIE = 'connect.sid';

/** The session ID inside a signed cookie value (`s:<id>.<mac>`, URL-encoded). */
export function idOfValue(value: string): string {
  const decoded = decodeURIComponent(value);
  return decoded.slice(2, decoded.lastIndexOf('.'));
}

/**
 * A client with a cookie jar (every cookie it is sent), following no redirects. `name` is the session
 * cookie's; forms go as `application/x-www-form-urlencoded`, or as JSON for apps without a form parser.
 */
export class Browser {
  readonly jar = new Map<string, string>();

  constructor(
    readonly url: string,
    readonly name: string = COOKIE,
    readonly encoding: 'form' | 'json' = 'form',
  ) {}

  /** The session cookie's value as the browser holds it (its ID, signed), or `null`. */
  get cookie(): string | null {
    return this.jar.get(this.name) ?? null;
  }

  /** The session ID the browser's cookie names, or `null`. */
  get sessionId(): string | null {
    const value = this.cookie;
    return value === null ? null : idOfValue(value);
  }

  /** A second browser holding a copy of this one's cookies (a stolen or fixated cookie). */
  copy(): Browser {
    const other = new Browser(this.url, this.name, this.encoding);
    for (const [name, value] of this.jar) other.jar.set(name, value);
    return other;
  }

  get(path: string): Promise<Step> {
    return this.send('GET', path);
  }

  post(path: string, form: Record<string, string> = {}): Promise<Step> {
    return this.send('POST', path, form);
  }

  async send(method: string, path: string, form?: Record<string, string>): Promise<Step> {
    const headers: Record<string, string> = {};
    if (this.jar.size > 0)
      headers.cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    let body: string | undefined;
    if (form !== undefined) {
      const json = this.encoding === 'json';
      headers['content-type'] = json ? 'application/json' : 'application/x-www-form-urlencoded';
      body = json ? JSON.stringify(form) : new URLSearchParams(form).toString();
    }
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(body === undefined ? {} : { body }),
    });
    let cookie: Step['cookie'] = 'none';
    let hours: number | null = null;
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1);
      const expires = attributes.find((a) => /^\s*expires=/i.test(a));
      const expiresAt = expires === undefined ? null : Date.parse(expires.split('=')[1] as string);
      const gone = value === '' || (expiresAt !== null && expiresAt <= Date.now());
      if (gone) this.jar.delete(name);
      else this.jar.set(name, value);
      if (name !== this.name) continue;
      cookie = gone ? 'cleared' : 'set';
      hours = gone || expiresAt === null ? null : Math.round((expiresAt - Date.now()) / 3_600_000);
    }
    const location = res.headers.get('location');
    return { status: res.status, location, body: await res.text(), cookie, hours };
  }
}

/**
 * A SlowMemoryStore that fails chosen calls, as a store whose backend drops out for a moment: `fail('write')`
 * fails the next write (sessionkit's `create`/`update`/`set`, express-session's `set`), `fail('destroy')`
 * the next destroy. Each planned fault fails one call with a connection error, then the store works again.
 */
export class FaultyStore extends SlowMemoryStore {
  private readonly planned: Array<'write' | 'destroy'> = [];
  /** The operations that failed, in order. */
  readonly failed: string[] = [];

  fail(...faults: Array<'write' | 'destroy'>): void {
    this.planned.push(...faults);
  }

  private check(kind: 'write' | 'destroy', operation: string): void {
    if (this.planned[0] !== kind) return;
    this.planned.shift();
    this.failed.push(operation);
    throw Object.assign(new Error(`connection lost during ${operation}`), { code: 'ECONNRESET' });
  }

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    this.check('write', 'create');
    return super.create(id, record);
  }

  override async update(id: string, delta: SessionDelta): Promise<boolean> {
    this.check('write', 'update');
    return super.update(id, delta);
  }

  override async set(id: string, record: SessionRecord): Promise<void> {
    this.check('write', 'set');
    return super.set(id, record);
  }

  override async destroy(id: string): Promise<void> {
    this.check('destroy', 'destroy');
    return super.destroy(id);
  }
}
