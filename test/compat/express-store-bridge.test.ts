/**
 * An application that swaps express-session for sessionkit and keeps its express-session store
 * (connect-redis, connect-pg-simple, express-mysql-session, connect-mongo, express-session's MemoryStore,
 * a connect-redis 3.x of the `require('connect-redis')(session)` era) must see the same store-side
 * behaviour: the store is handed what express-session hands it (`set(sid, sess)` and `touch(sid, sess)`
 * with the session's data and a Cookie with `expires`, `maxAge` and `originalMaxAge`), derives the same
 * TTL from it, and keeps a session alive as long as under express-session. The tests over connect-redis
 * run the same application on express-session and on sessionkit, each over its own store, and compare
 * what the store saw or kept; the last ones call the bridge itself.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { META_KEY } from '../../src/core/auth-time.js';
import session, { currentUserId, login } from '../../src/index.js';
import { ExpressStoreBridge } from '../../src/stores/express-compat/bridge.js';
import type { ExpressStoreLike } from '../../src/stores/express-compat/store.js';
import { cookieOf, idOf, setCookies } from '../support/apps.js';
import { deletePrefixed, redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const skip = await redisSkipReason(REDIS_URL);

type Kind = 'express-session' | 'sessionkit';
const kinds: Kind[] = ['express-session', 'sessionkit'];
const secret = 'bridge-compat-secret-0123456789abcdef';
const DAY = 86_400;

/** What a store sees of `sess.cookie`. */
interface SeenCookie {
  originalMaxAge?: unknown;
  expires?: unknown;
  maxAge?: unknown;
  toJSON?: () => Record<string, unknown>;
}
type Sess = Record<string, unknown> & { cookie: SeenCookie };
type Callback = (err?: unknown, value?: unknown) => void;

/**
 * The same options on either implementation. sessionkit skips a touch within `touchAfter` of the last
 * write, where express-session touches on every unchanged request: 0 makes it touch as often.
 */
function middleware(kind: Kind, options: Record<string, unknown>): RequestHandler {
  return kind === 'express-session'
    ? expressSession({ secret, ...options } as expressSession.SessionOptions)
    : (session({ secret, touchAfter: 0, ...options } as never) as unknown as RequestHandler);
}

/** express-session's own Cookie (session/cookie.js), which every store written for it was given. */
const ExpressCookie = createRequire(import.meta.url)('express-session/session/cookie') as new (options: {
  maxAge?: number;
}) => SeenCookie;

