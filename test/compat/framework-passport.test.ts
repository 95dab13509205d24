/**
 * The frameworks' own passport packages on sessionkit's adapters, side by side with the same app on each
 * framework's usual session plugin: @fastify/passport 4 (passport-local, @fastify/flash) on
 * sessionkit/fastify and on @fastify/session with @fastify/cookie; koa-passport 6 on sessionkit/koa and on
 * koa-session with an external store. The journey of test/compat/passport.test.ts — a protected page sends
 * to the login form, a wrong password comes back as a message, the right one logs in, logout ends it — on
 * an in-memory store, a store that answers asynchronously and Redis, with a new session ID at login and
 * at logout and the cookies of before each (a fixated or stolen cookie) leading to no logged-in session.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import Fastify from 'fastify';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import expressSession, { MemoryStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import {
  type AppOptions,
  type FastifyKind,
  FastifySessionSlowStore,
  type KoaKind,
  KoaMapStore,
  KoaRedisStore,
  type RunningApp,
  SESSION_COOKIE,
  startFastifyApp,
  startKoaApp,
} from '../support/framework-passport-apps.js';
import { Browser, type Step } from '../support/passport-app.js';
import { runNamespace } from '../support/services.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ALICE = { username: 'alice', password: 'wonderland' };

/** The whole journey, each response recorded, and whether the session cookie's value moved at each step. */
async function journey(url: string, cookieName: string) {
  const browser = new Browser(url, cookieName, 'json');
  const steps: Record<string, Step | unknown> = {};
  steps.protected = await browser.get('/account');
  const anonymous = browser.cookie;
  steps.badLogin = await browser.post('/login', { username: 'alice', password: 'guess' });
  const afterBadLogin = browser.cookie;
  steps.loginForm = await browser.get('/login');
  const fixated = browser.copy();
  steps.login = await browser.post('/login', ALICE);
  const loggedIn = browser.cookie;
  steps.account = await browser.get('/account');
  steps.inspect = JSON.parse((await browser.get('/inspect')).body);
  // Session fixation: the cookie from before the login leads to no logged-in session.
  steps.fixatedInspect = JSON.parse((await fixated.get('/inspect')).body);
  steps.fixatedAccount = await fixated.get('/account');
  const stolen = browser.copy();
  steps.logout = await browser.post('/logout');
  const loggedOut = browser.cookie;
  steps.home = await browser.get('/');
  steps.afterLogout = await browser.get('/account');
  // The cookie from before the logout (a copy taken while logged in) no longer logs anyone in.
  steps.stolenInspect = JSON.parse((await stolen.get('/inspect')).body);
  steps.stolenAccount = await stolen.get('/account');
  return {
    steps,
    ids: {
      stableUntilLogin: anonymous !== null && afterBadLogin === anonymous,
      newAtLogin: loggedIn !== null && loggedIn !== afterBadLogin,
      // A new cookie, or none at all (the anonymous session after logout holds nothing to store).
      goneAtLogout: loggedOut !== loggedIn,
    },
  };
}

async function withApp<Kind, T>(
  start: (options: AppOptions<Kind>) => Promise<RunningApp>,
  options: AppOptions<Kind>,
  scenario: (app: RunningApp) => Promise<T>,
): Promise<T> {
  const app = await start(options);
  try {
    const result = await scenario(app);
    expect(app.errors).toEqual([]);
    return result;
  } finally {
    await app.close();
  }
}

const SK_PREFIX = `${runNamespace('fw_passport_sk')}:`;
const OTHER_PREFIX = `${runNamespace('fw_passport_other')}:`;
let redis: ReturnType<typeof createClient>;
let redisStore: RedisStore;

beforeAll(async () => {
  // No skip: an unreachable Redis fails the file.
  redis = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  redis.on('error', () => undefined);
  await redis.connect();
  redisStore = new RedisStore({ client: redis, prefix: SK_PREFIX });
});

afterAll(async () => {
  if (!redis?.isOpen) return;
  await redisStore.clear();
  for await (const keys of redis.scanIterator({ MATCH: `${OTHER_PREFIX}*` }))
    if (keys.length > 0) await redis.del(keys);
  await redis.close();
});

/** Each session layer's store of a kind: its own in-memory one, one answering later, or Redis. */
const stores = [
  {
    name: 'an in-memory store',
    sessionkit: () => undefined,
    fastify: () => undefined,
    koa: () => new KoaMapStore(),
  },
  {
    name: 'an asynchronous store',
    sessionkit: () => new SlowMemoryStore(1),
    fastify: () => new FastifySessionSlowStore(1),
    koa: () => new KoaMapStore(1),
  },
  {
    name: 'Redis',
    sessionkit: () => redisStore,
    fastify: () => new ConnectRedisStore({ client: redis, prefix: OTHER_PREFIX }),
    koa: () => new KoaRedisStore(redis, OTHER_PREFIX),
  },
] as const;

