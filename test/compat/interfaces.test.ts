/**
 * The pieces of express-session's public interface that applications and test suites use directly:
 * MemoryStore's callback API, Cookie, what a store record may hold, and the built package's names. Each
 * test cites the express-session behaviour it pins (file in express-session's package).
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, {
  authAge,
  Cookie,
  currentUserId,
  login,
  MemoryStore,
  type SessionRecord,
} from '../../src/index.js';
import { cookieOf, expressVersions, setCookies } from '../support/apps.js';

const secret = 'interfaces-secret-0123456789abcdefghij';
const require = createRequire(import.meta.url);
type AnyCookie = { expires: Date | null; maxAge: number | null; data: Record<string, unknown> };
const ExpressCookie = require('express-session/session/cookie.js') as new (options?: unknown) => AnyCookie;
type Callback = (err?: unknown, value?: unknown) => void;

function record(data: Record<string, unknown> = {}, maxAge = 60_000): SessionRecord {
  const now = Date.now();
  return {
    data,
    cookie: {
      originalMaxAge: maxAge,
      expires: new Date(now + maxAge).toISOString(),
      path: '/',
      httpOnly: true,
    },
    expiresAt: now + maxAge,
    createdAt: now,
    lastSeenAt: now,
    userId: null,
  };
}

/** Calls a callback-style store method and resolves with its value. */
function viaCallback<T>(method: (...args: unknown[]) => unknown, ...args: unknown[]): Promise<T> {
  return new Promise((resolvePromise, reject) =>
    method(...args, ((err, value) => (err ? reject(err) : resolvePromise(value as T))) as Callback),
  );
}

describe("MemoryStore has express-session's interface, callbacks and promises (point 6)", () => {
  it('get/set/destroy/touch/all/length/clear take callbacks, as session/memory.js', async () => {
    const store = new MemoryStore();
    const cb = store as unknown as Record<string, (...args: unknown[]) => unknown>;
    const bind = (name: string) => (cb[name] as (...args: unknown[]) => unknown).bind(store);
    const expires = new Date(Date.now() + 60_000);
    const sess = { cookie: { originalMaxAge: 60_000, expires: expires.toISOString() }, views: 2 };
    await viaCallback(bind('set'), 'sid-1', sess);
    await viaCallback(bind('set'), 'sid-2', { ...sess, views: 5 });
    expect(await viaCallback(bind('length'))).toBe(2);
    const got = await viaCallback<Record<string, unknown>>(bind('get'), 'sid-1');
    expect(got).toMatchObject({ views: 2, cookie: { originalMaxAge: 60_000 } });
    const all = await viaCallback<Record<string, { views: number }>>(bind('all'));
    expect(
      Object.values(all)
        .map((s) => s.views)
        .sort(),
    ).toEqual([2, 5]);
    // Keyed by handle: the store never holds a session ID (a documented difference).
    expect(Object.keys(all)).not.toContain('sid-1');
    await viaCallback(bind('touch'), 'sid-1', sess);
    await viaCallback(bind('destroy'), 'sid-2');
    expect(await viaCallback(bind('length'))).toBe(1);
    await viaCallback(bind('clear'));
    expect(await viaCallback(bind('length'))).toBe(0);
    expect(await viaCallback(bind('get'), 'sid-1')).toBeUndefined();
  });

  it('all() drops expired sessions, as express-session counts them in its tests', async () => {
    const store = new MemoryStore();
    await store.set('live', record({ a: 1 }));
    await store.set('dead', { ...record({ a: 2 }), expiresAt: Date.now() - 1 });
    expect(Object.keys(await store.all())).toHaveLength(1);
    expect(await store.length()).toBe(1);
  });

  it('create()/set() with a record lacking its cookie is a typed error, not a TypeError (point 12)', async () => {
    const store = new MemoryStore();
    const broken = { ...record(), cookie: undefined } as unknown as SessionRecord;
    await expect(store.create('x', broken)).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' });
    await expect(store.set('x', broken)).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' });
  });
});

describe("Cookie behaves as express-session's (point 7)", () => {
  for (const [name, Make] of [
    ['express-session', ExpressCookie],
    ['sessionkit', Cookie as unknown as typeof ExpressCookie],
  ] as const) {
    it(`${name}: ignores a "data" option, returns the Date it was given, takes a Date maxAge`, () => {
      // session/cookie.js: `if (key !== 'data') this[key] = options[key]`; `expires` is stored as given.
      const ignored = new Make({ data: { foo: 'bar' }, path: '/foo' });
      expect(ignored.data.path).toBe('/foo');
      expect(ignored.data.foo).toBeUndefined();
      const at = new Date(Date.now() + 60_000);
      expect(new Make({ expires: at }).expires).toBe(at);
      // `set maxAge(ms)`: a Date is taken as the expiry (deprecated there, accepted).
      const until = new Date(Date.now() + 30_000);
      const byDate = new Make({ maxAge: until });
      expect(byDate.expires?.getTime()).toBe(until.getTime());
      expect(Math.abs((byDate.maxAge ?? 0) - 30_000)).toBeLessThan(1000);
      expect(() => new Make({ maxAge: '42' })).toThrow(/maxAge/);
    });
  }
});

