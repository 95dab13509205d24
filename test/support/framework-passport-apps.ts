/**
 * The frameworks' own passport packages on sessionkit's adapters and on each framework's usual session
 * plugin, for test/compat/framework-passport.test.ts: @fastify/passport on sessionkit/fastify and on
 * @fastify/session (with @fastify/cookie), koa-passport on sessionkit/koa and on koa-session (with an
 * external store, so that a session can end on the server). One login app per framework, the same on
 * either session layer, and a client with a cookie jar.
 */
import type { IncomingMessage } from 'node:http';
import fastifyCookie from '@fastify/cookie';
import fastifyPassport from '@fastify/passport';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyRequest } from 'fastify';
import Koa, { type Context, type Next } from 'koa';
import { KoaPassport } from 'koa-passport';
import koaSession from 'koa-session';
import { Strategy as LocalStrategy, type VerifyFunction } from 'passport-local';
import { session as sessionkitFastify } from '../../src/adapters/fastify.js';
import { session as sessionkitKoa } from '../../src/adapters/koa.js';
import { listenOnLoopback } from './apps.js';

export type FastifyKind = 'sessionkit' | '@fastify/session';
export type KoaKind = 'sessionkit' | 'koa-session';

interface User {
  id: string;
  username: string;
  password: string;
}

const USERS: readonly User[] = [
  { id: '1', username: 'alice', password: 'wonderland' },
  { id: '2', username: 'bob', password: 'builder' },
];

const secret = 'framework-passport-secret-0123456789abcdef';
const MAX_AGE = 3_600_000;

/** The session cookie's name on each session layer (its defaults). */
export const SESSION_COOKIE: Record<FastifyKind | KoaKind, string> = {
  sessionkit: 'connect.sid',
  '@fastify/session': 'sessionId',
  'koa-session': 'koa.sess',
};

const verify: VerifyFunction = (username, password, done) => {
  const user = USERS.find((u) => u.username === username);
  if (user === undefined || user.password !== password)
    return done(null, false, { message: 'Incorrect username or password.' });
  return done(null, user);
};

export interface RunningApp {
  url: string;
  /** Errors the app's error handler saw. */
  errors: unknown[];
  close(): Promise<void>;
}

export interface AppOptions<Kind> {
  kind: Kind;
  /** The store, as the session layer takes it; `undefined`: the layer's own in-memory store. */
  store?: unknown;
  keepSessionInfo: boolean;
}

/**
 * What a session holds, for /inspect: the user passport restored and the data keys, without `cookie`,
 * keys @fastify/session keeps with `undefined` until it saves, and koa-session's own (`isNew`, `_expire`…).
 */
function inspection(data: Record<string, unknown> | null | undefined, user: User | null | undefined) {
  const keys = data
    ? Object.keys(data)
        .filter(
          (key) => key !== 'cookie' && key !== 'isNew' && !key.startsWith('_') && data[key] !== undefined,
        )
        .sort()
    : null;
  return { keys, passport: data?.passport ?? null, user: user?.username ?? null };
}