/** A cookie's JSON fields as a store serializes them, sessionkit's embedded field left out. */
function jsonKeys(cookie: SeenCookie): string[] {
  const json = JSON.parse(JSON.stringify(cookie)) as Record<string, unknown>;
  return Object.keys(json)
    .filter((key) => key !== META_KEY)
    .sort();
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)("an express-session store behind sessionkit's bridge, beside express-session", () => {
  const client = createClient({ url: REDIS_URL });
  const prefix = `${runNamespace('es-bridge')}:`;
  beforeAll(async () => {
    await client.connect();
  });
  afterAll(async () => {
    await deletePrefixed(client, prefix);
    await client.quit();
  });

  /** A connect-redis 9 store with its own key space per test and implementation. */
  function connectRedis(name: string, kind: Kind, options: Record<string, unknown> = {}) {
    return new ConnectRedisStore({ client, prefix: `${prefix}${name}:${kind}:`, ...options });
  }

  const keyOf = (store: ConnectRedisStore, cookie: string) => `${store.prefix}${idOf(cookie)}`;

  /*
   * A "remember me" app writes connect-redis's `ttl` as a function of the session (documented: "a number
   * or a function of the session"). express-session calls `store.touch(sid, req.session)` with the whole
   * session, so a read-only request keeps the remembered user's 30 days; a touch handed anything less
   * (no data, or `originalMaxAge: null`, which makes connect-redis EXPIRE 0 and delete the key) cuts the
   * session short or ends it on the spot.
   */
  it('touch(sid, sess) gets the whole session: data and cookie, as express-session gives them', async () => {
    const seen: Record<string, { user: unknown; originalMaxAge: unknown; ttl: number }[]> = {};
    for (const kind of kinds) {
      for (const [name, ttl] of [
        [
          'remember',
          (sess: Sess) => ((sess.user as { remember?: boolean } | undefined)?.remember ? 30 * DAY : 3600),
        ],
        ['max-age', (sess: Sess) => Math.round(Number(sess.cookie.originalMaxAge) / 1000)],
      ] as const) {
        const store = connectRedis(`touch-${name}`, kind, { ttl });
        const touches: { user: unknown; originalMaxAge: unknown; ttl: number }[] = [];
        const touch = store.touch.bind(store);
        store.touch = (sid: string, sess: Sess, cb?: Callback) => {
          touches.push({ user: sess.user, originalMaxAge: sess.cookie.originalMaxAge, ttl: ttl(sess) });
          return touch(sid, sess as never, cb as never);
        };
        const app = express();
        app.use(
          middleware(kind, {
            store,
            resave: false,
            saveUninitialized: false,
            cookie: { maxAge: 30 * DAY * 1000 },
          }),
        );
        app.get('/login', (req, res) => {
          req.session.user = { id: 'u1', remember: true };
          res.send('in');
        });
        app.get('/me', (req, res) => res.send(String(req.session.user?.id)));
        const cookie = cookieOf(await request(app).get('/login').expect(200, 'in'));
        await request(app).get('/me').set('Cookie', cookie).expect(200, 'u1');
        await request(app).get('/me').set('Cookie', cookie).expect(200, 'u1');
        expect(await client.ttl(keyOf(store, cookie)), `${kind}, ${name}`).toBeGreaterThan(29 * DAY);
        seen[`${kind} ${name}`] = touches;
      }
    }
    const touch = { user: { id: 'u1', remember: true }, originalMaxAge: 30 * DAY * 1000, ttl: 30 * DAY };
    // express-session derives originalMaxAge from a second clock read (its `expires` setter): whatever
    // time passes in between (a millisecond, more under a collection) makes it that much short.
    // sessionkit keeps the value given.
    const nearly = {
      ...touch,
      originalMaxAge: expect.toSatisfy(
        (ms: number) => ms <= touch.originalMaxAge && ms > touch.originalMaxAge - 1000,
      ),
    };
    for (const name of ['remember', 'max-age']) {
      expect(seen[`express-session ${name}`]).toEqual([nearly, nearly]);
      expect(seen[`sessionkit ${name}`], name).toEqual([touch, touch]);
    }
  });

  /*
   * Applications leave out `maxAge` so that closing the browser ends the session (shared and kiosk
   * computers). express-session keeps such a cookie a browser-session cookie for good: the store holds
   * `cookie.expires: null`, and a changed session sends no cookie again. A record read back with an
   * expiry would make the next change send `Expires=`, and the login would outlive the browser.
   */
  it('a browser-session cookie stays one: no Expires once stored, on connect-redis and the MemoryStore', async () => {
    const persistent = (header: string) => /;\s*(expires|max-age)=/i.test(header);
    for (const storeName of ['connect-redis', "express-session's MemoryStore"]) {
      const outcome: Record<string, unknown> = {};
      for (const kind of kinds) {
        const store =
          storeName === 'connect-redis' ? connectRedis('browser', kind) : new expressSession.MemoryStore();
        const app = express();
        app.use(middleware(kind, { store, resave: false, saveUninitialized: true }));
        app.get('/', (_req, res) => res.send('home'));
        app.get('/login', (req, res) => {
          req.session.user = { n: (req.session.user?.n ?? 0) + 1 };
          res.send(String(req.session.user.n));
        });
        const first = await request(app).get('/').expect(200, 'home');
        const cookie = cookieOf(first);
        const sent = [...setCookies(first)];
        for (const n of [1, 2, 3])
          sent.push(
            ...setCookies(await request(app).get('/login').set('Cookie', cookie).expect(200, String(n))),
          );
        const stored =
          store instanceof ConnectRedisStore
            ? (JSON.parse((await client.get(keyOf(store, cookie))) as string) as Sess)
            : null;
        outcome[kind] = { persistent: sent.filter(persistent), expires: stored?.cookie.expires ?? null };
      }
      expect(outcome['express-session'], storeName).toEqual({ persistent: [], expires: null });
      expect(outcome.sessionkit, storeName).toEqual(outcome['express-session']);
    }
  });

  /*
   * `new RedisStore({ client, ttl: 3600 })` with no cookie `maxAge`: under express-session an idle session
   * dies after an hour, since connect-redis (as connect-pg-simple's `ttl`, express-mysql-session's
   * `expiration`, connect-mongo's `ttl`) uses its own lifetime when `cookie.expires` is not set. The
   * bridge must not set it from sessionkit's `ttl` (a day): idle sessions would live 24 times longer
   * than the application configured.
   */
  it("a browser-session record lives as long as the store's own ttl, not sessionkit's", async () => {
    const ttls: Record<string, number[]> = {};
    for (const kind of kinds) {
      const store = connectRedis('ttl-option', kind, { ttl: 3600 });
      const app = express();
      app.use(middleware(kind, { store, resave: false, saveUninitialized: false }));
      app.get('/visit', (req, res) => {
        req.session.visits = (req.session.visits ?? 0) + 1;
        res.send(String(req.session.visits));
      });
      app.get('/read', (req, res) => res.send(String(req.session.visits)));
      const cookie = cookieOf(await request(app).get('/visit').expect(200, '1'));
      const key = keyOf(store, cookie);
      ttls[kind] = [await client.ttl(key)];
      await request(app).get('/visit').set('Cookie', cookie).expect(200, '2');
      ttls[kind].push(await client.ttl(key));
      await request(app).get('/read').set('Cookie', cookie).expect(200, '2');
      ttls[kind].push(await client.ttl(key));
    }
    for (const kind of kinds)
      for (const ttl of ttls[kind] ?? []) {
        expect(ttl, kind).toBeGreaterThan(3590);
        expect(ttl, kind).toBeLessThanOrEqual(3600);
      }
  });

  /*
   * Stores of connect-redis 3.x's era (`require('connect-redis')(session)`, as tutorials still show it)
   * derive the TTL from `sess.cookie.maxAge`: the getter express-session's Cookie has (session/cookie.js),
   * milliseconds left. Handed a plain JSON cookie without it, such a store falls back to its one-day
   * default: a 30-day "remember me" user is logged out after a day away, an 8-hour cookie's record
   * outlives it by 16 hours. The store below is a small re-creation of connect-redis 3.x (not its code):
   * only its TTL rule, `store.ttl || (typeof sess.cookie.maxAge === 'number' ? floor(maxAge / 1000) :
   * one day)`, on `set` (SET EX) and `touch` (EXPIRE), built on the `Store` of the session module given.
   */
  it('a store that reads sess.cookie.maxAge (connect-redis 3.x) gets the TTL it gets from express-session', async () => {
    interface Era3Store {
      prefix: string;
      seen: SeenCookie[];
    }
    function connectRedis3(sessionModule: { Store: new () => object }, storePrefix: string) {
      const getTTL = (sess: Sess) => {
        const { maxAge } = sess.cookie;
        return typeof maxAge === 'number' ? Math.floor(maxAge / 1000) : DAY;
      };
      class RedisStore3 extends sessionModule.Store implements Era3Store {
        prefix = storePrefix;
        seen: SeenCookie[] = [];
        get(sid: string, fn: Callback) {
          client.get(this.prefix + sid).then((data) => fn(null, data ? JSON.parse(data) : undefined), fn);
        }
        set(sid: string, sess: Sess, fn: Callback = () => {}) {
          this.seen.push(sess.cookie);
          client.set(this.prefix + sid, JSON.stringify(sess), { EX: getTTL(sess) }).then(() => fn(), fn);
        }
        touch(sid: string, sess: Sess, fn: Callback = () => {}) {
          this.seen.push(sess.cookie);
          client.expire(this.prefix + sid, getTTL(sess)).then(() => fn(), fn);
        }
        destroy(sid: string, fn: Callback = () => {}) {
          client.del(this.prefix + sid).then(() => fn(), fn);
        }
      }
      return new RedisStore3();
    }

    // The rule is express-session's own object's: its Cookie has a `maxAge` getter and a Date `expires`.
    const reference = new ExpressCookie({ maxAge: 60_000 });
    expect(typeof reference.maxAge).toBe('number');
    expect(reference.expires).toBeInstanceOf(Date);

    for (const maxAge of [8 * 3600_000, 30 * DAY * 1000]) {
      const seen: Record<string, { ttl: number; cookies: SeenCookie[] }> = {};
      for (const kind of kinds) {
        const store = connectRedis3(
          (kind === 'express-session' ? expressSession : session) as never,
          `${prefix}era3:${maxAge}:${kind}:`,
        );
        const app = express();
        app.use(middleware(kind, { store, resave: true, saveUninitialized: true, cookie: { maxAge } }));
        app.use((req, res) => {
          req.session.views = (req.session.views ?? 0) + 1;
          res.send(`views: ${req.session.views}`);
        });
        const cookie = cookieOf(await request(app).get('/').expect(200, 'views: 1'));
        await request(app).get('/').set('Cookie', cookie).expect(200, 'views: 2');
        seen[kind] = { ttl: await client.ttl(`${store.prefix}${idOf(cookie)}`), cookies: store.seen };
      }
      for (const kind of kinds) {
        const { ttl, cookies } = seen[kind] as { ttl: number; cookies: SeenCookie[] };
        expect(ttl, `${kind}, maxAge ${maxAge}`).toBeGreaterThan(maxAge / 1000 - 60);
        expect(ttl, `${kind}, maxAge ${maxAge}`).toBeLessThanOrEqual(maxAge / 1000);
        expect(cookies.length, kind).toBeGreaterThan(0);
        for (const cookie of cookies) {
          expect(typeof cookie.maxAge, kind).toBe('number');
          expect(cookie.expires, kind).toBeInstanceOf(Date);
          // express-session derives originalMaxAge from a second clock read (its `expires` setter), so
          // a millisecond that ticks in between makes it one short; sessionkit keeps the value given.
          if (kind === 'sessionkit') expect(cookie.originalMaxAge, kind).toBe(maxAge);
          else expect(Math.abs((cookie.originalMaxAge as number) - maxAge), kind).toBeLessThanOrEqual(1);
          // express-session's JSON fields (sessionkit's cookie also says SameSite=Lax by default).
          expect(Object.keys(reference.toJSON?.() ?? {}), kind).toEqual(
            expect.arrayContaining(jsonKeys(cookie)),
          );
        }
      }
    }
  });

  /*
   * sessionkit keeps what express-session's layout has no field for (the bound user, the creation time
   * that `absoluteTimeout` counts from, reserved keys) inside the cookie object, where no application looks
   * for data. The cookie handed to the store now serializes itself: its JSON must still carry them, or a
   * login would be forgotten by the next request.
   */
  it("sessionkit's own fields ride in the cookie's JSON and survive the store", async () => {
    const store = connectRedis('meta', 'sessionkit');
    const app = express();
    app.use(
      middleware('sessionkit', { store, resave: false, saveUninitialized: false, absoluteTimeout: 60_000 }),
    );
    app.get('/login', async (req, res) => {
      await login(req.session, 'u1');
      res.send('in');
    });
    app.get('/me', (req, res) => res.send(String(currentUserId(req.session))));
    const cookie = cookieOf(await request(app).get('/login').expect(200, 'in'));
    await request(app).get('/me').set('Cookie', cookie).expect(200, 'u1');
    const stored = JSON.parse((await client.get(keyOf(store, cookie))) as string) as Sess;
    expect(stored.cookie).toMatchObject({
      expires: null,
      [META_KEY]: { userId: 'u1', createdAt: expect.any(Number) },
    });
  });

  /*
   * `rolling: true` with a short `maxAge`: every request re-sends the cookie and touches the store, which
   * (connect-redis's EXPIRE, as the SQL stores' and connect-mongo's expiry updates) moves the store's own
   * deadline but leaves the stored session, `cookie.expires` included, as first written. express-session
   * loads whatever the store returns, so an active user stays signed in past that first expiry; a bridge
   * that judged the session by the stored `expires` would log them out once it passed. sessionkit's
   * default `touchAfter` (here a tenth of the lifetime) must not keep the touches from happening either:
   * express-session's layout holds no last-seen time, and a bridge that took every read as "seen just now"
   * never touched an unchanged session.
   */
  it('rolling: a session kept alive by touches outlives its first stored expiry, as under express-session', async () => {
    const maxAge = 1500;
    const run = async (kind: Kind, name: string, options: Record<string, unknown> = {}) => {
      const store = connectRedis(`rolling-${name}`, kind);
      let touches = 0;
      const touch = store.touch.bind(store);
      store.touch = (sid: string, sess: Sess, cb?: Callback) => {
        touches++;
        return touch(sid, sess as never, cb as never);
      };
      const app = express();
      app.use(
        middleware(kind, {
          store,
          rolling: true,
          resave: false,
          saveUninitialized: false,
          cookie: { maxAge },
          ...options,
        }),
      );
      app.get('/login', (req, res) => {
        req.session.user = 'u1';
        res.send('in');
      });
      app.get('/me', (req, res) => res.send(String(req.session.user)));
      let cookie = cookieOf(await request(app).get('/login').expect(200, 'in'));
      const firstExpiry = Date.now() + maxAge;
      const answers: string[] = [];
      while (Date.now() < firstExpiry + 1500) {
        await pause(300);
        const res = await request(app).get('/me').set('Cookie', cookie);
        answers.push(res.text);
        if (setCookies(res).length > 0) cookie = cookieOf(res);
      }
      const stored = await client.get(keyOf(store, cookie));
      const storedExpires = stored === null ? null : (JSON.parse(stored) as Sess).cookie.expires;
      return {
        answers: [...new Set(answers)],
        touched: touches === answers.length,
        // The case at hand: the store still holds the first expiry, long passed.
        storedExpiryPassed: Date.parse(String(storedExpires)) < Date.now(),
      };
    };
    const [theirs, ours, oursByDefault] = await Promise.all([
      run('express-session', 'es'),
      run('sessionkit', 'sk'),
      run('sessionkit', 'sk-default', { touchAfter: undefined }),
    ]);
    expect(theirs).toEqual({ answers: ['u1'], touched: true, storedExpiryPassed: true });
    expect(ours).toEqual(theirs);
    expect(oursByDefault).toEqual(theirs);
  });
});