describe.each(expressVersions)(
  'what sessionkit keeps in an express-session record is never data, on $name (point 10)',
  ({ create }) => {
    function sessionkitApp(store: unknown) {
      const app = create();
      app.use(session({ secret, resave: false, saveUninitialized: false, store: store as never }) as never);
      app.get('/login', async (req, res) => {
        await login(req.session, 'u1');
        (req.session as unknown as Record<string, number>).n = 1;
        res.send('in');
      });
      app.get('/who', (req, res) => {
        res.json({ user: currentUserId(req.session), keys: Object.keys(req.session).sort() });
      });
      return app;
    }
    function expressSessionApp(store: unknown) {
      const app = create();
      app.use(
        expressSession({
          secret,
          resave: false,
          saveUninitialized: false,
          store: store as never,
        }) as RequestHandler,
      );
      app.get('/keys', (req, res) => {
        res.json(Object.keys(req.session as object).sort());
      });
      app.get('/bump', (req, res) => {
        const s = req.session as unknown as Record<string, number>;
        s.n = (s.n ?? 0) + 1;
        res.json(Object.keys(req.session as object).sort());
      });
      return app;
    }

    it('sessionkit on an express-session store: express-session then shows no meta key as data', async () => {
      // express-session's Store#createSession copies the stored cookie's fields onto its Cookie, whose JSON
      // names its own fields only: sessionkit's creation time and user ride there, out of the data. (Its
      // own writes, and its MemoryStore's touch, rewrite the cookie and so drop them: a documented limit.)
      const store = new expressSession.MemoryStore();
      const ours = sessionkitApp(store);
      const theirs = expressSessionApp(store);
      const cookie = cookieOf(await request(ours).get('/login').expect(200, 'in'));
      const before = await request(ours).get('/who').set('Cookie', cookie).expect(200);
      expect(before.body).toEqual({ user: 'u1', keys: ['cookie', 'n'] });
      const sid = decodeURIComponent(cookie.split('=')[1] as string)
        .slice(2)
        .split('.')[0] as string;
      const stored = await new Promise<Record<string, unknown>>((done) =>
        store.get(sid, (_e, s) => done(s as Record<string, unknown>)),
      );
      expect(Object.keys(stored).sort()).toEqual(['cookie', 'n']);
      await request(theirs).get('/keys').set('Cookie', cookie).expect(200, ['cookie', 'n']);
    });

    it('meta and reserved keys beside the data, as an express-session app would save them, bind nothing', async () => {
      const store = new expressSession.MemoryStore();
      const ours = sessionkitApp(store);
      ours.get('/auth-age', (req, res) => {
        res.json({ authAge: authAge(req.session) });
      });
      const cookie = cookieOf(await request(ours).get('/login'));
      const sid = decodeURIComponent(cookie.split('=')[1] as string)
        .slice(2)
        .split('.')[0] as string;
      const expires = new Date(Date.now() + 86_400_000).toISOString();
      // What `Object.assign(req.session, body)` in an express-session app on the same store saves.
      store.set(
        sid,
        {
          cookie: { originalMaxAge: null, expires },
          n: 1,
          __sessionkit: { userId: 'admin', createdAt: 1 },
          'sessionkit:authTime': Date.now(),
        } as never,
        () => undefined,
      );
      const back = await request(ours).get('/who').set('Cookie', cookie).expect(200);
      expect(back.body).toEqual({ user: null, keys: ['cookie', 'n'] });
      expect((await request(ours).get('/auth-age').set('Cookie', cookie)).body).toEqual({ authAge: null });
    });

    it("express-session on sessionkit's MemoryStore: no meta key, and its saves keep sessionkit's user", async () => {
      const store = new MemoryStore();
      const ours = sessionkitApp(store);
      const theirs = expressSessionApp(store);
      const cookie = cookieOf(await request(ours).get('/login'));
      await request(theirs).get('/bump').set('Cookie', cookie).expect(200, ['cookie', 'n']);
      const back = await request(ours).get('/who').set('Cookie', cookie).expect(200);
      expect(back.body).toEqual({ user: 'u1', keys: ['cookie', 'n'] });
      expect(await store.listByUser('u1')).toHaveLength(1);
    });
  },
);

describe("preset 'owasp' with a cookie function (issue 23, item 11)", () => {
  it("keeps the preset's attributes beneath what the function returns", async () => {
    const app = expressVersions[1].create();
    app.set('trust proxy', true);
    app.use(
      session({
        preset: 'owasp',
        secret,
        cookie: () => ({ sameSite: 'strict' }),
      }) as never,
    );
    app.get('/', (req, res) => {
      (req.session as unknown as Record<string, number>).n = 1;
      res.send('ok');
    });
    const res = await request(app).get('/').set('X-Forwarded-Proto', 'https').expect(200);
    const [header] = setCookies(res);
    expect(header).toMatch(/^__Host-sid=/);
    expect(header).toMatch(/; Secure/);
    expect(header).toMatch(/; HttpOnly/);
    expect(header).toMatch(/; SameSite=Strict/);
  });
});

describe('the CommonJS build (point 12)', () => {
  it('keeps class names: warnings and stack traces say MemoryStore, not _class', () => {
    const root = resolve(import.meta.dirname, '../..');
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        "const s = require('sessionkit'); console.log([s.MemoryStore.name, s.Cookie.name, s.SessionError.name].join())",
      ],
      { cwd: root, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('MemoryStore,Cookie,SessionError');
  });
});