/** @fastify/passport's documented app: local login with flash messages, `returnTo`, a protected page, logout. */
export async function startFastifyApp(options: AppOptions<FastifyKind>): Promise<RunningApp> {
  const app = Fastify();
  const common = { secret, saveUninitialized: false, ...(options.store ? { store: options.store } : {}) };
  if (options.kind === 'sessionkit') {
    await app.register(sessionkitFastify, { ...common, resave: false, cookie: { maxAge: MAX_AGE } } as never);
  } else {
    await app.register(fastifyCookie);
    // @fastify/session's defaults differ from express-session's: a Secure cookie and rolling sessions.
    await app.register(fastifySession, {
      ...common,
      rolling: false,
      cookie: { secure: false, maxAge: MAX_AGE },
    } as never);
  }
  const passport = new fastifyPassport.Authenticator();
  passport.use('local', new LocalStrategy(verify) as never);
  passport.registerUserSerializer(async (user: User) => user.id);
  passport.registerUserDeserializer(async (id: string) => USERS.find((u) => u.id === id) ?? null);
  await app.register(passport.initialize());
  await app.register(passport.secureSession());

  const userOf = (request: FastifyRequest) => request.user as User | undefined;
  app.get('/', async (request, reply) => {
    return `home: ${userOf(request)?.username ?? 'anonymous'}; info: ${reply.flash('info').join('|')}`;
  });
  app.get('/login', async (request, reply) => {
    const messages = request.session.get('messages');
    return `login form; error: ${reply.flash('error').join('|')}; messages: ${Array.isArray(messages) ? messages.join('|') : ''}`;
  });
  app.post(
    '/login',
    {
      preValidation: passport.authenticate('local', {
        successReturnToOrRedirect: '/',
        failureRedirect: '/login',
        failureFlash: true,
        failureMessage: true,
        keepSessionInfo: options.keepSessionInfo,
        authInfo: false,
      }),
    },
    // As @fastify/passport's README: passport answers in preValidation. A handler that is async (or returns
    // a value) sends a second reply after a successful login, which Fastify runs once the hook resolves.
    () => {
      // Nothing: passport answered.
    },
  );
  app.get('/account', async (request, reply) => {
    if (!request.isAuthenticated()) {
      request.session.set('returnTo', request.url);
      return reply.redirect('/login');
    }
    return `account of ${userOf(request)?.username}`;
  });
  app.post('/logout', async (request, reply) => {
    await request.logout();
    request.flash('info', 'Logged out.');
    return reply.redirect('/');
  });
  app.get('/inspect', async (request) => {
    const data = request.session as unknown as Record<string, unknown> | null;
    return inspection(data, userOf(request));
  });
  // @fastify/session's accessors as applications call them directly.
  app.post('/api/put', async (request) => {
    const before = request.session.isModified();
    request.session.set('a', 1);
    request.session.set('b', { nested: true });
    request.session.set('c', 'text');
    return { before, after: request.session.isModified() };
  });
  app.post('/api/regenerate', async (request) => {
    const before = request.session.sessionId;
    await request.session.regenerate(['a', 'missing']);
    const { session } = request;
    return { moved: session.sessionId !== before, a: session.get('a'), b: session.get('b') ?? null };
  });
  app.post('/api/unset', async (request) => {
    request.session.set('a', undefined);
    return { a: request.session.get('a') ?? null, modified: request.session.isModified() };
  });
  app.get('/api/read', async (request) => {
    const { session } = request;
    return {
      a: session.get('a') ?? null,
      b: session.get('b') ?? null,
      c: session.get('c') ?? null,
      modified: session.isModified(),
    };
  });

  const errors: unknown[] = [];
  app.setErrorHandler((error, _request, reply) => {
    errors.push(error);
    reply.status(500).send(`error: ${(error as { code?: string }).code ?? (error as Error).message}`);
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, errors, close: () => app.close() };
}

/** Reads a JSON request body into `ctx.request.body`, where passport-local looks (as koa-bodyparser would). */
async function jsonBody(ctx: Context, next: Next): Promise<void> {
  if (ctx.method === 'POST') {
    let text = '';
    for await (const chunk of ctx.req as IncomingMessage) text += chunk;
    (ctx.request as { body?: unknown }).body = text === '' ? {} : JSON.parse(text);
  }
  await next();
}

/** What koa-passport's `initialize()` adds to `ctx`. */
interface PassportContext {
  login(user: unknown): Promise<void>;
  logout(options?: Record<string, unknown>): Promise<void>;
  isAuthenticated(): boolean;
}

/** koa-passport's documented app: the same journey, its failure message in `session.messages`. */
export async function startKoaApp(options: AppOptions<KoaKind>): Promise<RunningApp> {
  const app = new Koa();
  app.keys = [secret];
  const errors: unknown[] = [];
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      errors.push(error);
      ctx.status = 500;
      ctx.body = `error: ${(error as { code?: string }).code ?? (error as Error).message}`;
    }
  });
  app.use(jsonBody);
  if (options.kind === 'sessionkit') {
    app.use(
      sessionkitKoa({
        secret,
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: MAX_AGE },
        ...(options.store ? { store: options.store } : {}),
      } as never),
    );
  } else {
    app.use(koaSession({ maxAge: MAX_AGE, store: options.store ?? new KoaMapStore() } as never, app));
  }
  const passport = new KoaPassport();
  passport.use(new LocalStrategy(verify));
  passport.serializeUser((user, done) => done(null, (user as User).id));
  passport.deserializeUser((id, done) => done(null, USERS.find((u) => u.id === id) ?? false));
  app.use(passport.initialize());
  app.use(passport.session());

  const login = passport.authenticate('local', {
    successReturnToOrRedirect: '/',
    failureRedirect: '/login',
    failureMessage: true,
    keepSessionInfo: options.keepSessionInfo,
  });
  app.use(async (ctx, next) => {
    const user = ctx.state.user as User | undefined;
    const session = ctx.session as unknown as Record<string, unknown> | null;
    const route = `${ctx.method} ${ctx.path}`;
    if (route === 'GET /') ctx.body = `home: ${user?.username ?? 'anonymous'}`;
    else if (route === 'GET /login') {
      const messages = session?.messages;
      ctx.body = `login form; messages: ${Array.isArray(messages) ? messages.join('|') : ''}`;
    } else if (route === 'POST /login') await login(ctx, next);
    else if (route === 'GET /account') {
      if ((ctx as unknown as PassportContext).isAuthenticated()) ctx.body = `account of ${user?.username}`;
      else {
        if (session) session.returnTo = ctx.path;
        ctx.redirect('/login');
      }
    } else if (route === 'POST /logout') {
      await (ctx as unknown as PassportContext).logout({ keepSessionInfo: options.keepSessionInfo });
      ctx.redirect('/');
    } else if (route === 'POST /login-as-bob') {
      // ctx.login() without a strategy, as after a sign-up.
      await (ctx as unknown as PassportContext).login(USERS[1]);
      ctx.redirect('/account');
    } else if (route === 'GET /inspect') ctx.body = inspection(session, user);
  });

  return { ...(await listenOnLoopback(app)), errors };
}