/*
 * Which stored sessions the bridge serves once their stored `cookie.expires` has passed. A store that has
 * `touch` moves its own deadline on each touch and leaves the stored session as it was, so it keeps
 * sessions alive past that expiry: what it returns is served, as express-session serves it (see the
 * rolling test above). A store without `touch` is extended by the bridge rewriting the session, so its
 * stored expiry is the real one: past it, the session is over (express-session would still serve it if
 * the store itself kept it; sessionkit does not serve what it knows has expired). And a touch of a session
 * the store no longer holds says so (`false`, the session is gone), rather than touching nothing.
 */
describe('the express-session bridge and a stored expiry that has passed', () => {
  function storeWith(sessions: Map<string, unknown>, touches: string[] | null): ExpressStoreLike {
    const methods = {
      get: (sid: string, cb: Callback) => cb(null, sessions.get(sid)),
      set: (sid: string, sess: unknown, cb: Callback = () => {}) => {
        sessions.set(sid, JSON.parse(JSON.stringify(sess)));
        cb();
      },
      destroy: (sid: string, cb: Callback = () => {}) => {
        sessions.delete(sid);
        cb();
      },
    };
    const touch = (sid: string, _sess: unknown, cb: Callback = () => {}) => {
      touches?.push(sid);
      cb();
    };
    return Object.assign(new EventEmitter(), methods, touches ? { touch } : {}) as ExpressStoreLike;
  }
  const passed = () => ({
    cookie: { originalMaxAge: 60_000, expires: new Date(Date.now() - 5_000).toISOString(), path: '/' },
    user: 'u1',
  });

  it('is served by a store with touch, and not by one without', async () => {
    const touches: string[] = [];
    const touched = new ExpressStoreBridge(storeWith(new Map([['sid', passed()]]), touches));
    const record = await touched.get('sid');
    expect(record).toMatchObject({ data: { user: 'u1' } });
    expect(record?.expiresAt).toBeGreaterThan(Date.now());
    expect(await touched.touch('sid', Date.now() + 60_000, Date.now())).toBe(true);
    expect(touches).toEqual(['sid']);
    const untouched = new ExpressStoreBridge(storeWith(new Map([['sid', passed()]]), null));
    expect(await untouched.get('sid')).toBeNull();
    expect(await untouched.touch('sid', Date.now() + 60_000, Date.now())).toBe(false);
  });

  it('a touch of a session the store no longer holds resolves false and calls no touch', async () => {
    const touches: string[] = [];
    const bridge = new ExpressStoreBridge(storeWith(new Map(), touches));
    expect(await bridge.touch('gone', Date.now() + 60_000, Date.now())).toBe(false);
    expect(touches).toEqual([]);
  });
});