describe('@fastify/passport on sessionkit/fastify and on @fastify/session', () => {
  const run = (kind: FastifyKind, store: unknown, keepSessionInfo: boolean) =>
    withApp(startFastifyApp, { kind, store, keepSessionInfo }, (app) =>
      journey(app.url, SESSION_COOKIE[kind]),
    );

  describe.each(stores)('on $name', (stores) => {
    it.each([false, true])(
      'keepSessionInfo: %s — the same statuses, redirects, bodies and cookies, a new ID at login and logout',
      async (keepSessionInfo) => {
        const sessionkit = await run('sessionkit', stores.sessionkit(), keepSessionInfo);
        const other = await run('@fastify/session', stores.fastify(), keepSessionInfo);
        expect(sessionkit).toEqual(other);
        const { steps, ids } = sessionkit;
        expect(ids).toEqual({ stableUntilLogin: true, newAtLogin: true, goneAtLogout: true });
        expect(steps.protected).toMatchObject({ status: 302, location: '/login', cookie: 'set' });
        expect(steps.badLogin).toMatchObject({ status: 302, location: '/login' });
        expect(steps.loginForm).toMatchObject({
          status: 200,
          body: 'login form; error: ; messages: Incorrect username or password.',
        });
        // regenerate(ignoreFields) keeps only passport's fields unless the login keeps the session's info.
        expect(steps.login).toMatchObject({
          status: 302,
          location: keepSessionInfo ? '/account' : '/',
          cookie: 'set',
          hours: 1,
        });
        expect(steps.account).toMatchObject({ status: 200, body: 'account of alice' });
        expect(steps.inspect).toEqual({
          keys: keepSessionInfo ? ['flash', 'messages', 'passport'] : ['passport'],
          passport: '1',
          user: 'alice',
        });
        expect(steps.fixatedInspect).toEqual({ keys: [], passport: null, user: null });
        expect(steps.fixatedAccount).toMatchObject({ status: 302, location: '/login' });
        expect(steps.logout).toMatchObject({ status: 302, location: '/', cookie: 'set' });
        expect(steps.home).toMatchObject({ status: 200, body: 'home: anonymous; info: Logged out.' });
        expect(steps.afterLogout).toMatchObject({ status: 302, location: '/login' });
        expect(steps.stolenInspect).toEqual({ keys: [], passport: null, user: null });
        expect(steps.stolenAccount).toMatchObject({ status: 302, location: '/login' });
      },
    );
  });

  it("the callback forms, isSaved(), regenerate({ keep }) and the refusals (sessionkit's own)", async () => {
    const app = Fastify();
    await app.register(fastifySession, {
      secret: 'accessors-secret-0123456789abcdefghij',
      resave: false,
      saveUninitialized: false,
    });
    app.post('/', async (request) => {
      const first = request.session;
      first.set('x', 1);
      first.set('y', 2);
      const savedBefore = first.isSaved();
      await first.save();
      const afterSave = { saved: first.isSaved(), modified: first.isModified() };
      first.sessionId = 'attacker-chosen';
      const idKept = first.sessionId === first.id;
      await new Promise<void>((resolve, reject) =>
        first.regenerate(['x'], (error) => (error ? reject(error) : resolve())),
      );
      const second = request.session;
      const afterFields = { moved: second.id !== first.id, x: second.get('x'), y: second.get('y') ?? null };
      second.set('z', 3);
      await second.regenerate({ keep: true });
      const third = request.session;
      const afterKeep = { moved: third.id !== second.id, x: third.get('x'), z: third.get('z') };
      const refusals = [() => third.set('cookie', undefined), () => third.set('__proto__', {})].map(
        (attempt) => {
          try {
            attempt();
            return 'accepted';
          } catch (error) {
            return (error as { code?: unknown }).code;
          }
        },
      );
      return { savedBefore, afterSave, idKept, afterFields, afterKeep, refusals, id: third.sessionId };
    });
    try {
      const body = (await app.inject({ method: 'POST', url: '/' })).json();
      expect(body).toEqual({
        savedBefore: false,
        afterSave: { saved: true, modified: false },
        idKept: true,
        afterFields: { moved: true, x: 1, y: null },
        afterKeep: { moved: true, x: 1, z: 3 },
        refusals: ['ERR_INVALID_ARGUMENT', 'ERR_INVALID_ARGUMENT'],
        id: expect.any(String),
      });
    } finally {
      await app.close();
    }
  });

  it.each(stores)(
    "@fastify/session's get, set, regenerate(fields), isModified and sessionId, as on @fastify/session ($name)",
    async (stores) => {
      const results: Record<string, unknown> = {};
      for (const kind of ['sessionkit', '@fastify/session'] as const) {
        const store = kind === 'sessionkit' ? stores.sessionkit() : stores.fastify();
        results[kind] = await withApp(
          startFastifyApp,
          { kind, store, keepSessionInfo: false },
          async (app) => {
            const browser = new Browser(app.url, SESSION_COOKIE[kind], 'json');
            const put = JSON.parse((await browser.post('/api/put')).body);
            const read = JSON.parse((await browser.get('/api/read')).body);
            const old = browser.copy();
            const regenerate = JSON.parse((await browser.post('/api/regenerate')).body);
            const moved = browser.cookie !== old.cookie;
            const kept = JSON.parse((await browser.get('/api/read')).body);
            const oldSession = JSON.parse((await old.get('/api/read')).body);
            const unset = JSON.parse((await browser.post('/api/unset')).body);
            const afterUnset = JSON.parse((await browser.get('/api/read')).body);
            return { put, read, regenerate, moved, kept, oldSession, unset, afterUnset };
          },
        );
      }
      expect(results.sessionkit).toEqual(results['@fastify/session']);
      expect(results.sessionkit).toEqual({
        put: { before: false, after: true },
        read: { a: 1, b: { nested: true }, c: 'text', modified: false },
        regenerate: { moved: true, a: 1, b: null },
        moved: true,
        kept: { a: 1, b: null, c: null, modified: false },
        oldSession: { a: null, b: null, c: null, modified: false },
        unset: { a: null, modified: true },
        afterUnset: { a: null, b: null, c: null, modified: false },
      });
    },
  );
});