type Callback = (error?: unknown, value?: unknown) => void;

/**
 * A store for @fastify/session keeping each session as JSON, as a store across a network does (its own
 * MemoryStore keeps the live object), answering after `delayMs`.
 */
export class FastifySessionSlowStore {
  readonly map = new Map<string, string>();
  constructor(readonly delayMs = 1) {}

  private later(work: () => unknown, callback: Callback): void {
    setTimeout(() => {
      try {
        callback(null, work());
      } catch (error) {
        callback(error);
      }
    }, this.delayMs);
  }

  get(id: string, callback: Callback): void {
    this.later(() => {
      const json = this.map.get(id);
      return json === undefined ? null : JSON.parse(json);
    }, callback);
  }

  set(id: string, session: unknown, callback: Callback): void {
    this.later(() => void this.map.set(id, JSON.stringify(session)), callback);
  }

  destroy(id: string, callback: Callback): void {
    this.later(() => void this.map.delete(id), callback);
  }
}

/** koa-session's external store over a Map, answering at once or after `delayMs`. */
export class KoaMapStore {
  readonly map = new Map<string, string>();
  constructor(readonly delayMs = 0) {}

  private async wait(): Promise<void> {
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
  }

  async get(key: string): Promise<unknown> {
    await this.wait();
    const json = this.map.get(key);
    return json === undefined ? undefined : JSON.parse(json);
  }

  async set(key: string, session: unknown): Promise<void> {
    await this.wait();
    this.map.set(key, JSON.stringify(session));
  }

  async destroy(key: string): Promise<void> {
    await this.wait();
    this.map.delete(key);
  }
}

/** The part of a node-redis client KoaRedisStore uses. */
export interface RedisLike {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  del(key: string): Promise<number>;
}

/** koa-session's external store on Redis (koa-redis's shape: JSON under a prefix, expiring with the session). */
export class KoaRedisStore {
  constructor(
    readonly client: RedisLike,
    readonly prefix: string,
  ) {}

  async get(key: string): Promise<unknown> {
    const json = await this.client.get(this.prefix + key);
    return json === null ? undefined : JSON.parse(json);
  }

  async set(key: string, session: unknown, maxAge: number | 'session' | undefined): Promise<void> {
    await this.client.set(this.prefix + key, JSON.stringify(session), {
      PX: typeof maxAge === 'number' ? maxAge : 86_400_000,
    });
  }

  async destroy(key: string): Promise<void> {
    await this.client.del(this.prefix + key);
  }
}