describe("@fastify/session's accessors are Fastify's only", () => {
  it('an Express session has no get/set and loads a stored key of that name; a Fastify session skips it (and its writes keep it in the store) and refuses set() of a method', async () => {
    const store = new MemoryStore();
    const options = {
      secret: 'accessors-secret-0123456789abcdefghij',
      store,
      resave: false,
      saveUninitialized: false,
    };
    const expressApp = express();
    expressApp.use(expressSession(options));
    expressApp.post('/write', (req, res) => {
      const data = req.session as unknown as Record<string, unknown>;
      data.get = 'express data';
      data.views = 1;
      res.send('ok');
    });
    expressApp.get('/read', (req, res) => {
      const data = req.session as unknown as Record<string, unknown>;
      res.json({ get: data.get, views: data.views });
    });
    const server = expressApp.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const fastifyApp = Fastify();
    await fastifyApp.register(fastifySession, options);
    fastifyApp.get('/read', async (request) => {
      const { session } = request;
      let refused: unknown = null;
      try {
        session.set('regenerate', 1);
      } catch (error) {
        refused = (error as { code?: unknown }).code;
      }
      return {
        get: typeof session.get,
        views: session.get('views'),
        method: session.get('regenerate') ?? null,
        refused,
      };
    });
    fastifyApp.post('/count', async (request) => {
      request.session.set('views', 2);
      return 'ok';
    });
    try {
      const browser = new Browser(
        `http://127.0.0.1:${(server.address() as { port: number }).port}`,
        'connect.sid',
      );
      await browser.post('/write');
      expect(JSON.parse((await browser.get('/read')).body)).toEqual({ get: 'express data', views: 1 });
      const cookie = `connect.sid=${browser.cookie}`;
      const read = await fastifyApp.inject({ url: '/read', headers: { cookie } });
      expect(read.json()).toEqual({
        get: 'function',
        views: 1,
        method: null,
        refused: 'ERR_INVALID_ARGUMENT',
      });
      // No Fastify session can show that key, and a write from Fastify leaves it in the store: the
      // Express routes of an app sharing its sessions still read it.
      await fastifyApp.inject({ method: 'POST', url: '/count', headers: { cookie } });
      expect(JSON.parse((await browser.get('/read')).body)).toEqual({ get: 'express data', views: 2 });
    } finally {
      server.closeAllConnections();
      server.close();
      await fastifyApp.close();
    }
  });
});

describe('koa-passport on sessionkit/koa and on koa-session', () => {
  const run = (kind: KoaKind, store: unknown, keepSessionInfo: boolean) =>
    withApp(startKoaApp, { kind, store, keepSessionInfo }, (app) => journey(app.url, SESSION_COOKIE[kind]));

  it.each(stores)(
    'ctx.login(user) moves the session to a new ID, as on koa-session ($name)',
    async (stores) => {
      const results: Record<string, unknown> = {};
      for (const kind of ['sessionkit', 'koa-session'] as const) {
        const store = kind === 'sessionkit' ? stores.sessionkit() : stores.koa();
        results[kind] = await withApp(startKoaApp, { kind, store, keepSessionInfo: false }, async (app) => {
          const browser = new Browser(app.url, SESSION_COOKIE[kind], 'json');
          const protectedPage = await browser.get('/account');
          const fixated = browser.copy();
          const login = await browser.post('/login-as-bob');
          return {
            protectedPage,
            login,
            moved: browser.cookie !== null && browser.cookie !== fixated.cookie,
            account: await browser.get('/account'),
            fixated: JSON.parse((await fixated.get('/inspect')).body),
          };
        });
      }
      expect(results.sessionkit).toEqual(results['koa-session']);
      expect(results.sessionkit).toMatchObject({
        login: { status: 302, location: '/account', cookie: 'set' },
        moved: true,
        account: { status: 200, body: 'account of bob' },
        fixated: { passport: null, user: null },
      });
    },
  );

  describe.each(stores)('on $name', (stores) => {
    it('keepSessionInfo: true — the same statuses, redirects, bodies and cookies, a new ID at login and logout', async () => {
      const sessionkit = await run('sessionkit', stores.sessionkit(), true);
      const other = await run('koa-session', stores.koa(), true);
      expect(sessionkit).toEqual(other);
      const { steps, ids } = sessionkit;
      expect(ids).toEqual({ stableUntilLogin: true, newAtLogin: true, goneAtLogout: true });
      expect(steps.protected).toMatchObject({ status: 302, location: '/login', cookie: 'set' });
      expect(steps.loginForm).toMatchObject({
        status: 200,
        body: 'login form; messages: Incorrect username or password.',
      });
      expect(steps.login).toMatchObject({ status: 302, location: '/account', cookie: 'set', hours: 1 });
      expect(steps.account).toMatchObject({ status: 200, body: 'account of alice' });
      expect(steps.inspect).toEqual({
        keys: ['messages', 'passport'],
        passport: { user: '1' },
        user: 'alice',
      });
      expect(steps.fixatedInspect).toEqual({ keys: [], passport: null, user: null });
      expect(steps.fixatedAccount).toMatchObject({ status: 302, location: '/login' });
      expect(steps.logout).toMatchObject({ status: 302, location: '/', cookie: 'set' });
      expect(steps.home).toMatchObject({ status: 200, body: 'home: anonymous' });
      expect(steps.afterLogout).toMatchObject({ status: 302, location: '/login' });
      expect(steps.stolenInspect).toEqual({ keys: [], passport: null, user: null });
      expect(steps.stolenAccount).toMatchObject({ status: 302, location: '/login' });
    });

    it('keepSessionInfo: false — sessionkit starts the logged-in session empty, as express-session; koa-session keeps its data', async () => {
      const sessionkit = await run('sessionkit', stores.sessionkit(), false);
      const other = await run('koa-session', stores.koa(), false);
      const { steps, ids } = sessionkit;
      expect(ids).toEqual({ stableUntilLogin: true, newAtLogin: true, goneAtLogout: true });
      // koa-session's regenerate() keeps the data under the new ID: `returnTo` survives the login there.
      expect(steps.login).toMatchObject({ status: 302, location: '/', cookie: 'set', hours: 1 });
      expect(other.steps.login).toMatchObject({ status: 302, location: '/account', cookie: 'set', hours: 1 });
      expect(steps.inspect).toEqual({ keys: ['passport'], passport: { user: '1' }, user: 'alice' });
      expect(steps.fixatedInspect).toEqual({ keys: [], passport: null, user: null });
      // The anonymous session after logout holds nothing: not stored, its cookie cleared.
      expect(steps.logout).toMatchObject({ status: 302, location: '/', cookie: 'cleared' });
      expect(steps.afterLogout).toMatchObject({ status: 302, location: '/login' });
      expect(steps.stolenInspect).toEqual({ keys: [], passport: null, user: null });
      expect(steps.stolenAccount).toMatchObject({ status: 302, location: '/login' });
      for (const step of [
        'protected',
        'badLogin',
        'loginForm',
        'account',
        'fixatedAccount',
        'home',
        'afterLogout',
      ])
        expect(steps[step]).toEqual(other.steps[step]);
    });
  });
});
